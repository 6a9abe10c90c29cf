//! The upstream: an in-process hyper 1 HTTP/1.1 server on its own thread and single-threaded
//! runtime, answering every request with the same fixed body.
//!
//! In-process rather than a separate process: it costs the same in every scenario, needs no
//! second binary or startup handshake, and its dedicated OS thread is scheduled by the kernel
//! exactly as a one-thread process would be. Its CPU use is measured per thread (/proc), which is
//! why it records its thread id.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running upstream. The server thread lives as long as the process: it is started once and
/// shared by every target and round.
pub struct Upstream {
    pub addr: SocketAddr,
    /// Requests answered so far, so a run can check what actually reached the upstream.
    requests: Arc<AtomicU64>,
    /// Linux thread id of the server thread, for `/proc/self/task/<tid>/stat`; 0 until the
    /// thread has started.
    tid: Arc<AtomicI64>,
}

impl Upstream {
    /// Binds a free loopback port and starts serving `body_size`-byte responses on it.
    pub fn start(body_size: usize) -> Result<Self> {
        let std_listener = StdTcpListener::bind("127.0.0.1:0").context("binding the upstream")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let tid = Arc::new(AtomicI64::new(0));
        let body = Bytes::from(make_body(body_size));
        let (req_c, tid_c) = (requests.clone(), tid.clone());
        std::thread::Builder::new()
            .name("upstream".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_c.store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("upstream runtime");
                rt.block_on(serve_upstream(std_listener, body, req_c));
            })?;
        Ok(Self {
            addr,
            requests,
            tid,
        })
    }

    pub fn tid(&self) -> i64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Requests answered since start.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Exactly `n` bytes of printable text ending in a newline (the load generator checks the
/// length of every response against `n`).
fn make_body(n: usize) -> Vec<u8> {
    let pattern = b"switchboard-bench ";
    let mut v: Vec<u8> = pattern.iter().copied().cycle().take(n).collect();
    if let Some(last) = v.last_mut() {
        *last = b'\n';
    }
    v
}

async fn serve_upstream(listener: StdTcpListener, body: Bytes, requests: Arc<AtomicU64>) {
    let listener = TcpListener::from_std(listener).expect("upstream listener");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("upstream accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                requests.fetch_add(1, Ordering::Relaxed);
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header(CONTENT_TYPE, "text/plain")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::make_body;

    #[test]
    fn body_has_the_requested_size() {
        assert_eq!(make_body(0), b"");
        assert_eq!(make_body(128).len(), 128);
        assert_eq!(make_body(5), b"swit\n");
    }
}
