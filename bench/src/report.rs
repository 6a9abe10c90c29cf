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
    let setups: Vec<&str> = args.logging.iter().map(|l| l.label()).collect();
    println!(
        "logging: Switchboard and nginx each run with {} (see the notes under the results)",
        setups.join(", ")
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
    let header = |out: &mut String, cells: [&str; 15]| {
        let _ = writeln!(
            out,
            "{:<26} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7],
            cells[8], cells[9], cells[10], cells[11], cells[12], cells[13], cells[14]
        );
    };
    header(
        &mut out,
        [
            "target",
            "req/s",
            "vs dir",
            "vs ngx",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "+p50 µs",
            "+p99 µs",
            "errors",
            "proxy",
            "usr µs",
            "sys µs",
            "CPU µs",
            "proxy",
        ],
    );
    header(
        &mut out,
        [
            "", "", "", "", "", "", "", "", "", "", "cores", "/req", "/req", "/req", "RSS MiB",
        ],
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
        let vs_nginx = match nginx_reference(&rows, r) {
            Some(n) => format!("{:.2}x", rps / n.load.rps(secs).max(1e-9)),
            None => "-".into(),
        };
        let dash = || "-".to_string();
        let (pc, usr, sys, total, prss) = match &r.proxy {
            Some(p) => {
                let per = p.per_request_us(r.load.ok, secs);
                let f = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.1}"));
                (
                    format!("{:.2}", p.cores),
                    f(per.map(|c| c.user)),
                    f(per.map(|c| c.sys)),
                    f(per.map(|c| c.total)),
                    format!("{:.1}", p.rss_kib as f64 / 1024.0),
                )
            }
            None => (dash(), dash(), dash(), dash(), dash()),
        };
        let _ = writeln!(
            out,
            "{:<26} {:>9.0} {:>7} {:>7} {:>7.0} {:>7.0} {:>8.0} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7}",
            r.label,
            rps,
            ratio,
            vs_nginx,
            r.load.pct_us(50.0),
            r.load.pct_us(99.0),
            r.load.pct_us(99.9),
            dp50,
            dp99,
            r.load.errors,
            pc,
            usr,
            sys,
            total,
            prss
        );
    }
    let _ = writeln!(out);
    for (r, lo, hi) in rounds {
        let _ = write!(
            out,
            "  {:<26} CPU: load generator {:.2} cores, upstream {:.2} cores; upstream saw {:.0} req/s; reconnects {}",
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
                "  {:<26} wrk cross-check: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs",
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
        "       proxy cores = CPU time of the proxy's process tree / measured time; CPU µs/req is its cost per request."
    );
    let _ = writeln!(
        out,
        "       Closed-loop load: latency percentiles do not include queueing a fixed-rate client would see (coordinated omission)."
    );
    let _ = writeln!(
        out,
        "       `vs ngx` is throughput relative to the nginx row with the same logging (`w=auto` when run: one worker \
         per core, the same core budget as Switchboard's tokio runtime; `w=1` is for reference and varies most \
         between runs, use --rounds). usr/sys µs/req split the proxy's CPU per request into user space and kernel \
         (utime/stime from /proc/<pid>/stat)."
    );
    let _ = writeln!(
        out,
        "       Logging: `default` is each proxy as it ships (Switchboard's access log on, to stderr redirected to a \
         file; nginx's combined access log to a file); `logs off` / `log off` silences both."
    );
    for sb in rows
        .iter()
        .copied()
        .filter(|r| r.label.starts_with("switchboard"))
    {
        for ng in rows.iter().copied().filter(|r| is_nginx_auto(r)) {
            let _ = writeln!(
                out,
                "       {} vs {}: throughput {:.2}x, p50 {:+.0} µs, p99 {:+.0} µs",
                sb.label,
                ng.label,
                sb.load.rps(secs) / ng.load.rps(secs).max(1e-9),
                sb.load.pct_us(50.0) - ng.load.pct_us(50.0),
                sb.load.pct_us(99.0) - ng.load.pct_us(99.0),
            );
        }
    }
    print!("{out}");
}

fn is_nginx(r: &Row) -> bool {
    r.label.starts_with("nginx")
}

fn is_nginx_auto(r: &Row) -> bool {
    is_nginx(r) && r.label.contains("w=auto")
}

/// The nginx row a row's `vs ngx` compares with: the same logging setup, `w=auto` if it ran,
/// else the first nginx row with that setup. `None` for direct or when nginx did not run.
fn nginx_reference<'a>(rows: &[&'a Row], r: &Row) -> Option<&'a Row> {
    let logging = r.logging?;
    let same = || {
        rows.iter()
            .copied()
            .filter(move |n| is_nginx(n) && n.logging == Some(logging))
    };
    same().find(|n| is_nginx_auto(n)).or_else(|| same().next())
}
