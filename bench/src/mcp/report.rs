//! The `bench-mcp` output: a header (machine, load, binary) before the run, and after it one
//! table with every scenario's ratios against the direct row of its group and concurrency.
//!
//! As in `bench-http`, the report goes to stdout in one piece after the progress lines on
//! stderr, so `bench-mcp > result.txt` captures exactly the results.

use std::fmt::Write as _;
use std::path::Path;

use super::cli::Args;
use super::run::{Row, TCP_RELAY};
use crate::procfs::{cpu_model, os_release};

/// Prints what is measured and on what, before anything runs: a saved report must say which
/// machine, load and binary its numbers came from.
pub fn print_header(args: &Args, cores: usize, bin: &Path, upstream: &str) {
    println!(
        "bench-mcp: MCP Streamable HTTP benchmark, direct vs through Switchboard (loopback only)"
    );
    println!(
        "machine: {cores} cores ({}), {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release()
    );
    println!(
        "load: one rmcp client session per worker, closed loop; tools/call at concurrency {:?}, \
         tools/list at {} with {:?} targets; {:?} warm-up + {:?} measured per scenario",
        args.concurrency, args.list_concurrency, args.list_targets, args.warmup, args.duration
    );
    println!(
        "the load generator ({} tokio threads), the MCP servers (rmcp + axum, 1 dedicated thread) \
         and the gateway share the {cores} cores; compare ratios, not absolute numbers",
        args.client_threads
    );
    println!("switchboard: {}", bin.display());
    println!("upstream: {upstream} (tool `echo`)");
}

/// Prints the results table and the notes on reading it. `upstream_calls` is the servers'
/// total count of answered `echo` calls, a cross-check that calls really went through.
pub fn print_summary(args: &Args, cores: usize, rows: &[Row], upstream_calls: u64) {
    let secs = args.duration.as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "== results: {:?} measured per row, {cores} cores shared by load generator + servers + gateway ==",
        args.duration
    );
    let _ = writeln!(
        out,
        "{:<24} {:<12} {:>4} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7} {:>6} {:>6} {:>8} {:>7} {:>7} {:>7}",
        "scenario", "target", "conc", "req/s", "vs dir", "p50 µs", "p99 µs", "p50 x", "p99 x",
        "errors", "gw", "gw µs", "gw RSS", "client", "server"
    );
    let _ = writeln!(
        out,
        "{:<24} {:<12} {:>4} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7} {:>6} {:>6} {:>8} {:>7} {:>7} {:>7}",
        "", "", "", "", "", "", "", "vs dir", "vs dir", "", "cores", "CPU/call", "MiB", "cores",
        "cores"
    );
    for r in rows {
        let rps = r.load.rps(secs);
        let direct = rows
            .iter()
            .find(|d| d.target == "direct" && d.group == r.group && d.concurrency == r.concurrency);
        let ratio = |a: f64, b: f64| {
            if b > 0.0 && a.is_finite() && b.is_finite() {
                format!("{:.2}", a / b)
            } else {
                "-".into()
            }
        };
        let (vs, p50x, p99x) = match direct {
            Some(d) if r.target != "direct" => (
                ratio(rps, d.load.rps(secs)),
                ratio(r.load.pct_us(50.0), d.load.pct_us(50.0)),
                ratio(r.load.pct_us(99.0), d.load.pct_us(99.0)),
            ),
            _ => ("1.00".into(), "1.00".into(), "1.00".into()),
        };
        let (gw_cores, gw_us, gw_rss) = match &r.gateway {
            Some(g) => {
                let per_call = if r.load.ok > 0 {
                    format!("{:.1}", g.cores * secs * 1e6 / r.load.ok as f64)
                } else {
                    "-".into()
                };
                (
                    format!("{:.2}", g.cores),
                    per_call,
                    format!("{:.1}", g.rss_kib as f64 / 1024.0),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<12} {:>4} {:>9.0} {:>7} {:>8.0} {:>8.0} {:>7} {:>7} {:>6} {:>6} {:>8} {:>7} {:>7.2} {:>7.2}",
            r.group,
            r.target,
            r.concurrency,
            rps,
            vs,
            r.load.pct_us(50.0),
            r.load.pct_us(99.0),
            p50x,
            p99x,
            r.load.errors,
            gw_cores,
            gw_us,
            gw_rss,
            r.client_cores,
            r.server_cores
        );
    }
    let _ = writeln!(out);
    write_added_latency(&mut out, rows);
    let _ = writeln!(
        out,
        "notes: `vs dir` is req/s through the gateway / direct at the same concurrency; `p50 x`, \
         `p99 x` are latency ratios (higher = slower)."
    );
    let _ = writeln!(
        out,
        "       `gw µs CPU/call` is the gateway process's CPU time (/proc, {} Hz ticks) over the \
         window / calls completed; it includes the gateway's own rmcp client to the target. \
         On the `tcp relay` rows the `gw` columns are the relay's.",
        crate::procfs::clk_tck()
    );
    let _ = writeln!(
        out,
        "       tools/list direct is one server listing its one tool; through the gateway it \
         fans out to N targets (N in-process servers on the same server thread) and merges."
    );
    let _ = writeln!(
        out,
        "       echo calls answered by the servers in total (all phases, incl. warm-up): {upstream_calls}"
    );
    print!("{out}");
}

/// One line per `tools/call` concurrency: the p50 each proxy adds over direct, and what
/// Switchboard adds over the bytes-only relay (the part that is its own work rather than the
/// cost of one more process hop).
fn write_added_latency(out: &mut String, rows: &[Row]) {
    let calls = || rows.iter().filter(|r| r.group == "tools/call");
    let mut concurrencies: Vec<usize> = calls().map(|r| r.concurrency).collect();
    concurrencies.dedup();
    for c in concurrencies {
        let p50 = |target: &str| {
            calls()
                .find(|r| r.concurrency == c && r.target == target)
                .map(|r| r.load.pct_us(50.0))
                .filter(|v| v.is_finite())
        };
        let (Some(direct), Some(relay)) = (p50("direct"), p50(TCP_RELAY)) else {
            continue;
        };
        let mut line = format!(
            "added p50, tools/call c={c}: {TCP_RELAY} {:+.0} µs",
            relay - direct
        );
        for target in ["switchboard", "switchboard modern"] {
            if let Some(v) = p50(target) {
                let _ = write!(
                    line,
                    "; {target} {:+.0} µs ({:+.0} over the relay)",
                    v - direct,
                    v - relay
                );
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
}

/// The idle-sessions line.
pub fn print_idle(idle: &super::idle::IdleSessions) {
    println!(
        "idle legacy sessions: {} opened (initialize + initialized, then quiet); gateway RSS \
         {:.1} -> {:.1} MiB = {:.2} KiB per session; {}/{} probed sessions still answer tools/list",
        idle.sessions,
        idle.rss_before_kib as f64 / 1024.0,
        idle.rss_after_kib as f64 / 1024.0,
        idle.bytes_per_session() / 1024.0,
        idle.probes_ok,
        idle.probes,
    );
}
