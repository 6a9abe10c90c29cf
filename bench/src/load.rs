//! The load generator: N keep-alive hyper 1 client connections, one request in flight each
//! (closed loop), with latencies in an HDR histogram.
//!
//! Only requests that start and finish inside the measured window count, so the warm-up and the
//! requests cut off at the end do not leak into the numbers.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

use crate::client::connect;

/// Highest latency the histograms track; anything slower is clamped (and would be a failure).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// What the connections saw in the measured window, merged over all of them.
pub struct LoadResult {
    /// Latencies of successful measured requests, in nanoseconds.
    hist: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// Connections re-opened (server closed one, or a request failed on it); a proxy that
    /// drops keep-alive shows up here.
    pub reconnects: u64,
    /// Only the first error is kept: enough to diagnose, without flooding the output.
    pub first_error: Option<String>,
}

impl LoadResult {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1_000, MAX_LATENCY_NS, 3).expect("histogram bounds"),
            ok: 0,
            errors: 0,
            reconnects: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, o: LoadResult) {
        self.hist
            .add(&o.hist)
            .expect("histograms with equal bounds");
        self.ok += o.ok;
        self.errors += o.errors;
        self.reconnects += o.reconnects;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    /// Counts an error only if it happened in the measured window; the message is built lazily
    /// because most errors after the first are not kept.
    fn error(&mut self, measured: bool, msg: impl FnOnce() -> String) {
        if measured {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(msg());
            }
        }
    }

    /// Successful requests per second over a window of `secs`.
    pub fn rps(&self, secs: f64) -> f64 {
        self.ok as f64 / secs
    }

    /// The `q`th percentile latency in µs (`q` in 0..=100); NaN when nothing succeeded.
    pub fn pct_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q / 100.0) as f64 / 1_000.0
    }
}

/// Runs `concurrency` connections against `addr` from now until `end`, measuring from
/// `measure_start`. A response counts as a success only if it is 200 with exactly `body_size`
/// bytes, so a proxy answering errors quickly cannot look fast.
pub async fn run_load(
    addr: SocketAddr,
    concurrency: usize,
    measure_start: Instant,
    end: Instant,
    body_size: usize,
) -> LoadResult {
    let host = addr.to_string();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(connection_loop(addr, host, measure_start, end, body_size))
        })
        .collect();
    let mut total = LoadResult::new();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => total.error(true, || format!("load task failed: {e}")),
        }
    }
    total
}

async fn connection_loop(
    addr: SocketAddr,
    host: String,
    measure_start: Instant,
    end: Instant,
    body_size: usize,
) -> LoadResult {
    let mut res = LoadResult::new();
    let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
    // A request in flight at `end` may finish late (it is not counted); past this, give up on it.
    let deadline = end + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let measured = now >= measure_start;
        let s = match &mut sender {
            Some(s) => s,
            None => match tokio::time::timeout_at(end, connect(addr)).await {
                Ok(Ok(s)) => sender.insert(s),
                Ok(Err(e)) => {
                    res.error(measured, || format!("connect to {addr}: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        if s.ready().await.is_err() {
            // The server closed the idle connection; not an error of a request.
            sender = None;
            res.reconnects += 1;
            continue;
        }
        let req = Request::get("/")
            .header(HOST, host.as_str())
            .body(Empty::<Bytes>::new())
            .expect("static request");
        let t0 = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, async {
            let resp = s.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body.len()))
        })
        .await;
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match outcome {
            Ok(Ok((status, len))) if status == StatusCode::OK && len == body_size => {
                if measured {
                    let ns = (t1 - t0).as_nanos().min(u128::from(MAX_LATENCY_NS)) as u64;
                    res.hist.saturating_record(ns);
                    res.ok += 1;
                }
            }
            Ok(Ok((status, len))) => {
                res.error(measured, || {
                    format!("unexpected response: {status}, {len} bytes")
                });
            }
            Ok(Err(e)) => {
                res.error(measured, || format!("request failed: {e}"));
                sender = None;
                res.reconnects += 1;
            }
            Err(_) => {
                res.error(measured, || "request timed out".into());
                sender = None;
            }
        }
    }
    res
}
