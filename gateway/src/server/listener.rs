//! One bind's accept loop: TCP (and TLS) connections served with HTTP/1.1 and HTTP/2 by hyper,
//! each request answered against the bind's current model.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::admission::{Admission, Refusal, Ticket};
use crate::model::limits::Limits;
use crate::model::Bind;
use crate::proxy::{Conn, Proxy};

/// Time a client gets to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bind being served.
pub struct RunningBind {
    /// The model the next request on this bind uses.
    pub model: Arc<ArcSwap<Bind>>,
    /// The address actually bound (port 0 resolved).
    pub local_addr: std::net::SocketAddr,
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

/// Pending connections the kernel queues per listening socket.
const BACKLOG: u32 = 1024;

impl RunningBind {
    /// Binds the socket now (so errors surface before anything else changes), then accepts on
    /// the calling runtime and hands each connection to the next worker in turn. Round-robin
    /// keeps the workers evenly loaded, which racing accepts on a shared socket do not.
    pub fn start(bind: Arc<Bind>, proxy: Arc<Proxy>, workers: &[Handle]) -> std::io::Result<Self> {
        let socket = if bind.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(bind.addr)?;
        let listener = socket.listen(BACKLOG)?;
        let local_addr = listener.local_addr()?;
        let model = Arc::new(ArcSwap::new(bind));
        let (stop, stop_rx) = watch::channel(None);
        let task = tokio::spawn(accept_loop(
            listener,
            model.clone(),
            proxy,
            workers.to_vec(),
            stop_rx,
        ));
        Ok(RunningBind {
            model,
            local_addr,
            stop,
            task,
        })
    }

    /// Stops accepting, lets in-flight requests finish for up to `drain`, then closes the rest.
    pub async fn shutdown(self, drain: Duration) {
        let _ = self.stop.send(Some(drain));
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    model: Arc<ArcSwap<Bind>>,
    proxy: Arc<Proxy>,
    workers: Vec<Handle>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let graceful = GracefulShutdown::new();
    let bind_label = model.load().addr.to_string();
    let admission = Admission::new(bind_label, proxy.metrics.clone());
    // Rebuilt only when a reload changes the bind's limits.
    let mut limits = model.load().limits;
    let mut builder = Arc::new(connection_builder(&limits));
    let mut next_worker = 0usize;
    let drain = loop {
        tokio::select! {
            changed = stop.changed() => {
                let drain = if changed.is_ok() { *stop.borrow() } else { None };
                break drain.unwrap_or(Duration::ZERO);
            }
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let bind = model.load_full();
                if bind.limits != limits {
                    limits = bind.limits;
                    builder = Arc::new(connection_builder(&limits));
                }
                // Over a limit: closed at once, before any byte is read.
                let Ok(ticket) = admission.admit(remote.ip(), &limits) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                // Leave this runtime's reactor; the worker registers the socket with its own.
                let stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(client = %remote, error = %e, "cannot hand the connection to a worker");
                        continue;
                    }
                };
                let worker = &workers[next_worker % workers.len().max(1)];
                next_worker = next_worker.wrapping_add(1);
                let conn = Accepted { stream, remote, bind, model: model.clone(), ticket, admission: admission.clone() };
                serve_connection(conn, worker, proxy.clone(), builder.clone(), &graceful);
            }
        }
    };
    drop(listener);
    tracing::debug!(drain = ?drain, "draining connections");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?drain, "connections still open after the drain time; closing them");
    }
}

/// The HTTP/1.1 and HTTP/2 settings of a bind's connections, from its limits.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's HTTP/1 read buffer caps the request head: over it, hyper answers 431.
    let head = usize::try_from(limits.max_header_size).unwrap_or(usize::MAX);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(head.max(crate::model::limits::MIN_MAX_HEADER_SIZE as usize))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_size)
        .max_concurrent_streams(limits.max_concurrent_streams);
    builder
}

/// A connection accepted and not yet served.
struct Accepted {
    stream: std::net::TcpStream,
    remote: std::net::SocketAddr,
    /// The model when it was accepted (decides TLS).
    bind: Arc<Bind>,
    /// Where each request reads the current model.
    model: Arc<ArcSwap<Bind>>,
    /// Its place under the bind's connection limits, freed when the connection ends.
    ticket: Ticket,
    /// Counts what the connection's client is refused.
    admission: Arc<Admission>,
}

fn serve_connection(
    accepted: Accepted,
    worker: &Handle,
    proxy: Arc<Proxy>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: &GracefulShutdown,
) {
    let Accepted {
        stream,
        remote,
        bind,
        model,
        ticket,
        admission,
    } = accepted;
    let tls = bind.tls.clone();
    let conn = Conn {
        remote,
        tls: tls.is_some(),
        bind: bind.addr,
    };
    let service_proxy = proxy.clone();
    let service = service_fn(move |req| {
        let proxy = service_proxy.clone();
        // Each request sees the model current when it arrives; reloads never change it mid-way.
        let bind = model.load_full();
        async move { Ok::<_, Infallible>(proxy.serve(bind, conn, req).await) }
    });
    let watcher = graceful.watcher();
    let gauge = proxy.metrics.active_connections.clone();
    gauge.inc();
    worker.spawn(async move {
        let _open = OpenConnection(gauge);
        let _ticket = ticket;
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(client = %remote, error = %e, "worker cannot poll the connection");
                return;
            }
        };
        match tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    connection_error(&admission, remote, e.as_ref());
                }
            }
            Some(cfg) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                let tls_stream = match tokio::time::timeout(
                    TLS_HANDSHAKE_TIMEOUT,
                    acceptor.accept(stream),
                )
                .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(client = %remote, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        admission.refused(Refusal::TlsHandshakeTimeout, remote.ip());
                        return;
                    }
                };
                let conn =
                    builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    connection_error(&admission, remote, e.as_ref());
                }
            }
        }
    });
}

/// Counts (and logs, throttled) a connection that ended because its client broke a limit;
/// other errors (resets, protocol errors) are logged at debug only.
fn connection_error(
    admission: &Admission,
    remote: std::net::SocketAddr,
    e: &(dyn std::error::Error + 'static),
) {
    let refusal = e.downcast_ref::<hyper::Error>().and_then(|h| {
        if h.is_parse_too_large() {
            Some(Refusal::HeaderTooLarge)
        } else if h.is_timeout() {
            Some(Refusal::HeaderTimeout)
        } else {
            None
        }
    });
    match refusal {
        Some(r) => admission.refused(r, remote.ip()),
        None => tracing::debug!(client = %remote, error = %e, "connection ended with an error"),
    }
}

/// Decrements the open-connections gauge when the connection task ends, however it ends.
struct OpenConnection(prometheus_client::metrics::gauge::Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
