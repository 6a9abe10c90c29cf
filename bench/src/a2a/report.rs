//! The `bench-a2a` output: a header (machine, load, binary) before the run; after it the
//! `SendMessage` table with ratios and added latency against direct, the first-event table,
//! the event spacing, and the goal lines.
//!
//! As in the other harnesses, the report goes to stdout in one piece after the progress lines
//! on stderr, so `bench-a2a > result.txt` captures exactly the results.

use std::fmt::Write as _;
use std::path::Path;

use super::cli::Args;
use super::client::Endpoint;
use super::load::Latencies;
use super::run::{SendRow, StreamReport};
use crate::procfs::{clk_tck, cpu_model, os_release};

/// The goal for the latency the gateway adds, at p50.
pub const GOAL_ADDED_P50_US: f64 = 500.0;

/// Prints what is measured and on what, before anything runs.
pub fn print_header(args: &Args, cores: usize, bin: &Path, direct: &Endpoint, gw: &Endpoint) {
    println!("bench-a2a: A2A JSON-RPC benchmark, direct vs through Switchboard's `a2a` route (loopback only)");
    println!(
        "machine: {cores} cores ({}), {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release()
    );
    println!(
        "load: SendMessage (A2A-Version 1.0) on keep-alive connections, closed loop, at concurrency \
         {:?}; {:?} warm-up + {:?} measured per scenario",
        args.concurrency, args.warmup, args.duration
    );
    println!(
        "streams: {} + {} warm-up SendStreamingMessage per target, one at a time, interleaved; \
         the agent sends the submitted task at once, then {} working update(s) and the completed \
         update {:?} apart",
        args.streams, args.stream_warmup, args.stream_updates, args.stream_delay
    );
    println!(
        "the load generator ({} tokio threads), the agent (axum, 1 dedicated thread) and the \
         gateway share the {cores} cores; compare ratios and differences, not absolute numbers",
        args.client_threads
    );
    println!(
        "switchboard: {}{}",
        bin.display(),
        if args.owners {
            " (route a2a: { callerHeader: x-caller })"
        } else {
            " (route a2a: {})"
        }
    );
    println!(
        "agent: {}/a2a directly, {}/a2a through the gateway",
        direct.base_url(),
        gw.base_url()
    );
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

/// µs as ms with two decimals, `-` when undefined.
fn ms(us: f64) -> String {
    if us.is_finite() {
        format!("{:.2}", us / 1000.0)
    } else {
        "-".into()
    }
}

/// Whether `added_us` meets the goal, as words.
fn verdict(added_us: f64) -> &'static str {
    if !added_us.is_finite() {
        "not measured"
    } else if added_us < GOAL_ADDED_P50_US {
        "met"
    } else {
        "NOT met"
    }
}

/// Prints the tables and the notes. `agent_counts` is what the agent answered in total (sends,
/// streams), a cross-check that the calls really reached it.
pub fn print_summary(
    args: &Args,
    cores: usize,
    rows: &[SendRow],
    streams: &StreamReport,
    agent_counts: (u64, u64),
) {
    let mut out = String::new();
    send_table(&mut out, args, cores, rows);
    stream_table(&mut out, streams);
    let secs = args.duration.as_secs_f64();
    let _ = writeln!(out);
    let run = &streams.run;
    let first_added = run.gateway.first.pct_us(50.0) - run.direct.first.pct_us(50.0);
    let _ = writeln!(
        out,
        "goal (issue 5): under {GOAL_ADDED_P50_US:.0} µs added at p50 through the gateway"
    );
    for r in rows.iter().filter(|r| r.target != "direct") {
        if let Some(d) = direct_of(rows, r) {
            let a = r.load.pct_us(50.0) - d.load.pct_us(50.0);
            let _ = writeln!(
                out,
                "  SendMessage c={:<4}        +{:>5.0} µs at p50: {} (throughput {}x of direct)",
                r.concurrency,
                a,
                if r.concurrency == 1 {
                    verdict(a)
                } else {
                    "(queueing at this concurrency; the goal is read at c=1)"
                },
                ratio(r.load.rps(secs), d.load.rps(secs))
            );
        }
    }
    let _ = writeln!(
        out,
        "  first event of a stream  +{:>5.0} µs at p50: {} (median of paired differences {:+.0} µs)",
        first_added,
        verdict(first_added),
        run.paired_median_us()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "notes: `vs dir` is req/s through the gateway / direct at the same concurrency; +p50/+p99 \
         are the latency the gateway adds over direct."
    );
    let _ = writeln!(
        out,
        "       `gw µs CPU/call` is the gateway process's CPU time (/proc, {} Hz ticks) over the \
         window / calls completed; per stream it is read from /proc/<pid>/task/*/schedstat (ns).",
        clk_tck()
    );
    let _ = writeln!(
        out,
        "       Closed-loop load: percentiles leave out the queueing a fixed-rate client would see \
         (coordinated omission). Every answer is checked (completed task echoing the text; all \
         stream events in order)."
    );
    let _ = writeln!(
        out,
        "       `agent conns` is the connections the agent accepted during the row (warm-up \
         included): keep-alive all the way means about one per client connection per gateway \
         worker; {} during the measured streams.",
        streams.agent_conns
    );
    let _ = writeln!(
        out,
        "       the agent answered {} sends and {} streams in total (probes and warm-ups included)",
        agent_counts.0, agent_counts.1
    );
    print!("{out}");
}

