//! One `bench-llm` run: start the provider, Switchboard and LiteLLM, probe every path (so a
//! broken setup fails at once with a clear message), measure each path's throughput at
//! `--concurrency` and its latency at one connection, then the interleaved streams, and build
//! the report.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::time::Instant;

use super::cli::{Args, PathKind};
use super::client::{complete, stream, Endpoint};
use super::gateway::{self, ROUTE_PREFIX};
use super::litellm::{find_litellm, install_hint, LiteLlm};
use super::load::{run_load, run_streams, StreamRun};
use super::picker::Picker;
use super::provider::Provider;
use super::report::{header, summary};
use crate::a2a::client::connect;
use crate::a2a::load::Latencies;
use crate::procfs::{clk_tck, CpuSample, ProcStats};
use crate::switchboard_process::SwitchboardProcess;
use crate::targets::switchboard::{debug_banner, find_switchboard, is_debug_build};

/// Bound on each probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// One measured load: a row of the report.
pub struct LoadRow {
    /// `direct`, `switchboard` or `litellm`.
    pub path: &'static str,
    pub concurrency: usize,
    pub load: Latencies,
    /// The process in the middle (its whole tree); `None` for direct.
    pub mid: Option<ProcStats>,
    /// This process minus the provider thread, in cores: whether the client was the bottleneck.
    pub client_cores: f64,
    pub provider_cores: f64,
    /// Connections the provider accepted during the row (warm-up included).
    pub provider_conns: u64,
}

/// What a run measured, and its report.
pub struct Outcome {
    pub rows: Vec<LoadRow>,
    /// The paths in the order of `streams.stats`, direct first.
    pub paths: Vec<&'static str>,
    pub streams: StreamRun,
    /// Per path, the content of the probe's completion and of its stream.
    pub probes: Vec<(&'static str, String, String)>,
    /// Paths left out, with the reason.
    pub skipped: Vec<String>,
    /// The whole report: the header, the tables and the goal lines.
    pub text: String,
}

/// A path and the process behind it.
struct Target {
    ep: Endpoint,
    pid: Option<u32>,
}

/// Runs every measurement and prints the report.
pub async fn run(args: Args) -> Result<()> {
    let out = measure_all(&args).await?;
    print!("{}", out.text);
    Ok(())
}

/// Runs every measurement; the report is in the result (the binary prints it, the test reads
/// it). Progress goes to stderr.
pub async fn measure_all(args: &Args) -> Result<Outcome> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let provider = Provider::start(args.tokens, args.token_delay)?;
    let v1 = provider.v1();
    let mut skipped = Vec::new();
    let mut targets = vec![Target {
        ep: Endpoint {
            name: "direct",
            addr: provider.addr,
            base: "/v1".into(),
            key: "x".into(),
        },
        pid: None,
    }];

    let mut sb: Option<SwitchboardProcess> = None;
    let mut sb_bin = None;
    if args.wants(PathKind::Switchboard) {
        let bin = find_switchboard(args.switchboard.as_deref()).context(
            "no switchboard binary found; build it (cargo build --release -p gateway) or pass --switchboard PATH",
        )?;
        if !bin.is_file() {
            bail!("--switchboard {}: no such file", bin.display());
        }
        if is_debug_build(&bin) {
            eprintln!("{}", debug_banner(&bin));
        }
        let p = gateway::start(&bin, &v1, args.logging).await?;
        targets.push(Target {
            ep: Endpoint {
                name: "switchboard",
                addr: ([127, 0, 0, 1], p.port).into(),
                base: format!("{ROUTE_PREFIX}/v1"),
                key: "x".into(),
            },
            pid: Some(p.pid()),
        });
        sb = Some(p);
        sb_bin = Some(bin);
    }

