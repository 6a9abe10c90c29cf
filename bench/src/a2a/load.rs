//! The `message/send` load: N keep-alive connections, one `SendMessage` in flight on each
//! (closed loop), latencies in an HDR histogram.
//!
//! Only requests that start and finish inside the measured window count, as in
//! [`crate::load`]; every answer is checked (a completed task echoing the text), so a gateway
//! answering errors quickly cannot look fast.

use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::client::{connect, Conn, Endpoint};
use super::proto::{check_send_reply, request_body, Dialect};

/// Highest latency tracked; slower samples are clamped (and would be a failure anyway).
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// How long a connect may take inside the load loop.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A latency histogram with success and error counts.
pub struct Latencies {
    hist: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// Connections re-opened (the server closed one, or a request failed on it).
    pub reconnects: u64,
    /// Only the first error is kept: enough to diagnose without flooding the output.
    pub first_error: Option<String>,
}

impl Latencies {
    pub fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1_000, MAX_LATENCY_NS, 3)
                .context("histogram bounds")?,
            ok: 0,
            errors: 0,
            reconnects: 0,
            first_error: None,
        })
    }

    /// Records one success.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(ns.clamp(1_000, MAX_LATENCY_NS));
        self.ok += 1;
    }

    /// Records one failure, keeping the first message (built lazily).
    pub fn error(&mut self, msg: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(msg());
        }
    }

    pub fn merge(&mut self, o: Latencies) -> Result<()> {
        self.hist.add(&o.hist).context("merging histograms")?;
        self.ok += o.ok;
        self.errors += o.errors;
        self.reconnects += o.reconnects;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        Ok(())
    }

    /// Successes per second over a window of `secs`.
    pub fn rps(&self, secs: f64) -> f64 {
        self.ok as f64 / secs
    }

    /// The `q`th percentile in µs (`q` in 0..=100); NaN when nothing was recorded.
    pub fn pct_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q / 100.0) as f64 / 1_000.0
    }

    /// The smallest sample in µs; NaN when nothing was recorded.
    pub fn min_us(&self) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.min() as f64 / 1_000.0
    }

    /// How many samples are below `us` µs (to histogram precision).
    pub fn count_below_us(&self, us: f64) -> u64 {
        let ns = (us * 1_000.0) as u64;
        if ns == 0 {
            return 0;
        }
        self.hist.count_between(0, ns - 1)
    }

    /// The largest sample in µs; NaN when nothing was recorded.
    pub fn max_us(&self) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.max() as f64 / 1_000.0
    }

    /// The mean in µs; NaN when nothing was recorded.
    pub fn mean_us(&self) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.mean() / 1_000.0
    }
}

/// One checked `SendMessage` on `conn`.
pub async fn send_one(conn: &mut Conn, ep: &Endpoint, dialect: Dialect, seq: u64) -> Result<()> {
    let want = format!("ping {seq}");
    let req = ep.rpc_request(dialect, false, request_body(dialect, false, seq, &want));
    let resp = conn.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        anyhow::bail!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    check_send_reply(&body, dialect, &want)
}

/// Runs `concurrency` connections against `ep` from now until `end`, counting requests that
/// start at or after `measure_start`.
pub async fn run_send_load(
    ep: &Endpoint,
    concurrency: usize,
    measure_start: Instant,
    end: Instant,
) -> Result<Latencies> {
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let ep = ep.clone();
            tokio::spawn(connection_loop(ep, w as u64, measure_start, end))
        })
        .collect();
    let mut total = Latencies::new()?;
    for t in tasks {
        total.merge(t.await.context("load task")??)?;
    }
    Ok(total)
}

async fn connection_loop(
    ep: Endpoint,
    worker: u64,
    measure_start: Instant,
    end: Instant,
) -> Result<Latencies> {
    let mut res = Latencies::new()?;
    let mut conn: Option<Conn> = None;
    // A request in flight at `end` may finish late (it is not counted); past this, give up.
    let deadline = end + Duration::from_secs(10);
    let mut seq = worker << 40;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let measured = now >= measure_start;
        let c = match &mut conn {
            Some(c) => c,
            None => match connect(ep.addr, CONNECT_TIMEOUT).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    if measured {
                        res.error(|| format!("{e:#}"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if tokio::time::timeout_at(deadline, c.ready())
            .await
            .map_or(true, |r| r.is_err())
        {
            // The server closed the idle connection; not an error of a request.
            conn = None;
            res.reconnects += 1;
            continue;
        }
        seq += 1;
        let t0 = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, send_one(c, &ep, Dialect::V1, seq)).await;
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match outcome {
            Ok(Ok(())) if measured => res.record(t1 - t0),
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if measured {
                    res.error(|| format!("{e:#}"));
                }
                // The connection may be in any state after a failed exchange.
                conn = None;
                res.reconnects += 1;
            }
            Err(_) => {
                if measured {
                    res.error(|| "request timed out".into());
                }
                conn = None;
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merge() {
        let mut a = Latencies::new().unwrap();
        assert!(a.pct_us(50.0).is_nan());
        for us in 1..=100u64 {
            a.record(Duration::from_micros(us * 10));
        }
        let mut b = Latencies::new().unwrap();
        b.error(|| "first".into());
        b.error(|| "second".into());
        a.merge(b).unwrap();
        assert_eq!((a.ok, a.errors), (100, 2));
        assert_eq!(a.first_error.as_deref(), Some("first"));
        assert!((a.pct_us(50.0) - 500.0).abs() < 1.0, "{}", a.pct_us(50.0));
        assert!((a.pct_us(99.0) - 990.0).abs() < 1.0, "{}", a.pct_us(99.0));
        assert!((a.max_us() - 1000.0).abs() < 1.0);
        // 3 significant digits over a 1 µs..60 s range: the low end is coarse.
        assert!((a.min_us() - 10.0).abs() < 0.5, "{}", a.min_us());
        assert!((a.rps(2.0) - 50.0).abs() < f64::EPSILON);
        assert_eq!(a.count_below_us(105.0), 10);
        assert_eq!(a.count_below_us(5.0), 0);
    }
}