/// Column widths of the `SendMessage` table.
const SEND_WIDTHS: [usize; 16] = [12, 5, 8, 6, 7, 7, 7, 8, 8, 6, 6, 8, 6, 6, 6, 6];

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

fn direct_of<'a>(rows: &'a [SendRow], r: &SendRow) -> Option<&'a SendRow> {
    rows.iter()
        .find(|d| d.target == "direct" && d.concurrency == r.concurrency)
}

fn send_table(out: &mut String, args: &Args, cores: usize, rows: &[SendRow]) {
    let secs = args.duration.as_secs_f64();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "== SendMessage: {:?} measured per row, {cores} cores shared by load generator + agent + gateway ==",
        args.duration
    );
    let _ = writeln!(
        out,
        "{}",
        cols(
            &SEND_WIDTHS,
            &[
                "target", "conc", "req/s", "vs dir", "p50 µs", "p99 µs", "mean µs", "+p50 µs",
                "+p99 µs", "errors", "gw", "gw µs", "gw RSS", "client", "agent", "agent",
            ]
        )
    );
    let _ = writeln!(
        out,
        "{}",
        cols(
            &SEND_WIDTHS,
            &[
                "", "", "", "", "", "", "", "", "", "", "cores", "CPU/call", "MiB", "cores",
                "cores", "conns",
            ]
        )
    );
    for r in rows {
        let rps = r.load.rps(secs);
        let (vs, a50, a99) = match direct_of(rows, r) {
            Some(d) if r.target != "direct" => (
                ratio(rps, d.load.rps(secs)),
                added(r.load.pct_us(50.0), d.load.pct_us(50.0)),
                added(r.load.pct_us(99.0), d.load.pct_us(99.0)),
            ),
            _ => ("1.00".into(), "-".into(), "-".into()),
        };
        let (gw_cores, gw_us, gw_rss) = match &r.gateway {
            Some(g) => (
                format!("{:.2}", g.cores),
                if r.load.ok > 0 {
                    format!("{:.1}", g.cores * secs * 1e6 / r.load.ok as f64)
                } else {
                    "-".into()
                },
                format!("{:.1}", g.rss_kib as f64 / 1024.0),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{}",
            cols(
                &SEND_WIDTHS,
                &[
                    r.target,
                    &r.concurrency.to_string(),
                    &format!("{rps:.0}"),
                    &vs,
                    &format!("{:.0}", r.load.pct_us(50.0)),
                    &format!("{:.0}", r.load.pct_us(99.0)),
                    &format!("{:.0}", r.load.mean_us()),
                    &a50,
                    &a99,
                    &r.load.errors.to_string(),
                    &gw_cores,
                    &gw_us,
                    &gw_rss,
                    &format!("{:.2}", r.client_cores),
                    &format!("{:.2}", r.agent_cores),
                    &r.agent_conns.to_string(),
                ]
            )
        );
    }
    for r in rows {
        if let Some(e) = &r.load.first_error {
            let _ = writeln!(out, "  {} c={} first error: {e}", r.target, r.concurrency);
        }
    }
}

