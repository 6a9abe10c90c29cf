//! One target, one round: a probe request, the warm-up, the measured window, and CPU samples at
//! the window's edges.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http::StatusCode;
use tokio::time::Instant;

use crate::cli::Args;
use crate::client::http_get;
use crate::load::{run_load, LoadResult};
use crate::procfs::{clk_tck, CpuSample, ProcStats};
use crate::switchboard_process::Logging;
use crate::upstream::Upstream;
use crate::wrk::{run_wrk, WrkResult};

/// One measured target in one round: a row of the report.
pub struct Row {
    /// `direct`, `switchboard (default)`, `nginx w=auto (log on)`, ...; also the key that
    /// groups rounds.
    pub label: String,
    /// The proxy's logging setup; `None` for direct. The report compares each Switchboard row
    /// with the nginx row of the same setup.
    pub logging: Option<Logging>,
    /// Free text appended to the target's CPU line in the report; empty for none.
    pub note: String,
    pub load: LoadResult,
    /// The proxy's CPU and RSS; `None` for the direct run.
    pub proxy: Option<ProcStats>,
    /// CPU of this process minus the upstream thread, in cores: whether the load generator
    /// itself was the bottleneck.
    pub client_cores: f64,
    pub upstream_cores: f64,
    /// Requests the upstream answered per second: should match the load generator's rate, and
    /// would not if the proxy retried or dropped requests.
    pub upstream_rps: f64,
    pub wrk: Option<WrkResult>,
}

/// Runs the warm-up and the measured window against `addr`, sampling CPU of the proxy (its
/// process tree), of the upstream thread and of this process at the window's edges.
///
/// Prints one progress line on stderr (stdout is kept for the final report).
pub async fn measure(
    args: &Args,
    upstream: &Upstream,
    label: &str,
    note: String,
    addr: SocketAddr,
    proxy_pid: Option<u32>,
) -> Result<Row> {
    // One request before the clock starts, so a broken target fails loudly.
    let (status, body) = http_get(addr, "/", Duration::from_secs(5))
        .await
        .with_context(|| format!("{label}: probe request to http://{addr}/"))?;
    if status != StatusCode::OK || body.len() != args.body_size {
        bail!(
            "{label}: probe GET http://{addr}/ answered {status} with {} bytes (expected 200 with {}): {:?}",
            body.len(),
            args.body_size,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }

    eprint!("running {label:<22} ... ");
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let load = tokio::spawn(run_load(
        addr,
        args.concurrency,
        measure_start,
        end,
        args.body_size,
    ));

    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(upstream.tid(), proxy_pid);
    let u0 = upstream.requests();
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(upstream.tid(), proxy_pid);
    let u1 = upstream.requests();
    let load = load.await.context("load generator task")?;

    let secs = args.duration.as_secs_f64();
    let tck = clk_tck();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / secs;
    let upstream_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let client_cores = cores_of(c0.self_ticks, c1.self_ticks) - upstream_cores;
    let proxy = proxy_pid.map(|_| ProcStats::between(&c0, &c1, secs));

    // After the measured window, so wrk never competes with the built-in load generator.
    let wrk = if args.wrk {
        run_wrk(addr, args.client_threads, args.concurrency, args.duration).await
    } else {
        None
    };

    let row = Row {
        label: label.to_string(),
        logging: None,
        note,
        upstream_rps: (u1 - u0) as f64 / secs,
        load,
        proxy,
        client_cores,
        upstream_cores,
        wrk,
    };
    eprintln!(
        "{:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}",
        row.load.rps(secs),
        row.load.pct_us(50.0),
        row.load.pct_us(99.0),
        row.load.errors
    );
    if let Some(e) = &row.load.first_error {
        eprintln!("    first error: {e}");
    }
    Ok(row)
}
