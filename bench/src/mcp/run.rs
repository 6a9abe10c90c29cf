//! The scenarios of one `bench-mcp` run, and measuring one of them: sessions opened, a probe
//! request, the warm-up, the measured window with CPU samples at its edges, sessions closed.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::time::Instant;

use super::cli::Args;
use super::gateway::McpGateway;
use super::load::{close_sessions, one, open_sessions, run_load, Connections, Era, McpLoad, Op};
use super::report::{print_header, print_idle, print_summary};
use super::server::{McpServers, ECHO};
use crate::procfs::{clk_tck, CpuSample, ProcStats};
use crate::relay::RelayProcess;
use crate::targets::switchboard::{debug_banner, find_switchboard, is_debug_build};

/// One measured scenario: a row of the report.
pub struct Row {
    /// `tools/call` or `tools/list (N targets)`: rows with the same group compare to the same
    /// direct row.
    pub group: String,
    /// `direct`, `tcp relay` ([`TCP_RELAY`]), `switchboard` (legacy sessions) or
    /// `switchboard modern` (stateless).
    pub target: &'static str,
    pub concurrency: usize,
    pub load: McpLoad,
    /// The CPU and RSS of the process between client and server (the gateway or the relay);
    /// `None` for direct.
    pub gateway: Option<ProcStats>,
    /// This process minus the server thread, in cores: whether the client was the bottleneck.
    pub client_cores: f64,
    pub server_cores: f64,
}

/// The row of the bytes-only relay ([`crate::relay`]): the floor of any proxy's cost.
pub const TCP_RELAY: &str = "tcp relay";

/// `host:port` of an `http://host:port/...` URL.
fn authority(url: &str) -> Result<SocketAddr> {
    let uri: http::Uri = url.parse().with_context(|| format!("URL {url:?}"))?;
    uri.authority()
        .with_context(|| format!("URL {url:?} has no host:port"))?
        .as_str()
        .parse()
        .with_context(|| format!("URL {url:?} is not an IP address and port"))
}

/// What to measure against what.
struct Scenario<'a> {
    group: String,
    target: &'static str,
    url: &'a str,
    op: Op,
    concurrency: usize,
    gateway_pid: Option<u32>,
    era: Era,
}

/// Runs every scenario and prints the report.
pub async fn run(args: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = find_switchboard(args.switchboard.as_deref())
        .context("no switchboard binary found; build it: cargo build --release -p gateway")?;
    if is_debug_build(&bin) {
        eprintln!("{}", debug_banner(&bin));
    }
    let servers = McpServers::start()?;
    let max_targets = args.list_targets.iter().copied().max().unwrap_or(1);
    let urls = (0..max_targets.max(1))
        .map(|_| servers.add())
        .collect::<Result<Vec<_>>>()?;
    print_header(&args, cores, &bin, &urls[0]);

    let call = Op::Call {
        tool: Arc::from(ECHO),
    };
    let mut rows = Vec::new();
    {
        let gw = McpGateway::start(&bin, &urls[..1]).await?;
        let relay = RelayProcess::start(authority(&urls[0])?, cores).await?;
        let relay_url = format!("http://{}/mcp", relay.addr);
        for &c in &args.concurrency {
            for (target, url, pid, era) in [
                ("direct", urls[0].as_str(), None, Era::Legacy),
                (
                    TCP_RELAY,
                    relay_url.as_str(),
                    Some(relay.pid()),
                    Era::Legacy,
                ),
                ("switchboard", gw.url.as_str(), Some(gw.pid()), Era::Legacy),
                (
                    "switchboard modern",
                    gw.url.as_str(),
                    Some(gw.pid()),
                    Era::Modern,
                ),
            ] {
                let sc = Scenario {
                    group: "tools/call".into(),
                    target,
                    url,
                    op: call.clone(),
                    concurrency: c,
                    gateway_pid: pid,
                    era,
                };
                rows.push(measure_logged(&args, &servers, sc, &gw).await?);
            }
        }
    }
    for &n in &args.list_targets {
        let gw = McpGateway::start(&bin, &urls[..n]).await?;
        let group = format!("tools/list ({n} target{})", if n == 1 { "" } else { "s" });
        // Direct reference: one server listing its one tool, the work of a single target.
        let direct = Scenario {
            group: group.clone(),
            target: "direct",
            url: &urls[0],
            op: Op::List { tools: 1 },
            concurrency: args.list_concurrency,
            gateway_pid: None,
            era: Era::Legacy,
        };
        rows.push(measure_logged(&args, &servers, direct, &gw).await?);
        let through = Scenario {
            group,
            target: "switchboard",
            url: &gw.url,
            op: Op::List { tools: n },
            concurrency: args.list_concurrency,
            gateway_pid: Some(gw.pid()),
            era: Era::Legacy,
        };
        rows.push(measure_logged(&args, &servers, through, &gw).await?);
    }
    let idle = if args.idle_sessions > 0 {
        let gw = McpGateway::start(&bin, &urls[..1]).await?;
        eprint!("running idle sessions ({}) ... ", args.idle_sessions);
        let idle = super::idle::measure(&gw.url, gw.pid(), args.idle_sessions)
            .await
            .inspect_err(|_| eprintln!("{}", gw.log_tail()))
            .context("idle sessions")?;
        eprintln!("done");
        Some(idle)
    } else {
        None
    };
    print_summary(&args, cores, &rows, servers.calls());
    if let Some(idle) = idle {
        print_idle(&idle);
    }
    Ok(())
}