fn stream_table(out: &mut String, s: &StreamReport) {
    let run = &s.run;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "== SendStreamingMessage: time from the request to the first SSE event (a submitted task), \
         sequential streams =="
    );
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>10} {:>7}",
        "target",
        "streams",
        "p50 µs",
        "p99 µs",
        "max µs",
        "mean µs",
        "+p50 µs",
        "+p99 µs",
        "errors",
        "gw µs CPU",
        "gw RSS"
    );
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>10} {:>7}",
        "", "", "", "", "", "", "", "", "", "/stream", "MiB"
    );
    let d = &run.direct.first;
    for (name, st, gw) in [
        ("direct", &run.direct, false),
        ("switchboard", &run.gateway, true),
    ] {
        let f = &st.first;
        let (a50, a99, cpu, rss) = if gw {
            (
                added(f.pct_us(50.0), d.pct_us(50.0)),
                added(f.pct_us(99.0), d.pct_us(99.0)),
                if s.gw_cpu_us_per_stream.is_finite() {
                    format!("{:.1}", s.gw_cpu_us_per_stream)
                } else {
                    "-".into()
                },
                format!("{:.1}", s.gw_rss_kib as f64 / 1024.0),
            )
        } else {
            ("-".into(), "-".into(), "-".into(), "-".into())
        };
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8} {:>8} {:>6} {:>10} {:>7}",
            name,
            f.ok,
            f.pct_us(50.0),
            f.pct_us(99.0),
            f.max_us(),
            f.mean_us(),
            a50,
            a99,
            f.errors,
            cpu,
            rss
        );
        if let Some(e) = &f.first_error {
            let _ = writeln!(out, "  {name} first error: {e}");
        }
    }
    if s.agent_cpu_us_per_stream.is_finite() {
        let _ = writeln!(
            out,
            "  for scale: the agent's own thread spends {:.1} µs of CPU per stream (wake-ups per \
             event dominate at one stream at a time)",
            s.agent_cpu_us_per_stream
        );
    }
    let delay_us = s.shape.delay.as_secs_f64() * 1e6;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "event spacing: the agent sends each event after the first {} ms after the previous one \
         (tokio timers: +0..1 ms); gaps seen by the client, in ms:",
        ms(delay_us)
    );
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "target", "gaps", "min", "p50", "p99", "max"
    );
    for (name, st) in [("direct", &run.direct), ("switchboard", &run.gateway)] {
        let g = &st.gaps;
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>8} {:>8} {:>8} {:>8}",
            name,
            g.ok,
            ms(g.min_us()),
            ms(g.pct_us(50.0)),
            ms(g.pct_us(99.0)),
            ms(g.max_us())
        );
    }
    let _ = writeln!(
        out,
        "  {}",
        spacing_verdict(
            &run.direct.gaps,
            &run.gateway.first,
            &run.gateway.gaps,
            delay_us
        )
    );
}

/// Whether the gateway passed events as they came: its first event well before the second was
/// even sent, and no more gaps under half the spacing (two events read together, i.e. one held
/// back and released with the next) than directly, where only the machine's scheduling makes
/// them. One in a hundred more is allowed for noise.
fn spacing_verdict(
    direct_gaps: &Latencies,
    first: &Latencies,
    gaps: &Latencies,
    delay_us: f64,
) -> String {
    if gaps.ok == 0 || direct_gaps.ok == 0 {
        return "events through the gateway: not measured".into();
    }
    let bunched = gaps.count_below_us(delay_us / 2.0);
    let bunched_direct = direct_gaps.count_below_us(delay_us / 2.0);
    let share = |n: u64, of: u64| n as f64 / of as f64;
    let first_p50 = first.pct_us(50.0);
    let ok = share(bunched, gaps.ok) <= share(bunched_direct, direct_gaps.ok) + 0.01
        && first_p50 < delay_us;
    format!(
        "{}: gaps under half the spacing (events read together): {bunched} of {} through the \
         gateway, {bunched_direct} of {} directly; first event p50 {} ms {} the {} ms spacing",
        if ok {
            "events through the gateway arrive spaced as sent"
        } else {
            "events through the gateway are NOT spaced as sent (buffering?)"
        },
        gaps.ok,
        direct_gaps.ok,
        ms(first_p50),
        if first_p50 < delay_us { "<" } else { ">=" },
        ms(delay_us)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formatting_helpers() {
        assert_eq!(ratio(1.0, 2.0), "0.50");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(added(150.4, 100.0), "+50");
        assert_eq!(added(f64::NAN, 1.0), "-");
        assert_eq!(ms(10_250.0), "10.25");
        assert_eq!(verdict(120.0), "met");
        assert_eq!(verdict(800.0), "NOT met");
        assert_eq!(verdict(f64::NAN), "not measured");
        assert_eq!(cols(&[3, 4], &["a", "b"]), "a      b");
    }

    #[test]
    fn spacing_verdicts() {
        let gaps_of = |us: &[u64]| {
            let mut l = Latencies::new().unwrap();
            for &u in us {
                l.record(Duration::from_micros(u));
            }
            l
        };
        let first = gaps_of(&[300]);
        let direct = gaps_of(&[10_100; 100]);
        let empty = gaps_of(&[]);
        assert!(spacing_verdict(&direct, &first, &empty, 10_000.0).contains("not measured"));
        let mut even = vec![10_400; 99];
        even.push(20); // one bunched pair in a hundred: noise
        let v = spacing_verdict(&direct, &first, &gaps_of(&even), 10_000.0);
        assert!(v.contains("arrive spaced as sent"), "{v}");
        assert!(
            v.contains("1 of 100 through the gateway, 0 of 100 directly"),
            "{v}"
        );
        // Bursts: every other event held back.
        let bursty: Vec<u64> = (0..100)
            .map(|i| if i % 2 == 0 { 20 } else { 20_000 })
            .collect();
        let v = spacing_verdict(&direct, &first, &gaps_of(&bursty), 10_000.0);
        assert!(v.contains("NOT"), "{v}");
        // The first event held until the second.
        let v = spacing_verdict(&direct, &gaps_of(&[10_300]), &gaps_of(&even), 10_000.0);
        assert!(v.contains("NOT") && v.contains(">="), "{v}");
    }
}
