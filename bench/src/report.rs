//! The output: a header describing the machine and the load before the run, and after it a
//! table of the targets (ratios against direct) with per-target CPU lines and reading notes.
//!
//! The report goes to stdout in one piece, after all progress lines on stderr, so that
//! `bench-http > result.txt` captures exactly the results.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::cli::Args;
use crate::measure::Row;
use crate::procfs::{cpu_model, os_release};

/// Prints what is being measured and on what, before anything runs: a saved report must say
/// which machine and load its numbers came from.
pub fn print_header(args: &Args, cores: usize, upstream: SocketAddr) {
    println!("bench-http: plain HTTP/1.1 reverse-proxy benchmark (loopback only)");
    println!(
        "machine: {cores} cores ({}), {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release()
    );
    println!(
        "load: {} keep-alive connections, closed loop, GET / -> {} B body; {:?} warm-up + {:?} measured per target",
        args.concurrency, args.body_size, args.warmup, args.duration
    );
    println!(
        "the load generator ({} tokio thread{}) and the upstream (in-process hyper 1, 1 dedicated thread) \
         share the {cores} cores with the proxy under test; compare ratios, not absolute numbers",
        args.client_threads,
        if args.client_threads == 1 { "" } else { "s" },
    );
    println!("upstream: http://{upstream}");
}

/// Prints the results table, one CPU line per target, the skipped targets and the notes on
/// reading them. `rounds` holds each target's reported (median) row with the min and max req/s
/// over its rounds.
pub fn print_summary(args: &Args, cores: usize, rounds: &[(Row, f64, f64)], skipped: &[String]) {
    let secs = args.duration.as_secs_f64();
    let rows: Vec<&Row> = rounds.iter().map(|(r, _, _)| r).collect();
    let direct = rows.iter().copied().find(|r| r.label == "direct");
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "== results: {} connections, {:?} measured{}, {} B responses, {cores} cores shared by load generator + upstream + proxy ==",
        args.concurrency,
        args.duration,
        if args.rounds > 1 {
            format!(", median of {} rounds", args.rounds)
        } else {
            String::new()
        },
        args.body_size
    );
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "target",
        "req/s",
        "vs dir",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "+p50 µs",
        "+p99 µs",
        "errors",
        "proxy",
        "proxy µs",
        "proxy"
    );
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "", "", "", "", "", "", "", "", "", "cores", "CPU/req", "RSS MiB"
    );
    for r in rows.iter().copied() {
        let rps = r.load.rps(secs);
        let (ratio, dp50, dp99) = match direct {
            Some(d) if d.label != r.label => (
                format!("{:.2}x", rps / d.load.rps(secs)),
                format!("{:+.0}", r.load.pct_us(50.0) - d.load.pct_us(50.0)),
                format!("{:+.0}", r.load.pct_us(99.0) - d.load.pct_us(99.0)),
            ),
            Some(_) => ("1.00x".into(), "-".into(), "-".into()),
            None => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        let (pc, pcpu, prss) = match &r.proxy {
            Some(p) => (
                format!("{:.2}", p.cores),
                if rps > 0.0 {
                    format!("{:.1}", p.cores * 1e6 / rps)
                } else {
                    "-".into()
                },
                format!("{:.1}", p.rss_kib as f64 / 1024.0),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<20} {:>10.0} {:>8} {:>8.0} {:>8.0} {:>9.0} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
            r.label,
            rps,
            ratio,
            r.load.pct_us(50.0),
            r.load.pct_us(99.0),
            r.load.pct_us(99.9),
            dp50,
            dp99,
            r.load.errors,
            pc,
            pcpu,
            prss
        );
    }
    let _ = writeln!(out);
    for (r, lo, hi) in rounds {
        let _ = write!(
            out,
            "  {:<20} CPU: load generator {:.2} cores, upstream {:.2} cores; upstream saw {:.0} req/s; reconnects {}",
            r.label, r.client_cores, r.upstream_cores, r.upstream_rps, r.load.reconnects
        );
        if args.rounds > 1 {
            let _ = write!(out, "; req/s over rounds {lo:.0}..{hi:.0}");
        }
        if !r.note.is_empty() {
            let _ = write!(out, "; {}", r.note);
        }
        let _ = writeln!(out);
        if let Some(w) = &r.wrk {
            let _ = writeln!(
                out,
                "  {:<20} wrk cross-check: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs",
                "", w.rps, w.p50_us, w.p99_us
            );
        }
    }
    for s in skipped {
        let _ = writeln!(out, "  skipped {s}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "notes: \"vs dir\" is throughput relative to the direct run; +p50/+p99 is latency added over direct."
    );
    let _ = writeln!(
        out,
        "       proxy cores = CPU time of the proxy's process tree / measured time; proxy µs CPU/req is its cost per request."
    );
    let _ = writeln!(
        out,
        "       Closed-loop load: latency percentiles do not include queueing a fixed-rate client would see (coordinated omission)."
    );
    let nginx_auto = rows
        .iter()
        .copied()
        .find(|r| r.label.contains("workers auto"));
    let _ = writeln!(
        out,
        "       Fairest nginx row: `workers auto` ({cores} worker processes): the same core budget as Switchboard, whose tokio \
         runtime runs one worker thread per core. `workers 1` is shown for reference; with the load generator and the \
         upstream on the same {cores} cores it can land either side of `auto` and varies most between runs (use --rounds)."
    );
    if let (Some(sb), Some(ng)) = (
        rows.iter().copied().find(|r| r.label == "switchboard"),
        nginx_auto.or_else(|| rows.iter().copied().find(|r| r.label.starts_with("nginx"))),
    ) {
        let _ = writeln!(
            out,
            "       switchboard vs {}: throughput {:.2}x, p50 {:+.0} µs, p99 {:+.0} µs",
            ng.label,
            sb.load.rps(secs) / ng.load.rps(secs).max(1e-9),
            sb.load.pct_us(50.0) - ng.load.pct_us(50.0),
            sb.load.pct_us(99.0) - ng.load.pct_us(99.0),
        );
    }
    print!("{out}");
}
