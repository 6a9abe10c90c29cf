//! The `bench-llm` report: a header (machine, load, binaries, paths), the non-streamed table
//! with ratios against direct and against LiteLLM, the time-to-first-token table, and the goal
//! lines of issue 15.
//!
//! Built as one string: the binary prints it to stdout after the progress lines on stderr, so
//! `bench-llm > result.txt` captures exactly the results, and the test reads it.

use std::fmt::Write as _;
use std::path::Path;

use super::cli::Args;
use super::client::Endpoint;
use super::load::StreamRun;
use super::run::LoadRow;
use crate::a2a::stream::median;
use crate::procfs::{clk_tck, cpu_model, os_release};

/// Switchboard's throughput at `--concurrency` against LiteLLM's: at least this many times.
pub const GOAL_THROUGHPUT_X: f64 = 10.0;
/// Added p50 latency at one connection, non-streamed: under this.
pub const GOAL_ADDED_P50_US: f64 = 200.0;
/// Added p50 time to first token: under this.
pub const GOAL_ADDED_TTFT_US: f64 = 500.0;

/// What is measured and on what.
pub fn header(
    args: &Args,
    cores: usize,
    switchboard: Option<&Path>,
    litellm: Option<&Path>,
    eps: &[Endpoint],
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "bench-llm: OpenAI chat completions, direct vs through Switchboard's `ai` backend vs \
         through LiteLLM's proxy (loopback only)"
    );
    let _ = writeln!(
        o,
        "machine: {cores} cores ({}), {}; load average at start: {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    );
    let _ = writeln!(
        o,
        "provider: in-process hyper server (1 thread), reply of {} tokens; streamed as one chunk \
         per token{}, usage chunk when asked, [DONE]",
        args.tokens,
        if args.token_delay.is_zero() {
            ", back to back".to_string()
        } else {
            format!(", {:?} apart", args.token_delay)
        }
    );
    let _ = writeln!(
        o,
        "load: non-streamed completions on keep-alive connections, closed loop, at concurrency \
         {} and 1; {:?} warm-up + {:?} measured per row; then {} (+{} warm-up) streams per path \
         with stream_options.include_usage, one at a time, paths interleaved",
        args.concurrency, args.warmup, args.duration, args.streams, args.stream_warmup
    );
    let _ = writeln!(
        o,
        "the load generator ({} tokio threads), the provider and the process in the middle \
         share the {cores} cores; compare ratios and differences, not absolute numbers",
        args.client_threads
    );
    if let Some(b) = switchboard {
        let _ = writeln!(
            o,
            "switchboard: {} (logging: {}; one route /llm to an `ai` backend, one \
             openaiCompatible provider)",
            b.display(),
            args.logging.label()
        );
    }
    if let Some(b) = litellm {
        let _ = writeln!(
            o,
            "litellm: {} (offline, master key, model openai/bench-model, workers: {}, logging \
             as shipped)",
            b.display(),
            args.litellm_workers
                .map_or_else(|| "its default".to_string(), |w| w.to_string())
        );
    }
    for ep in eps {
        let _ = writeln!(o, "  {:<12} {}", ep.name, ep.url());
    }
    o
}

/// `a / b` with two decimals, `-` when undefined.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

/// `a - b` in µs with a sign, `-` when undefined.
fn added(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() {
        format!("{:+.0}", a - b)
    } else {
        "-".into()
    }
}

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}

/// One table line: the first cell left-aligned, the others right-aligned, to `widths`.
fn cols(widths: &[usize], cells: &[&str]) -> String {
    let mut line = String::new();
    for (i, (w, c)) in widths.iter().zip(cells).enumerate() {
        if i == 0 {
            let _ = write!(line, "{c:<w$}");
        } else {
            let _ = write!(line, " {c:>w$}");
        }
    }
    line
}

fn row_of<'a>(rows: &'a [LoadRow], path: &str, conc: usize) -> Option<&'a LoadRow> {
    rows.iter()
        .find(|r| r.path == path && r.concurrency == conc)
}

const LOAD_WIDTHS: [usize; 18] = [11, 4, 7, 6, 6, 7, 7, 7, 7, 6, 5, 7, 7, 7, 6, 6, 5, 5];