/// [`measure`] with the gateway's log tail attached to a failure or to a run with errors, since
/// the gateway's temp dir (and log) is gone once it stops.
async fn measure_logged(
    args: &Args,
    servers: &McpServers,
    sc: Scenario<'_>,
    gw: &McpGateway,
) -> Result<Row> {
    let through_gw = sc.target.starts_with("switchboard");
    let row = measure(args, servers, sc).await;
    match &row {
        Err(_) if through_gw => eprintln!("{}", gw.log_tail()),
        Ok(r) if through_gw && r.load.errors > 0 => eprintln!("{}", gw.log_tail()),
        _ => {}
    }
    row
}

/// Measures one scenario.
///
/// Prints one progress line on stderr (stdout is kept for the final report).
async fn measure(args: &Args, servers: &McpServers, sc: Scenario<'_>) -> Result<Row> {
    let label = format!("{} {} c={}", sc.group, sc.target, sc.concurrency);
    let connections = if args.fresh_connections {
        Connections::Fresh
    } else {
        Connections::Pooled
    };
    let sessions = open_sessions(sc.url, sc.concurrency, sc.era, connections)
        .await
        .with_context(|| format!("{label}: opening sessions"))?;
    // One request before the clock starts, so a broken target fails loudly.
    if let Some(s) = sessions.first() {
        one(s, &sc.op, 0)
            .await
            .with_context(|| format!("{label}: probe request to {}", sc.url))?;
    }

    eprint!("running {label:<40} ... ");
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let load = tokio::spawn(run_load(sessions, sc.op.clone(), measure_start, end));
    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(servers.tid(), sc.gateway_pid);
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(servers.tid(), sc.gateway_pid);
    let (sessions, load) = load.await.context("load generator task")??;
    close_sessions(sessions).await;

    let secs = args.duration.as_secs_f64();
    let tck = clk_tck();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / secs;
    let server_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let row = Row {
        group: sc.group,
        target: sc.target,
        concurrency: sc.concurrency,
        gateway: sc.gateway_pid.map(|_| ProcStats {
            cores: cores_of(c0.proxy_ticks, c1.proxy_ticks),
            rss_kib: c1.proxy_rss_kib,
        }),
        client_cores: cores_of(c0.self_ticks, c1.self_ticks) - server_cores,
        server_cores,
        load,
    };
    eprintln!(
        "{:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}",
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
