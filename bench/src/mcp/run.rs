//! The scenarios of one `bench-mcp` run, and measuring one of them: sessions opened, a probe
//! request, the warm-up, the measured window with CPU samples at its edges, sessions closed.
//!
//! For each kind of target (`--targets`): `tools/call` with one rmcp session per worker at each
//! `--concurrency`, then one shared session over each `--shared-concurrency` connections; each
//! direct, through the bytes-only relay, and through a Switchboard per `--logging` setup. Then
//! `tools/list` fan-out and idle sessions.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::time::Instant;

use super::auth::AccessSetup;
use super::cli::Args;
use super::gateway::McpGateway;
use super::load::{close_sessions, one, open_sessions, run_load, Connections, Era, McpLoad, Op};
use super::report::{print_header, print_idle, print_summary};
use super::server::{McpServers, ServerKind, ECHO};
use super::shared::{self, SharedSession};
use crate::procfs::{clk_tck, CpuSample, ProcStats};
use crate::relay::RelayProcess;
use crate::switchboard_process::Logging;
use crate::targets::switchboard::{debug_banner, find_switchboard, is_debug_build};

/// One measured scenario: a row of the report.
pub struct Row {
    /// `tools/call sse`, `shared session json`, `tools/list (N targets)`, ...: rows with the
    /// same group compare to the same direct row.
    pub group: String,
    /// `direct`, `tcp relay` ([`TCP_RELAY`]), `switchboard (default)`, `switchboard (logs
    /// off)`, `sb modern (default)` (2026-07-28 stateless requests), ...
    pub target: String,
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

/// The row name of a gateway run in `era` with `logging`.
pub fn gateway_target(era: Era, logging: Logging) -> String {
    match era {
        Era::Legacy => format!("switchboard ({})", logging.label()),
        Era::Modern => format!("sb modern ({})", logging.label()),
    }
}

/// The row name of a gateway run with the access policies of [`AccessSetup`].
pub fn access_target(logging: Logging) -> String {
    format!("sb jwt+rule ({})", logging.label())
}

/// `host:port` of an `http://host:port/...` URL.
fn authority(url: &str) -> Result<SocketAddr> {
    let uri: http::Uri = url.parse().with_context(|| format!("URL {url:?}"))?;
    uri.authority()
        .with_context(|| format!("URL {url:?} has no host:port"))?
        .as_str()
        .parse()
        .with_context(|| format!("URL {url:?} is not an IP address and port"))
}

/// How the load generator drives a scenario.
#[derive(Clone)]
enum Drive {
    /// One rmcp client session per worker, speaking `Era`.
    Sessions(Op, Era),
    /// One session shared by all workers, one raw keep-alive connection each
    /// ([`super::shared`]); `tools/call` of [`ECHO`], with this `Authorization` header if any.
    Shared(Option<Arc<str>>),
}

/// What to measure against what.
struct Scenario<'a> {
    group: String,
    target: String,
    url: &'a str,
    drive: Drive,
    concurrency: usize,
    /// The process between client and server, sampled for CPU; `None` for direct.
    middle_pid: Option<u32>,
    /// The gateway whose log to show when the scenario fails; `None` for direct and the relay.
    gateway: Option<&'a McpGateway>,
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
    let sse_urls = (0..max_targets.max(1))
        .map(|_| servers.add(ServerKind::Sse))
        .collect::<Result<Vec<_>>>()?;
    let mut call_targets = Vec::new();
    for &kind in &args.targets {
        let url = match kind {
            ServerKind::Sse => sse_urls[0].clone(),
            ServerKind::Json => servers.add(ServerKind::Json)?,
        };
        call_targets.push((kind, url));
    }
    print_header(&args, cores, &bin, &call_targets);