/// The tables and the goal lines.
pub fn summary(
    args: &Args,
    cores: usize,
    rows: &[LoadRow],
    eps: &[Endpoint],
    streams: &StreamRun,
    skipped: &[String],
) -> String {
    let secs = args.duration.as_secs_f64();
    let mut o = String::new();
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "== non-streamed chat completions: {:?} measured per row, {cores} cores shared by load \
         generator + provider + middle ==",
        args.duration
    );
    let head = [
        "path", "conc", "req/s", "vs dir", "vs LLM", "p50 µs", "p99 µs", "+p50 µs", "+p99 µs",
        "errors", "mid", "usr µs", "sys µs", "CPU µs", "RSS", "client", "prov", "prov",
    ];
    let head2 = [
        "", "", "", "", "", "", "", "", "", "", "cores", "/req", "/req", "/req", "MiB", "cores",
        "cores", "conns",
    ];
    let _ = writeln!(o, "{}", cols(&LOAD_WIDTHS, &head));
    let _ = writeln!(o, "{}", cols(&LOAD_WIDTHS, &head2));
    for r in rows {
        let rps = r.load.rps(secs);
        let d = row_of(rows, "direct", r.concurrency);
        let l = row_of(rows, "litellm", r.concurrency);
        let (vs_dir, a50, a99) = match d {
            Some(d) if r.path != "direct" => (
                ratio(rps, d.load.rps(secs)),
                added(r.load.pct_us(50.0), d.load.pct_us(50.0)),
                added(r.load.pct_us(99.0), d.load.pct_us(99.0)),
            ),
            _ => ("1.00".into(), "-".into(), "-".into()),
        };
        let vs_llm = match l {
            Some(l) if r.path == "switchboard" => ratio(rps, l.load.rps(secs)),
            _ => "-".into(),
        };
        let per = r
            .mid
            .as_ref()
            .and_then(|m| m.per_request_us(r.load.ok, secs));
        let (cores_s, usr, sys, tot, rss) = match (&r.mid, per) {
            (Some(m), Some(p)) => (
                num(m.cores, 2),
                num(p.user, 1),
                num(p.sys, 1),
                num(p.total, 1),
                num(m.rss_kib as f64 / 1024.0, 1),
            ),
            (Some(m), None) => (
                num(m.cores, 2),
                "-".into(),
                "-".into(),
                "-".into(),
                num(m.rss_kib as f64 / 1024.0, 1),
            ),
            _ => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            o,
            "{}",
            cols(
                &LOAD_WIDTHS,
                &[
                    r.path,
                    &r.concurrency.to_string(),
                    &num(rps, 0),
                    &vs_dir,
                    &vs_llm,
                    &num(r.load.pct_us(50.0), 0),
                    &num(r.load.pct_us(99.0), 0),
                    &a50,
                    &a99,
                    &r.load.errors.to_string(),
                    &cores_s,
                    &usr,
                    &sys,
                    &tot,
                    &rss,
                    &num(r.client_cores, 2),
                    &num(r.provider_cores, 2),
                    &r.provider_conns.to_string(),
                ]
            )
        );
    }
    for r in rows {
        if let Some(e) = &r.load.first_error {
            let _ = writeln!(o, "  {} c={} first error: {e}", r.path, r.concurrency);
        }
    }

    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "== streams: time to first token (request written -> first chunk with content parsed), \
         one stream at a time =="
    );
    let sw = [11, 7, 8, 8, 8, 8, 9, 9, 6];
    let _ = writeln!(
        o,
        "{}",
        cols(
            &sw,
            &[
                "path", "streams", "p50 µs", "p99 µs", "+p50 µs", "+p99 µs", "paired", "[DONE]",
                "errors"
            ]
        )
    );
    let _ = writeln!(
        o,
        "{}",
        cols(&sw, &["", "", "", "", "", "", "med µs", "p50 µs", ""])
    );
    let d = streams.stats.first().map(|s| &s.first_token);
    for (i, (ep, s)) in eps.iter().zip(&streams.stats).enumerate() {
        let f = &s.first_token;
        let (a50, a99, paired) = match d {
            Some(d) if i > 0 => (
                added(f.pct_us(50.0), d.pct_us(50.0)),
                added(f.pct_us(99.0), d.pct_us(99.0)),
                format!("{:+.0}", median(&streams.paired_diff_us[i])),
            ),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            o,
            "{}",
            cols(
                &sw,
                &[
                    ep.name,
                    &f.ok.to_string(),
                    &num(f.pct_us(50.0), 0),
                    &num(f.pct_us(99.0), 0),
                    &a50,
                    &a99,
                    &paired,
                    &num(s.total.pct_us(50.0), 0),
                    &f.errors.to_string(),
                ]
            )
        );
        if let Some(e) = &f.first_error {
            let _ = writeln!(o, "  {} first error: {e}", ep.name);
        }
    }

    let _ = writeln!(o);
    goals(&mut o, args, rows, streams, eps);
    if !eps.iter().any(|e| e.name == "litellm") {
        if skipped.is_empty() {
            let _ = writeln!(o, "litellm: not run (not in --only)");
        }
        for s in skipped {
            let _ = writeln!(o, "{s}");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "notes: `vs dir` is req/s over direct's at the same concurrency, `vs LLM` Switchboard's \
         over LiteLLM's; +p50/+p99 are the latency the path adds over direct."
    );
    let _ = writeln!(
        o,
        "       `mid` is the process in the middle with all its descendants (Switchboard; \
         LiteLLM's whole tree): /proc utime (`usr`) and stime (`sys`), {} Hz ticks, over the \
         window / requests completed.",
        clk_tck()
    );
    let _ = writeln!(
        o,
        "       `paired med` is the median over rounds of (path - direct) first-token time of \
         the same round. Every answer is checked (content, usage chunk, [DONE]). Closed-loop \
         load: percentiles leave out coordinated omission."
    );
    o
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The goal lines of issue 15, Switchboard's figures with LiteLLM's beside them.
fn goals(o: &mut String, args: &Args, rows: &[LoadRow], streams: &StreamRun, eps: &[Endpoint]) {
    let secs = args.duration.as_secs_f64();
    let c = args.concurrency;
    let rps = |p: &str| row_of(rows, p, c).map(|r| r.load.rps(secs));
    match (rps("switchboard"), rps("litellm")) {
        (Some(s), Some(l)) if l > 0.0 => {
            let x = s / l;
            let _ = writeln!(
                o,
                "goal: throughput at c={c} >= {GOAL_THROUGHPUT_X:.0}x LiteLLM's: {s:.0} vs {l:.0} \
                 req/s = {x:.1}x: {}{}",
                verdict(x >= GOAL_THROUGHPUT_X),
                if x >= GOAL_THROUGHPUT_X {
                    String::new()
                } else {
                    format!(" (short by {:.1}x)", GOAL_THROUGHPUT_X - x)
                }
            );
        }
        _ => {
            let _ = writeln!(
                o,
                "goal: throughput at c={c} >= {GOAL_THROUGHPUT_X:.0}x LiteLLM's: not measured \
                 (needs both the switchboard and the litellm rows)"
            );
        }
    }
    let p50 = |p: &str| row_of(rows, p, 1).map(|r| r.load.pct_us(50.0));
    for p in ["switchboard", "litellm"] {
        let (Some(a), Some(d)) = (p50(p), p50("direct")) else {
            continue;
        };
        let add = a - d;
        let _ = writeln!(
            o,
            "goal: added p50 at c=1 < {GOAL_ADDED_P50_US:.0} µs: {p} {add:+.0} µs{}",
            if p == "switchboard" {
                format!(": {}", over(add, GOAL_ADDED_P50_US))
            } else {
                " (for comparison)".into()
            }
        );
    }
    if let (Some(e), Some(s)) = (p50("sb-epp"), p50("switchboard")) {
        let _ = writeln!(
            o,
            "inferencePool endpoint picker round trip (ext_proc over gRPC, loopback picker): \
             added p50 at c=1 {:+.0} µs (sb-epp over switchboard)",
            e - s
        );
    }
    let d = streams.stats.first().map(|s| s.first_token.pct_us(50.0));
    for (i, ep) in eps.iter().enumerate().skip(1) {
        let (Some(d), Some(s)) = (d, streams.stats.get(i)) else {
            continue;
        };
        let add = s.first_token.pct_us(50.0) - d;
        let _ = writeln!(
            o,
            "goal: added time to first token p50 < {GOAL_ADDED_TTFT_US:.0} µs: {} {add:+.0} µs \
             (paired median {:+.0} µs){}",
            ep.name,
            median(&streams.paired_diff_us[i]),
            if ep.name == "switchboard" {
                format!(": {}", over(add, GOAL_ADDED_TTFT_US))
            } else {
                " (for comparison)".into()
            }
        );
    }
}

/// `met`, or `NOT met (over by N µs)`.
fn over(added_us: f64, goal_us: f64) -> String {
    if !added_us.is_finite() {
        "not measured".into()
    } else if added_us < goal_us {
        verdict(true).into()
    } else {
        format!("{} (over by {:.0} µs)", verdict(false), added_us - goal_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(ratio(1.0, 4.0), "0.25");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(added(150.4, 100.0), "+50");
        assert_eq!(num(f64::NAN, 1), "-");
        assert_eq!(over(120.0, 200.0), "met");
        assert_eq!(over(260.0, 200.0), "NOT met (over by 60 µs)");
        assert_eq!(cols(&[3, 4], &["a", "b"]), "a      b");
    }
}
