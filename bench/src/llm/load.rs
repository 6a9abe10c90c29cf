//! The two loads of `bench-llm`:
//!
//! - [`run_load`]: N keep-alive connections, one non-streamed completion in flight on each
//!   (closed loop), latencies in an HDR histogram; only requests that start and finish inside
//!   the measured window count, as in [`crate::load`].
//! - [`run_streams`]: sequential streams, one at a time, on one keep-alive connection per path,
//!   the paths interleaved stream by stream (rotating which goes first), so whatever else the
//!   machine does hits them alike; each stream is timed to its first content chunk.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::Instant;

use super::client::{complete, stream, Endpoint};
use crate::a2a::client::{connect, Conn};
use crate::a2a::load::Latencies;

/// How long a connect may take inside a load loop.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one stream may take before it counts as failed.
const STREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// A path's streams stop early after this many failures (the report shows them).
const MAX_STREAM_ERRORS: u64 = 10;

/// Runs `concurrency` connections against `ep` from now until `end`, counting requests that
/// start at or after `measure_start`.
pub async fn run_load(
    ep: &Endpoint,
    concurrency: usize,
    tokens: usize,
    measure_start: Instant,
    end: Instant,
) -> Result<Latencies> {
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let ep = ep.clone();
            tokio::spawn(connection_loop(ep, tokens, measure_start, end))
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
    tokens: usize,
    measure_start: Instant,
    end: Instant,
) -> Result<Latencies> {
    let mut res = Latencies::new()?;
    let mut conn: Option<Conn> = None;
    // A request in flight at `end` may finish late (it is not counted); past this, give up.
    let deadline = end + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let c = match &mut conn {
            Some(c) => c,
            None => match connect(ep.addr, CONNECT_TIMEOUT).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    if now >= measure_start {
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
        let t0 = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, complete(c, &ep, tokens)).await;
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match outcome {
            Ok(Ok(_)) if measured => res.record(t1 - t0),
            Ok(Ok(_)) => {}
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

/// One path's streams.
pub struct StreamStats {
    /// Request written → first content chunk.
    pub first_token: Latencies,
    /// Request written → `[DONE]`.
    pub total: Latencies,
}

/// Every path's streams, plus per round the differences of each path's first token against
/// the direct one of the same round (µs, sorted; index 0, direct, stays empty).
pub struct StreamRun {
    pub stats: Vec<StreamStats>,
    pub paired_diff_us: Vec<Vec<f64>>,
}

/// `n` rounds of one stream per path, `eps[0]` being direct.
pub async fn run_streams(eps: &[Endpoint], tokens: usize, n: usize) -> Result<StreamRun> {
    let mut stats = Vec::with_capacity(eps.len());
    for _ in eps {
        stats.push(StreamStats {
            first_token: Latencies::new()?,
            total: Latencies::new()?,
        });
    }
    let mut conns: Vec<Option<Conn>> = eps.iter().map(|_| None).collect();
    let mut paired: Vec<Vec<f64>> = eps.iter().map(|_| Vec::with_capacity(n)).collect();
    for round in 0..n {
        let mut firsts = vec![None; eps.len()];
        for k in 0..eps.len() {
            let t = (round + k) % eps.len();
            let r =
                tokio::time::timeout(STREAM_TIMEOUT, one_stream(&mut conns[t], &eps[t], tokens))
                    .await
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("stream timed out after {STREAM_TIMEOUT:?}"))
                    });
            let st = &mut stats[t];
            match r {
                Ok(s) => {
                    st.first_token.record(s.first_token);
                    st.total.record(s.total);
                    firsts[t] = Some(s.first_token);
                }
                Err(e) => {
                    conns[t] = None;
                    st.first_token.error(|| format!("{}: {e:#}", eps[t].name));
                }
            }
        }
        if let Some(d) = firsts[0] {
            for (t, f) in firsts.iter().enumerate().skip(1) {
                if let Some(f) = f {
                    paired[t].push((f.as_secs_f64() - d.as_secs_f64()) * 1e6);
                }
            }
        }
        if stats
            .iter()
            .any(|s| s.first_token.errors >= MAX_STREAM_ERRORS)
        {
            eprint!("(stopped after {MAX_STREAM_ERRORS} failed streams) ");
            break;
        }
    }
    for p in &mut paired {
        p.sort_by(f64::total_cmp);
    }
    Ok(StreamRun {
        stats,
        paired_diff_us: paired,
    })
}

/// One stream on `conn`, (re)connecting first when needed: connection setup is not timed.
async fn one_stream(
    conn: &mut Option<Conn>,
    ep: &Endpoint,
    tokens: usize,
) -> Result<super::client::StreamSample> {
    if let Some(c) = conn.as_mut() {
        if c.ready().await.is_err() {
            *conn = None;
        }
    }
    let c = match conn {
        Some(c) => c,
        None => conn.insert(connect(ep.addr, CONNECT_TIMEOUT).await?),
    };
    stream(c, ep, tokens).await
}
