//! The `bench-mcp` output: a header (machine, load, binary) before the run, and after it one
//! table with every scenario's ratios against the direct row of its group and concurrency.
//!
//! As in `bench-http`, the report goes to stdout in one piece after the progress lines on
//! stderr, so `bench-mcp > result.txt` captures exactly the results.

use std::fmt::Write as _;
use std::path::Path;

use super::cli::Args;
use super::run::{Row, TCP_RELAY};
use super::server::ServerKind;
use crate::procfs::{cpu_model, os_release};

/// Prints what is measured and on what, before anything runs: a saved report must say which
/// machine, load and binary its numbers came from.
pub fn print_header(args: &Args, cores: usize, bin: &Path, targets: &[(ServerKind, String)]) {
    println!(
        "bench-mcp: MCP Streamable HTTP benchmark, direct vs through Switchboard (loopback only)"
    );
    println!(
        "machine: {cores} cores ({}), {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release()
    );
    println!(
        "load: tools/call with one rmcp client session per worker at concurrency {:?}, and one \
         shared session over {:?} raw keep-alive connections; tools/list at {} with {:?} targets; \
         closed loop; {:?} warm-up + {:?} measured per scenario",
        args.concurrency,
        args.shared_concurrency,
        args.list_concurrency,
        args.list_targets,
        args.warmup,
        args.duration
    );
    let setups: Vec<&str> = args.logging.iter().map(|l| l.label()).collect();
    println!(
        "switchboard logging: {} (`default`: the config as a user writes it, access log on, to a file; \
         `logs off`: RUST_LOG=warn)",
        setups.join(", ")
    );
    println!(
        "the load generator ({} tokio threads), the MCP servers (rmcp + axum, 1 dedicated thread) \
         and the gateway share the {cores} cores; compare ratios, not absolute numbers",
        args.client_threads
    );
    println!("switchboard: {}", bin.display());
    for (kind, url) in targets {
        let what = match kind {
            ServerKind::Sse => "stateful, answers SSE",
            ServerKind::Json => "stateless, answers JSON",
        };
        println!("target {}: {url} ({what}; tool `echo`)", kind.label());
    }
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
    let header = |out: &mut String, c: [&str; 17]| {
        let _ = writeln!(
            out,
            "{:<24} {:<22} {:>4} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>5} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12],
            c[13], c[14], c[15], c[16]
        );
    };
    header(
        &mut out,
        [
            "scenario", "target", "conc", "req/s", "vs dir", "p50 µs", "p99 µs", "p50 x", "p99 x",
            "errors", "gw", "gw usr", "gw sys", "gw CPU", "gw RSS", "client", "server",
        ],
    );
    header(
        &mut out,
        [
            "", "", "", "", "", "", "", "vs dir", "vs dir", "", "cores", "µs/call", "µs/call",
            "µs/call", "MiB", "cores", "cores",
        ],
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
        let dash = || "-".to_string();
        let (gw_cores, usr, sys, total, gw_rss) = match &r.gateway {
            Some(g) => {
                let per = g.per_request_us(r.load.ok, secs);
                let f = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.1}"));
                (
                    format!("{:.2}", g.cores),
                    f(per.map(|c| c.user)),
                    f(per.map(|c| c.sys)),
                    f(per.map(|c| c.total)),
                    format!("{:.1}", g.rss_kib as f64 / 1024.0),
                )
            }
            None => (dash(), dash(), dash(), dash(), dash()),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<22} {:>4} {:>8.0} {:>6} {:>7.0} {:>7.0} {:>6} {:>6} {:>6} {:>5} {:>7} {:>7} {:>7} {:>6} {:>6.2} {:>6.2}",
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
            usr,
            sys,
            total,
            gw_rss,
            r.client_cores,
            r.server_cores
        );
    }
    let _ = writeln!(out);
    write_added_latency(&mut out, rows);
    write_access_cost(&mut out, rows, secs);
    let _ = writeln!(
        out,
        "notes: `vs dir` is req/s through the gateway / direct at the same concurrency; `p50 x`, \
         `p99 x` are latency ratios (higher = slower)."
    );
    let _ = writeln!(
        out,
        "       `gw CPU µs/call` is the gateway process's CPU time (/proc, {} Hz ticks) over the \
         window / calls completed, split into user space (`gw usr`, utime) and kernel (`gw sys`, \
         stime); it includes the gateway's own client to the target. On the `tcp relay` rows \
         the `gw` columns are the relay's.",
        crate::procfs::clk_tck()
    );
    let _ = writeln!(
        out,
        "       `tools/call`: one rmcp session per worker, each with its own connections; `shared \
         session`: one session (initialize once, its Mcp-Session-Id reused) with `conc` concurrent \
         calls over as many keep-alive connections. `sse` / `json`: the target answers with SSE \
         streams (stateful) or JSON bodies (stateless). `sb modern`: 2026-07-28 stateless requests."
    );
    let _ = writeln!(
        out,
        "       tools/list direct is one server listing its one tool; through the gateway it \
         fans out to N targets (N in-process servers on the same server thread) and merges."
    );
    let _ = writeln!(
        out,
        "       `sb jwt+rule`: the same gateway with `jwtAuth` (RS256, one token reused by every \
         call) and one `mcpAuthorization` CEL rule on the route (bench/src/mcp/auth.rs)."
    );
    let _ = writeln!(
        out,
        "       echo calls answered by the servers in total (all phases, incl. warm-up): {upstream_calls}"
    );
    print!("{out}");
}