    // The same gateway with the provider behind an `inferencePool` and a loopback picker.
    let mut sb_epp: Option<(SwitchboardProcess, Picker)> = None;
    if args.wants(PathKind::SwitchboardEpp) {
        let bin = match &sb_bin {
            Some(b) => b.clone(),
            None => find_switchboard(args.switchboard.as_deref())
                .context("no switchboard binary found for switchboard-epp")?,
        };
        let picker = Picker::start().await?;
        let p = gateway::start_epp(
            &bin,
            &provider.addr.to_string(),
            &picker.addr.to_string(),
            args.logging,
        )
        .await?;
        targets.push(Target {
            ep: Endpoint {
                name: "sb-epp",
                addr: ([127, 0, 0, 1], p.port).into(),
                base: format!("{ROUTE_PREFIX}/v1"),
                key: "x".into(),
            },
            pid: Some(p.pid()),
        });
        if sb_bin.is_none() {
            sb_bin = Some(bin);
        }
        sb_epp = Some((p, picker));
    }

    let mut lite: Option<LiteLlm> = None;
    let mut lite_bin = None;
    if args.wants(PathKind::Litellm) {
        match find_litellm(args.litellm.as_deref()) {
            None => {
                let msg = format!(
                    "litellm: not run: NOT FOUND, its column is skipped; {}",
                    install_hint()
                );
                eprintln!("{msg}");
                skipped.push(msg);
            }
            Some(bin) => {
                eprint!("starting {} (takes seconds) ... ", bin.display());
                let l = LiteLlm::start(&bin, &v1, args.litellm_workers).await?;
                eprintln!("ready");
                targets.push(Target {
                    ep: Endpoint {
                        name: "litellm",
                        addr: l.addr,
                        base: "/v1".into(),
                        key: l.master_key.clone(),
                    },
                    pid: Some(l.pid()),
                });
                lite = Some(l);
                lite_bin = Some(bin);
            }
        }
    }
    let log_tail = |name: &str| match name {
        "switchboard" => sb.as_ref().map(|p| p.log_tail()),
        "sb-epp" => sb_epp.as_ref().map(|(p, _)| p.log_tail()),
        "litellm" => lite.as_ref().map(|l| l.log_tail()),
        _ => None,
    };

    let mut text = header(
        args,
        cores,
        sb_bin.as_deref(),
        lite_bin.as_deref(),
        &targets.iter().map(|t| t.ep.clone()).collect::<Vec<_>>(),
    );
    eprint!("{text}");

    let mut probes = Vec::new();
    for t in &targets {
        match probe(&t.ep, args.tokens).await {
            Ok((a, b)) => probes.push((t.ep.name, a, b)),
            Err(e) => {
                if let Some(tail) = log_tail(t.ep.name) {
                    eprintln!("{tail}");
                }
                return Err(e.context(format!("probing {} ({})", t.ep.name, t.ep.url())));
            }
        }
    }

    let mut rows = Vec::new();
    let mut concs = vec![args.concurrency];
    if args.concurrency != 1 {
        concs.push(1);
    }
    for t in &targets {
        for &c in &concs {
            let row = measure_load(args, &provider, &t.ep, c, t.pid).await?;
            if row.load.errors > 0 {
                if let Some(tail) = log_tail(t.ep.name) {
                    eprintln!("{tail}");
                }
            }
            rows.push(row);
        }
    }

    let eps: Vec<Endpoint> = targets.iter().map(|t| t.ep.clone()).collect();
    eprint!(
        "running {:<36} ... ",
        format!("{} streams x{}", args.streams, eps.len())
    );
    if args.stream_warmup > 0 {
        run_streams(&eps, args.tokens, args.stream_warmup).await?;
    }
    let streams = run_streams(&eps, args.tokens, args.streams).await?;
    for (ep, s) in eps.iter().zip(&streams.stats) {
        eprint!(
            "{} {:.0} µs ({} errors); ",
            ep.name,
            s.first_token.pct_us(50.0),
            s.first_token.errors
        );
    }
    eprintln!();

    text.push_str(&summary(args, cores, &rows, &eps, &streams, &skipped));
    drop(sb);
    drop(lite);
    Ok(Outcome {
        rows,
        paths: eps.iter().map(|e| e.name).collect(),
        streams,
        probes,
        skipped,
        text,
    })
}

