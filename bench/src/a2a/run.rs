//! One `bench-a2a` run: start the agent and the gateway, probe both targets (so a broken setup
//! fails at once with a clear message), measure `SendMessage` at each concurrency, then the
//! streams, and print the report.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::time::Instant;

use super::agent::Agent;
use super::cli::Args;
use super::client::{connect, get_json, Endpoint};
use super::gateway::A2aGateway;
use super::load::{run_send_load, send_one, Latencies};
use super::proto::Dialect;
use super::report::{print_header, print_summary};
use super::stream::{one_stream, run_streams, StreamRun, StreamShape};
use crate::procfs::{clk_tck, CpuSample, ProcStats};
use crate::targets::switchboard::{debug_banner, find_switchboard, is_debug_build};

/// Bound on each probe step.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One measured `SendMessage` scenario: a row of the report.
pub struct SendRow {
    /// `direct` or `switchboard`.
    pub target: &'static str,
    pub concurrency: usize,
    pub load: Latencies,
    /// The gateway's CPU and RSS; `None` for direct.
    pub gateway: Option<ProcStats>,
    /// This process minus the agent thread, in cores: whether the client was the bottleneck.
    pub client_cores: f64,
    pub agent_cores: f64,
    /// Connections the agent accepted during the scenario (warm-up included).
    pub agent_conns: u64,
}

/// The streams, with the gateway's CPU over the measured ones.
pub struct StreamReport {
    pub run: StreamRun,
    /// Gateway CPU µs per stream through it; NaN without successful streams.
    pub gw_cpu_us_per_stream: f64,
    /// The agent thread's CPU µs per stream (both targets' streams), for scale.
    pub agent_cpu_us_per_stream: f64,
    pub gw_rss_kib: u64,
    pub shape: StreamShape,
    /// Connections the agent accepted during the measured streams (both targets).
    pub agent_conns: u64,
}

/// Runs every scenario and prints the report.
pub async fn run(args: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = find_switchboard(args.gateway.as_deref()).context(
        "no switchboard binary found; build it (cargo build --release -p gateway) or pass --gateway PATH",
    )?;
    if !bin.is_file() {
        bail!("--gateway {}: no such file", bin.display());
    }
    if is_debug_build(&bin) {
        eprintln!("{}", debug_banner(&bin));
    }
    let agent = Agent::start(args.stream_updates, args.stream_delay)?;
    let direct = Endpoint {
        name: "direct",
        addr: agent.addr,
        base: String::new(),
    };
    let gw = A2aGateway::start(&bin, agent.addr, args.owners).await?;
    let through = gw.endpoint();
    print_header(&args, cores, &bin, &direct, &through);
    let shape = StreamShape {
        dialect: Dialect::V1,
        updates: args.stream_updates,
        delay: args.stream_delay,
    };

    if let Err(e) = probe(&direct, &through, shape).await {
        eprintln!("{}", gw.log_tail());
        return Err(e.context("probing the targets before measuring"));
    }

    let mut rows = Vec::new();
    for &c in &args.concurrency {
        for (ep, pid) in [(&direct, None), (&through, Some(gw.pid()))] {
            let row = measure_send(&args, &agent, ep, c, pid).await;
            match &row {
                Err(_) if pid.is_some() => eprintln!("{}", gw.log_tail()),
                Ok(r) if pid.is_some() && r.load.errors > 0 => eprintln!("{}", gw.log_tail()),
                _ => {}
            }
            rows.push(row?);
        }
    }

    let streams = measure_streams(&args, &agent, &direct, &through, gw.pid(), shape).await?;
    if streams.run.gateway.first.errors > 0 {
        eprintln!("{}", gw.log_tail());
    }
    print_summary(
        &args,
        cores,
        &rows,
        &streams,
        (agent.sends(), agent.streams()),
    );
    Ok(())
}

