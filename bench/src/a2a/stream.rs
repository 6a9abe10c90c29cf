//! The streaming measurement: sequential `SendStreamingMessage` streams on one keep-alive
//! connection per target, timing the first SSE event and the spacing of the others.
//!
//! The two targets are interleaved stream by stream (direct, gateway, gateway, direct, ...), so
//! whatever else the machine does hits both alike, and each pair gives a paired difference.
//! The first event's time is from just before the request is written to the moment the parser
//! has the bytes that complete it (its closing blank line); the gaps are between consecutive
//! events' completion times, to compare with the agent's configured spacing.

use std::time::Duration;

use anyhow::{bail, Result};
use http::StatusCode;
use tokio::time::Instant;

use super::client::{connect, is_event_stream, next_data, Conn, Endpoint};
use super::load::Latencies;
use super::proto::{check_stream, request_body, Dialect};
use super::sse::SseParser;

/// A target's streams stop early after this many failures (the report shows them).
const MAX_ERRORS: u64 = 10;

/// What one stream showed.
#[derive(Debug)]
pub struct StreamSample {
    /// Request written → first event complete.
    pub first: Duration,
    /// Between consecutive events.
    pub gaps: Vec<Duration>,
}

/// What one target's streams showed.
pub struct StreamStats {
    pub first: Latencies,
    pub gaps: Latencies,
    /// Connections re-opened.
    pub reconnects: u64,
}

/// Both targets' streams, plus the per-pair differences of the first event (gateway − direct).
pub struct StreamRun {
    pub direct: StreamStats,
    pub gateway: StreamStats,
    /// µs, one per pair where both streams succeeded, sorted.
    pub paired_diff_us: Vec<f64>,
}

impl StreamRun {
    /// The median of the paired differences in µs; NaN without pairs.
    pub fn paired_median_us(&self) -> f64 {
        median(&self.paired_diff_us)
    }
}

/// The median of sorted values; NaN when empty.
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The limits of one stream run.
#[derive(Clone, Copy)]
pub struct StreamShape {
    pub dialect: Dialect,
    /// Working updates between the first and the final event.
    pub updates: usize,
    /// The agent's spacing of events.
    pub delay: Duration,
}

impl StreamShape {
    /// How long one stream may take before it counts as failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(5) + self.delay * (self.updates as u32 + 1) * 2
    }
}

/// One stream on `conn` (opened or re-opened as needed), checked: the events the agent sends,
/// in order, echoing the text. A failure drops the connection.
pub async fn one_stream(
    conn: &mut Option<Conn>,
    reconnects: &mut u64,
    ep: &Endpoint,
    shape: StreamShape,
    seq: u64,
) -> Result<StreamSample> {
    let timeout = shape.timeout();
    // Connection setup is not part of the measurement.
    if let Some(c) = conn.as_mut() {
        if tokio::time::timeout(timeout, c.ready())
            .await
            .map_or(true, |r| r.is_err())
        {
            *conn = None;
            *reconnects += 1;
        }
    }
    let c = match conn {
        Some(c) => c,
        None => conn.insert(connect(ep.addr, timeout).await?),
    };
    let want = format!("stream {seq}");
    let req = ep.rpc_request(
        shape.dialect,
        true,
        request_body(shape.dialect, true, seq, &want),
    );
    let r = tokio::time::timeout(timeout, async {
        let t0 = Instant::now();
        let resp = c.send_request(req).await?;
        let (parts, mut body) = resp.into_parts();
        if parts.status != StatusCode::OK || !is_event_stream(&parts.headers) {
            let mut text = Vec::new();
            while let Some(d) = next_data(&mut body).await? {
                text.extend_from_slice(&d);
            }
            bail!(
                "expected a 200 event stream, got HTTP {} {:?}: {}",
                parts.status,
                parts.headers.get(http::header::CONTENT_TYPE),
                String::from_utf8_lossy(&text[..text.len().min(300)])
            );
        }
        let mut parser = SseParser::new();
        let mut times = Vec::with_capacity(shape.updates + 2);
        let mut events = Vec::with_capacity(shape.updates + 2);
        while let Some(chunk) = next_data(&mut body).await? {
            let now = Instant::now();
            for ev in parser.push(&chunk) {
                times.push(now - t0);
                events.push(ev.data);
            }
        }
        if parser.has_partial() {
            bail!("the stream ended inside an event");
        }
        check_stream(&events, shape.dialect, &want, shape.updates)?;
        Ok(StreamSample {
            first: times[0],
            gaps: times.windows(2).map(|w| w[1] - w[0]).collect(),
        })
    })
    .await;
    let r = match r {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("stream timed out after {timeout:?}")),
    };
    if r.is_err() {
        *conn = None;
        *reconnects += 1;
    }
    r
}

/// `n` streams on each of `direct` and `gateway`, interleaved, alternating which goes first.
/// `seq0` numbers them (the echoed text), so runs can be told apart.
pub async fn run_streams(
    direct: &Endpoint,
    gateway: &Endpoint,
    shape: StreamShape,
    n: usize,
    seq0: u64,
) -> Result<StreamRun> {
    let new_stats = || -> Result<StreamStats> {
        Ok(StreamStats {
            first: Latencies::new()?,
            gaps: Latencies::new()?,
            reconnects: 0,
        })
    };
    let mut stats = [new_stats()?, new_stats()?];
    let mut conns: [Option<Conn>; 2] = [None, None];
    let eps = [direct, gateway];
    let mut paired = Vec::with_capacity(n);
    for i in 0..n {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut firsts = [None, None];
        for t in order {
            let seq = seq0 + ((i as u64) << 1 | t as u64);
            let st = &mut stats[t];
            match one_stream(&mut conns[t], &mut st.reconnects, eps[t], shape, seq).await {
                Ok(s) => {
                    st.first.record(s.first);
                    for g in &s.gaps {
                        st.gaps.record(*g);
                    }
                    firsts[t] = Some(s.first);
                }
                Err(e) => st.first.error(|| format!("{}: {e:#}", eps[t].name)),
            }
        }
        if let [Some(d), Some(g)] = firsts {
            paired.push((g.as_secs_f64() - d.as_secs_f64()) * 1e6);
        }
        if stats.iter().any(|s| s.first.errors >= MAX_ERRORS) {
            eprint!("(stopped after {MAX_ERRORS} failed streams) ");
            break;
        }
    }
    paired.sort_by(f64::total_cmp);
    let [direct, gateway] = stats;
    Ok(StreamRun {
        direct,
        gateway,
        paired_diff_us: paired,
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[1.0]), 1.0);
        assert_eq!(median(&[1.0, 3.0]), 2.0);
        assert_eq!(median(&[-5.0, 1.0, 9.0]), 1.0);
    }
}