/// One completion and one stream through `ep`, both checked; returns their contents.
async fn probe(ep: &Endpoint, tokens: usize) -> Result<(String, String)> {
    eprint!("probing {} ... ", ep.name);
    let r = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut c = connect(ep.addr, PROBE_TIMEOUT).await?;
        let whole = complete(&mut c, ep, tokens).await.context("a completion")?;
        // The same connection: wait until hyper has taken it back from the first exchange.
        c.ready()
            .await
            .context("the connection after a completion")?;
        let streamed = stream(&mut c, ep, tokens).await.context("a stream")?;
        anyhow::Ok((whole, streamed.state.content))
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out after {PROBE_TIMEOUT:?}"))
    .and_then(|r| r);
    eprintln!("{}", if r.is_ok() { "ok" } else { "FAILED" });
    r
}

/// One load row: warm-up, then the window with CPU samples at its edges.
async fn measure_load(
    args: &Args,
    provider: &Provider,
    ep: &Endpoint,
    concurrency: usize,
    pid: Option<u32>,
) -> Result<LoadRow> {
    eprint!(
        "running {:<36} ... ",
        format!("{} c={concurrency}", ep.name)
    );
    let conns0 = provider.accepted();
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let ep_c = ep.clone();
    let tokens = args.tokens;
    let load =
        tokio::spawn(async move { run_load(&ep_c, concurrency, tokens, measure_start, end).await });
    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(provider.tid(), pid);
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(provider.tid(), pid);
    let load = load.await.context("load generator task")??;

    let secs = args.duration.as_secs_f64();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / clk_tck() / secs;
    let provider_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let row = LoadRow {
        path: ep.name,
        concurrency,
        mid: pid.map(|_| ProcStats::between(&c0, &c1, secs)),
        client_cores: cores_of(c0.self_ticks, c1.self_ticks) - provider_cores,
        provider_cores,
        provider_conns: provider.accepted() - conns0,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::llm::wire::reply_text;

    /// The harness end to end on loopback, tiny counts, no LiteLLM: the provider's replies
    /// parse, Switchboard's `ai` path carries the same content as direct (JSON and streamed),
    /// every row measured requests without errors, and the report has every row and says the
    /// LiteLLM column was not run. Needs the switchboard binary (`scripts/test.sh` builds it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_and_switchboard_rows_with_the_same_content() {
        let args = Args::parse_from([
            "bench-llm",
            "--only",
            "direct,switchboard",
            "--concurrency",
            "4",
            "--duration",
            "300ms",
            "--warmup",
            "100ms",
            "--streams",
            "5",
            "--stream-warmup",
            "1",
            "--tokens",
            "4",
        ]);
        args.validate().unwrap();
        let out = measure_all(&args).await.expect("the run");
        let want = reply_text(4);
        assert_eq!(out.probes.len(), 2);
        for (path, whole, streamed) in &out.probes {
            assert_eq!(whole, &want, "{path}");
            assert_eq!(streamed, &want, "{path}");
        }
        assert_eq!(out.paths, ["direct", "switchboard"]);
        assert_eq!(out.rows.len(), 4);
        for r in &out.rows {
            assert!(r.load.ok > 0, "{} c={}: no requests", r.path, r.concurrency);
            assert_eq!(r.load.errors, 0, "{:?}", r.load.first_error);
            assert_eq!(r.mid.is_some(), r.path == "switchboard");
        }
        for (p, s) in out.paths.iter().zip(&out.streams.stats) {
            assert_eq!(s.first_token.ok, 5, "{p}: {:?}", s.first_token.first_error);
        }
        assert_eq!(out.streams.paired_diff_us[1].len(), 5);
        let t = &out.text;
        for needle in [
            "\ndirect ",
            "\nswitchboard ",
            "time to first token",
            "goal: throughput",
            "goal: added p50",
            "goal: added time to first token",
            "litellm: not run",
        ] {
            assert!(t.contains(needle), "{needle:?} missing from:\n{t}");
        }
        assert_eq!(t.matches("\nswitchboard ").count(), 3, "{t}");
    }
}