/// Checks each target once before anything is measured: the card (rewritten by the gateway,
/// which proves the `a2a` policy is on the route), a send and a stream in both dialects.
async fn probe(direct: &Endpoint, through: &Endpoint, shape: StreamShape) -> Result<()> {
    eprint!("probing the agent directly and through the gateway ... ");
    let card = get_json(direct.addr, &direct.card_path(), PROBE_TIMEOUT).await?;
    let agent_url = card["supportedInterfaces"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let card = get_json(through.addr, &through.card_path(), PROBE_TIMEOUT).await?;
    let relayed = card["supportedInterfaces"][0]["url"]
        .as_str()
        .unwrap_or_default();
    let want = format!("{}{}", through.base_url(), super::agent::RPC_PATH);
    if relayed != want {
        bail!(
            "the card through the gateway names {relayed:?} (the agent says {agent_url:?}); \
             expected {want:?}: is the `a2a` policy on the route?"
        );
    }
    for ep in [direct, through] {
        for dialect in [Dialect::V1, Dialect::V03] {
            let mut c = connect(ep.addr, PROBE_TIMEOUT).await?;
            tokio::time::timeout(PROBE_TIMEOUT, send_one(&mut c, ep, dialect, 1))
                .await
                .map_err(|_| anyhow::anyhow!("timed out after {PROBE_TIMEOUT:?}"))
                .and_then(|r| r)
                .with_context(|| {
                    format!(
                        "{}: {} to {}",
                        ep.name,
                        dialect.send_method(),
                        ep.base_url()
                    )
                })?;
            let mut conn = Some(c);
            let mut reconnects = 0;
            let s = StreamShape { dialect, ..shape };
            let sample = one_stream(&mut conn, &mut reconnects, ep, s, 1)
                .await
                .with_context(|| {
                    format!(
                        "{}: {} to {}",
                        ep.name,
                        dialect.stream_method(),
                        ep.base_url()
                    )
                })?;
            if sample.first >= shape.delay {
                eprint!(
                    "(warning: {} {} first event after {:?}, not before the second was sent) ",
                    ep.name,
                    dialect.stream_method(),
                    sample.first
                );
            }
        }
    }
    eprintln!("ok");
    Ok(())
}

/// Measures one `SendMessage` scenario: warm-up, then the window with CPU samples at its edges.
/// Prints one progress line on stderr (stdout is kept for the report).
async fn measure_send(
    args: &Args,
    agent: &Agent,
    ep: &Endpoint,
    concurrency: usize,
    gateway_pid: Option<u32>,
) -> Result<SendRow> {
    let label = format!("SendMessage {} c={concurrency}", ep.name);
    eprint!("running {label:<32} ... ");
    let conns0 = agent.accepted();
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let ep_c = ep.clone();
    let load =
        tokio::spawn(async move { run_send_load(&ep_c, concurrency, measure_start, end).await });
    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(agent.tid(), gateway_pid);
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(agent.tid(), gateway_pid);
    // Every request of the load is bounded (connect 5 s, exchange until `end` + 10 s).
    let load = load.await.context("load generator task")??;

    let secs = args.duration.as_secs_f64();
    let tck = clk_tck();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / secs;
    let agent_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let row = SendRow {
        target: ep.name,
        concurrency,
        gateway: gateway_pid.map(|_| ProcStats::between(&c0, &c1, secs)),
        client_cores: cores_of(c0.self_ticks, c1.self_ticks) - agent_cores,
        agent_cores,
        agent_conns: agent.accepted() - conns0,
        load,
    };
    eprintln!(
        "{:>8.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  errors {}",
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

/// The stream measurement: unmeasured warm-up streams, then the measured ones with the
/// gateway's CPU sampled around them.
async fn measure_streams(
    args: &Args,
    agent: &Agent,
    direct: &Endpoint,
    through: &Endpoint,
    gateway_pid: u32,
    shape: StreamShape,
) -> Result<StreamReport> {
    eprint!(
        "running {:<32} ... ",
        format!("{} streams x2", args.streams)
    );
    if args.stream_warmup > 0 {
        run_streams(direct, through, shape, args.stream_warmup, 1 << 40).await?;
    }
    // CPU in ns (schedstat) rather than clock ticks: a stream costs a few hundred µs, which a
    // 10 ms tick would turn into noise.
    let conns0 = agent.accepted();
    let agent_task = format!("/proc/self/task/{}", agent.tid());
    let (ns0, a0) = (process_cpu_ns(gateway_pid), task_cpu_ns(&agent_task));
    let run = run_streams(direct, through, shape, args.streams, 2 << 40).await?;
    let (ns1, a1) = (process_cpu_ns(gateway_pid), task_cpu_ns(&agent_task));
    let agent_conns = agent.accepted() - conns0;
    let c1 = CpuSample::take(agent.tid(), Some(gateway_pid));
    let gw_ok = run.gateway.first.ok;
    let gw_cpu_us_per_stream = match (ns0, ns1) {
        (Some(a), Some(b)) if gw_ok > 0 => b.saturating_sub(a) as f64 / 1e3 / gw_ok as f64,
        _ => f64::NAN,
    };
    let all_ok = gw_ok + run.direct.first.ok;
    let agent_cpu_us_per_stream = match (a0, a1) {
        (Some(a), Some(b)) if all_ok > 0 => b.saturating_sub(a) as f64 / 1e3 / all_ok as f64,
        _ => f64::NAN,
    };
    eprintln!(
        "first event p50 direct {:.0} µs, switchboard {:.0} µs; errors {} / {}",
        run.direct.first.pct_us(50.0),
        run.gateway.first.pct_us(50.0),
        run.direct.first.errors,
        run.gateway.first.errors
    );
    for s in [&run.direct, &run.gateway] {
        if let Some(e) = &s.first.first_error {
            eprintln!("    first error: {e}");
        }
    }
    Ok(StreamReport {
        run,
        gw_cpu_us_per_stream,
        agent_cpu_us_per_stream,
        gw_rss_kib: c1.proxy_rss_kib,
        shape,
        agent_conns,
    })
}

/// CPU time of one thread (`/proc/<pid>/task/<tid>`) in ns, from its `schedstat`.
fn task_cpu_ns(task_dir: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("{task_dir}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU time of every thread of `pid` in ns, from `/proc/<pid>/task/*/schedstat` (its first
/// field); `None` when unreadable (kernels without schedstats).
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = e.ok()?.path().join("schedstat");
        // A thread may exit between the listing and the read: skip it.
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cpu_time_grows() {
        let pid = std::process::id();
        let a = super::process_cpu_ns(pid).expect("schedstat readable");
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let b = super::process_cpu_ns(pid).expect("schedstat readable");
        // Only that it grows: how much depends on how busy the machine is.
        assert!(b > a, "{a} -> {b}");
    }
}
