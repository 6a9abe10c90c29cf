//! The whole run: start the upstream, find the targets, measure every target in every round,
//! then report each target's median round.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{Args, Target};
use crate::measure::{measure, Row};
use crate::report::{print_header, print_summary};
use crate::switchboard_process::Logging;
use crate::targets::nginx::{find_nginx, nginx_version, NginxProc};
use crate::targets::switchboard::{
    debug_banner, find_switchboard, is_debug_build, SwitchboardProc,
};
use crate::upstream::Upstream;

/// Runs the benchmark described by `args` and prints the report on stdout (progress goes to
/// stderr).
///
/// Targets run one after the other, never at once, as they share the machine's cores; each proxy
/// is started fresh per round and stopped before the next target runs.
pub async fn run(args: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let upstream = Upstream::start(args.body_size)?;
    print_header(&args, cores, upstream.addr);

    // A target whose binary is missing is skipped with a note rather than failing the run: the
    // other rows are still worth having.
    let mut skipped: Vec<String> = Vec::new();
    let switchboard = if args.only.contains(&Target::Switchboard) {
        discover_switchboard(&args, &mut skipped)
    } else {
        None
    };
    let nginx = if args.only.contains(&Target::Nginx) {
        discover_nginx(&args, &mut skipped)
    } else {
        None
    };
    println!();

    // All rounds of one target, in the order the targets first ran.
    let mut by_target: Vec<(String, Vec<Row>)> = Vec::new();
    let mut push = |row: Row| match by_target.iter_mut().find(|(l, _)| *l == row.label) {
        Some((_, v)) => v.push(row),
        None => by_target.push((row.label.clone(), vec![row])),
    };

    for round in 1..=args.rounds {
        if args.rounds > 1 {
            eprintln!("round {round}/{}", args.rounds);
        }
        if args.only.contains(&Target::Direct) {
            let row = measure(
                &args,
                &upstream,
                "direct",
                String::new(),
                upstream.addr,
                None,
            )
            .await?;
            push(row);
        }

        if let Some(bin) = &switchboard {
            for &logging in &args.logging {
                let proc = SwitchboardProc::start(bin, upstream.addr, logging).await?;
                let note = if is_debug_build(bin) {
                    "DEBUG BUILD: numbers are meaningless".to_string()
                } else {
                    String::new()
                };
                let label = switchboard_label(logging);
                let row =
                    measure(&args, &upstream, &label, note, proc.addr, Some(proc.pid())).await;
                // The proxy's own log explains failures and errors; it is gone once `proc`
                // drops.
                match &row {
                    Err(e) => eprintln!("switchboard run failed: {e:#}\n{}", proc.log_tail()),
                    Ok(r) if r.load.errors > 0 => {
                        eprintln!("switchboard log:\n{}", proc.log_tail())
                    }
                    Ok(_) => {}
                }
                let mut row = row?;
                row.logging = Some(logging);
                push(row);
                drop(proc);
            }
        }

        if let Some(bin) = &nginx {
            for workers in &args.nginx_workers {
                for &logging in &args.logging {
                    let proc = NginxProc::start(bin, upstream.addr, workers, logging).await?;
                    let label = nginx_label(workers, logging);
                    let note = format!("{} worker process(es)", proc.worker_count());
                    let row =
                        measure(&args, &upstream, &label, note, proc.addr, Some(proc.pid())).await;
                    match &row {
                        Err(e) => eprintln!("nginx run failed: {e:#}\n{}", proc.log_tail()),
                        Ok(r) if r.load.errors > 0 => {
                            eprintln!("nginx error log:\n{}", proc.log_tail())
                        }
                        Ok(_) => {}
                    }
                    let mut row = row?;
                    row.logging = Some(logging);
                    push(row);
                    drop(proc);
                }
            }
        }
    }

    let rows = median_rounds(by_target, args.duration.as_secs_f64());
    print_summary(&args, cores, &rows, &skipped);
    Ok(())
}

/// The report's name for a Switchboard row.
pub fn switchboard_label(logging: Logging) -> String {
    format!("switchboard ({})", logging.label())
}

/// The report's name for an nginx row: `worker_processes` and whether the access log is on.
pub fn nginx_label(workers: &str, logging: Logging) -> String {
    let log = match logging {
        Logging::Default => "log on",
        Logging::Off => "log off",
    };
    format!("nginx w={workers} ({log})")
}

/// The switchboard binary to run, announced on stdout (with a warning on stderr for a debug
/// build), or `None` with a note in `skipped`.
fn discover_switchboard(args: &Args, skipped: &mut Vec<String>) -> Option<PathBuf> {
    let bin = find_switchboard(args.switchboard.as_deref());
    match &bin {
        None => skipped.push(
            "switchboard: binary not found (build it: cargo build --release -p gateway, or pass --switchboard PATH)"
                .into(),
        ),
        Some(b) => {
            println!("switchboard: {}", b.display());
            if is_debug_build(b) {
                eprintln!("{}", debug_banner(b));
            }
        }
    }
    bin
}

/// The nginx binary to run, announced on stdout with its version, or `None` with a note in
/// `skipped`.
fn discover_nginx(args: &Args, skipped: &mut Vec<String>) -> Option<PathBuf> {
    let bin = find_nginx(args.nginx.as_deref());
    match &bin {
        None => skipped.push(
            "nginx: not found on PATH or at /usr/sbin/nginx (apt-get install -y nginx-light, or pass --nginx PATH)"
                .into(),
        ),
        Some(b) => println!("nginx: {} ({})", b.display(), nginx_version(b)),
    }
    bin
}

/// Each target's median round by throughput, with the lowest and highest req/s over its rounds,
/// in the order the targets first ran.
///
/// The median rather than the mean or best: one round disturbed by other load on the machine
/// then moves neither the number nor the ratios; the spread shows how noisy the rounds were.
fn median_rounds(by_target: Vec<(String, Vec<Row>)>, secs: f64) -> Vec<(Row, f64, f64)> {
    by_target
        .into_iter()
        .map(|(_, mut v)| {
            v.sort_by(|a, b| a.load.rps(secs).total_cmp(&b.load.rps(secs)));
            let (lo, hi) = (v[0].load.rps(secs), v[v.len() - 1].load.rps(secs));
            let mid = v.swap_remove(v.len() / 2);
            (mid, lo, hi)
        })
        .collect()
}