    let mut rows = Vec::new();
    for (kind, url) in &call_targets {
        calls(&args, &servers, cores, &bin, *kind, url, &mut rows).await?;
    }
    for &n in &args.list_targets {
        let group = format!("tools/list ({n} target{})", if n == 1 { "" } else { "s" });
        // Direct reference: one server listing its one tool, the work of a single target.
        let direct = Scenario {
            group: group.clone(),
            target: "direct".into(),
            url: &sse_urls[0],
            drive: Drive::Sessions(Op::List { tools: 1 }, Era::Legacy),
            concurrency: args.list_concurrency,
            middle_pid: None,
            gateway: None,
        };
        rows.push(measure(&args, &servers, direct).await?);
        for &logging in &args.logging {
            let gw = McpGateway::start(&bin, &sse_urls[..n], logging, None).await?;
            let through = Scenario {
                group: group.clone(),
                target: gateway_target(Era::Legacy, logging),
                url: &gw.url,
                drive: Drive::Sessions(Op::List { tools: n }, Era::Legacy),
                concurrency: args.list_concurrency,
                middle_pid: Some(gw.pid()),
                gateway: Some(&gw),
            };
            rows.push(measure(&args, &servers, through).await?);
        }
    }
    let idle = if args.idle_sessions > 0 {
        // The config as a user writes it: what an idle session costs them.
        let gw = McpGateway::start(&bin, &sse_urls[..1], Logging::Default, None).await?;
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

/// The `tools/call` scenarios against one target (`url`, of `kind`): per-session and
/// shared-session load, each direct, through the relay and through one gateway per logging
/// setup (legacy sessions, and for per-session load also 2026-07-28 stateless requests).
async fn calls(
    args: &Args,
    servers: &McpServers,
    cores: usize,
    bin: &std::path::Path,
    kind: ServerKind,
    url: &str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let call = Op::Call {
        tool: Arc::from(ECHO),
    };
    let relay = RelayProcess::start(authority(url)?, cores).await?;
    let relay_url = format!("http://{}/mcp", relay.addr);
    let mut gateways = Vec::new();
    for &logging in &args.logging {
        gateways.push((
            logging,
            McpGateway::start(bin, &[url.to_owned()], logging, None).await?,
        ));
    }
    // The same gateways with access control, for the shared-session loads.
    let access = args.auth.then(AccessSetup::new).transpose()?;
    let mut guarded = Vec::new();
    if let Some(access) = &access {
        for &logging in &args.logging {
            let gw = McpGateway::start(bin, &[url.to_owned()], logging, Some(access)).await?;
            guarded.push((logging, gw));
        }
    }
    let bearer: Option<Arc<str>> = access.as_ref().map(|a| Arc::from(a.bearer.as_str()));
    let shared_concurrency = args.shared_concurrency.iter().filter(|&&c| c > 0);
    let loads = args
        .concurrency
        .iter()
        .map(|&c| (format!("tools/call {}", kind.label()), c, true))
        .chain(shared_concurrency.map(|&c| (format!("shared session {}", kind.label()), c, false)));
    for (group, c, per_session) in loads {
        let legacy = if per_session {
            Drive::Sessions(call.clone(), Era::Legacy)
        } else {
            Drive::Shared(None)
        };
        let mut scenarios = vec![
            Scenario {
                group: group.clone(),
                target: "direct".into(),
                url,
                drive: legacy.clone(),
                concurrency: c,
                middle_pid: None,
                gateway: None,
            },
            Scenario {
                group: group.clone(),
                target: TCP_RELAY.into(),
                url: &relay_url,
                drive: legacy.clone(),
                concurrency: c,
                middle_pid: Some(relay.pid()),
                gateway: None,
            },
        ];
        let eras: &[Era] = if per_session {
            &[Era::Legacy, Era::Modern]
        } else {
            &[Era::Legacy]
        };
        for &era in eras {
            for (logging, gw) in &gateways {
                let drive = match &legacy {
                    Drive::Sessions(op, _) => Drive::Sessions(op.clone(), era),
                    Drive::Shared(auth) => Drive::Shared(auth.clone()),
                };
                scenarios.push(Scenario {
                    group: group.clone(),
                    target: gateway_target(era, *logging),
                    url: &gw.url,
                    drive,
                    concurrency: c,
                    middle_pid: Some(gw.pid()),
                    gateway: Some(gw),
                });
            }
        }
        if !per_session {
            for (logging, gw) in &guarded {
                scenarios.push(Scenario {
                    group: group.clone(),
                    target: access_target(*logging),
                    url: &gw.url,
                    drive: Drive::Shared(bearer.clone()),
                    concurrency: c,
                    middle_pid: Some(gw.pid()),
                    gateway: Some(gw),
                });
            }
        }
        for sc in scenarios {
            rows.push(measure(args, servers, sc).await?);
        }
    }
    Ok(())
}

/// Measures one scenario, with the gateway's log tail printed on a failure or a run with
/// errors (its temp dir, and log, are gone once it stops).
///
/// Prints one progress line on stderr (stdout is kept for the final report).
async fn measure(args: &Args, servers: &McpServers, sc: Scenario<'_>) -> Result<Row> {
    let gateway = sc.gateway;
    let row = measure_inner(args, servers, sc).await;
    if let Some(gw) = gateway {
        match &row {
            Err(_) => eprintln!("{}", gw.log_tail()),
            Ok(r) if r.load.errors > 0 => eprintln!("{}", gw.log_tail()),
            _ => {}
        }
    }
    row
}

async fn measure_inner(args: &Args, servers: &McpServers, sc: Scenario<'_>) -> Result<Row> {
    let label = format!("{} {} c={}", sc.group, sc.target, sc.concurrency);
    let connections = if args.fresh_connections {
        Connections::Fresh
    } else {
        Connections::Pooled
    };
    // Sessions opened and a probe request sent before the clock starts, so a broken target
    // fails loudly.
    enum Open {
        Sessions(Vec<super::load::Session>, Op),
        Shared(Arc<SharedSession>),
    }
    let ready = match &sc.drive {
        Drive::Sessions(op, era) => {
            let sessions = open_sessions(sc.url, sc.concurrency, *era, connections)
                .await
                .with_context(|| format!("{label}: opening sessions"))?;
            if let Some(s) = sessions.first() {
                one(s, op, 0)
                    .await
                    .with_context(|| format!("{label}: probe request to {}", sc.url))?;
            }
            Open::Sessions(sessions, op.clone())
        }
        Drive::Shared(auth) => {
            let session = SharedSession::open(sc.url, auth.as_deref())
                .await
                .with_context(|| format!("{label}: opening the shared session"))?;
            session
                .probe(ECHO)
                .await
                .with_context(|| format!("{label}: probe request to {}", sc.url))?;
            Open::Shared(session)
        }
    };

    eprint!("running {label:<48} ... ");
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    // The load task hands back what to close, closed after the window's last CPU sample.
    let load = match ready {
        Open::Sessions(sessions, op) => tokio::spawn(async move {
            let (sessions, load) = run_load(sessions, op.clone(), measure_start, end).await?;
            anyhow::Ok((load, Open::Sessions(sessions, op)))
        }),
        Open::Shared(session) => {
            let c = sc.concurrency;
            tokio::spawn(async move {
                let load =
                    shared::run_load(session.clone(), Arc::from(ECHO), c, measure_start, end)
                        .await?;
                anyhow::Ok((load, Open::Shared(session)))
            })
        }
    };
    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(servers.tid(), sc.middle_pid);
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(servers.tid(), sc.middle_pid);
    let (load, done) = load.await.context("load generator task")??;
    match done {
        Open::Sessions(sessions, _) => close_sessions(sessions).await,
        Open::Shared(session) => session.close().await,
    }

    let secs = args.duration.as_secs_f64();
    let tck = clk_tck();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / secs;
    let server_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let row = Row {
        group: sc.group,
        target: sc.target,
        concurrency: sc.concurrency,
        gateway: sc.middle_pid.map(|_| ProcStats::between(&c0, &c1, secs)),
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
