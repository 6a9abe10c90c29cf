//! Command line of `bench-http`.
//!
//! The field doc comments are the `--help` text; keep them user-facing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};

use crate::switchboard_process::Logging;

// No `///` on this struct or on `Target`'s variants: clap would turn them into extra help text
// (long about, per-value help) and change the `--help` output.
#[derive(Parser, Debug)]
#[command(
    name = "bench-http",
    about = "Plain HTTP proxy benchmark: direct vs Switchboard vs nginx, in one run"
)]
pub struct Args {
    /// Keep-alive connections held open by the load generator (closed loop: one request in
    /// flight per connection).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured time per target (`5s`, `500ms`, `1m`, or plain seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up per target, before the measured window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Which targets to run, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,switchboard,nginx"
    )]
    pub only: Vec<Target>,
    /// The switchboard binary. Default: target/release/switchboard if it exists, else
    /// target/debug/switchboard.
    #[arg(long)]
    pub switchboard: Option<PathBuf>,
    /// The nginx binary. Default: `nginx` on PATH, else /usr/sbin/nginx. Skipped when absent.
    #[arg(long)]
    pub nginx: Option<PathBuf>,
    /// nginx `worker_processes` settings to run, comma separated (`1`, `2`, `auto`, ...).
    #[arg(long, value_delimiter = ',', default_value = "1,auto")]
    pub nginx_workers: Vec<String>,
    /// Logging setups to run Switchboard and nginx with, comma separated: `default` (as they
    /// ship: Switchboard's access log on, nginx's `access_log` in its `combined` format to a
    /// file) and `off` (Switchboard with `RUST_LOG=warn`, nginx with `access_log off`).
    #[arg(long, value_delimiter = ',', default_value = "default,off")]
    pub logging: Vec<Logging>,
    /// Rounds over all targets (interleaved, so drift hits every target alike). Each target's
    /// median round by throughput is reported, with the min-max spread.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Response body size of the upstream, in bytes.
    #[arg(long, default_value_t = 128)]
    pub body_size: usize,
    /// Also run `wrk` (when installed) against each target with the same connections and
    /// duration, as a cross-check of the built-in load generator.
    #[arg(long)]
    pub wrk: bool,
}

// The kinds of target `--only` selects; nginx runs once per `--nginx-workers` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Direct,
    Switchboard,
    Nginx,
}

impl Args {
    /// Checks what clap's types cannot express, before any runtime, server or child exists, so a
    /// bad flag fails immediately instead of after a warm-up.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 || self.client_threads == 0 || self.rounds == 0 {
            bail!("--concurrency, --client-threads and --rounds must be at least 1");
        }
        if self.logging.is_empty() {
            bail!("--logging needs at least one of: default, off");
        }
        for (flag, path) in [
            ("--switchboard", &self.switchboard),
            ("--nginx", &self.nginx),
        ] {
            if let Some(p) = path {
                if !p.is_file() {
                    bail!("{flag} {}: no such file", p.display());
                }
            }
        }
        Ok(())
    }
}

/// Parses `500ms`, `5s`, `1m` or plain (fractional) seconds; zero is rejected because a
/// zero-length window would divide by zero in every rate.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?}; use e.g. 500ms, 5s, 1m"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("duration must be positive, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_defaults_to_both_and_takes_one() {
        let a = Args::try_parse_from(["bench-http"]).expect("defaults parse");
        assert_eq!(a.logging, vec![Logging::Default, Logging::Off]);
        let a = Args::try_parse_from(["bench-http", "--logging", "off"]).expect("off parses");
        assert_eq!(a.logging, vec![Logging::Off]);
        assert!(Args::try_parse_from(["bench-http", "--logging", "loud"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(" 2 "), Ok(Duration::from_secs(2)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