/// One line per call scenario and concurrency: the p50 each proxy adds over direct, and what a
/// gateway adds over the bytes-only relay (the part that is its own work rather than the cost
/// of one more process hop).
fn write_added_latency(out: &mut String, rows: &[Row]) {
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for r in rows.iter().filter(|r| !r.group.starts_with("tools/list")) {
        if !keys.contains(&(r.group.as_str(), r.concurrency)) {
            keys.push((r.group.as_str(), r.concurrency));
        }
    }
    for (group, c) in keys {
        let of = || {
            rows.iter()
                .filter(move |r| r.group == group && r.concurrency == c)
        };
        let p50 = |target: &str| {
            of().find(|r| r.target == target)
                .map(|r| r.load.pct_us(50.0))
                .filter(|v| v.is_finite())
        };
        let Some(direct) = p50("direct") else {
            continue;
        };
        let relay = p50(TCP_RELAY);
        let mut line = format!("added p50, {group} c={c}:");
        if let Some(relay) = relay {
            let _ = write!(line, " {TCP_RELAY} {:+.0} µs;", relay - direct);
        }
        for r in of().filter(|r| r.target != "direct" && r.target != TCP_RELAY) {
            let v = r.load.pct_us(50.0);
            if !v.is_finite() {
                continue;
            }
            let _ = write!(line, " {} {:+.0} µs", r.target, v - direct);
            if let Some(relay) = relay {
                let _ = write!(line, " ({:+.0} over the relay)", v - relay);
            }
            line.push(';');
        }
        let _ = writeln!(out, "{}", line.trim_end_matches(';'));
    }
    let _ = writeln!(out);
}

/// One line per shared-session group, concurrency and logging setup: what `jwtAuth` and one
/// CEL rule cost a call, as the guarded gateway's throughput over the open one's and the
/// difference in gateway CPU per call.
fn write_access_cost(out: &mut String, rows: &[Row], secs: f64) {
    let mut any = false;
    for guarded in rows
        .iter()
        .filter(|r| r.target.starts_with("sb jwt+rule ("))
    {
        let setup = guarded.target.trim_start_matches("sb jwt+rule ");
        let open_name = format!("switchboard {setup}");
        let Some(open) = rows.iter().find(|r| {
            r.group == guarded.group
                && r.concurrency == guarded.concurrency
                && r.target == open_name
        }) else {
            continue;
        };
        let cpu = |r: &Row| {
            r.gateway
                .as_ref()
                .and_then(|g| g.per_request_us(r.load.ok, secs))
                .map(|c| c.total)
        };
        let open_rps = open.load.rps(secs);
        let mut line = format!(
            "access control, {} c={} {setup}: throughput {} of the open route",
            guarded.group,
            guarded.concurrency,
            if open_rps > 0.0 {
                format!("{:.2}x", guarded.load.rps(secs) / open_rps)
            } else {
                "-".into()
            }
        );
        if let (Some(g), Some(o)) = (cpu(guarded), cpu(open)) {
            let _ = write!(
                line,
                ", gateway CPU {g:.1} vs {o:.1} µs/call ({:+.1})",
                g - o
            );
        }
        let _ = writeln!(out, "{line}");
        any = true;
    }
    if any {
        let _ = writeln!(out);
    }
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
