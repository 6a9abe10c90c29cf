//! The `bench-a2a` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

/// A2A gateway benchmark: `SendMessage` throughput and latency, and the time to the first event
/// of `SendStreamingMessage`, directly against an in-process agent and through Switchboard's
/// `a2a` route policy, in one run.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench-a2a", version)]
pub struct Args {
    /// Keep-alive connections for `SendMessage`, one run per value (closed loop, one request in
    /// flight per connection).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,
    /// Measured window per `SendMessage` scenario (`3s`, `500ms`, `1m`, or plain seconds).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up before each window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured streams per target (sequential, interleaved direct / gateway).
    #[arg(long, default_value_t = 200)]
    pub streams: usize,
    /// Unmeasured streams per target before them.
    #[arg(long, default_value_t = 20)]
    pub stream_warmup: usize,
    /// Working updates the agent sends between a stream's first and final events.
    #[arg(long, default_value_t = 3)]
    pub stream_updates: usize,
    /// The agent's spacing of a stream's events after the first.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub stream_delay: Duration,
    /// Tokio threads of the load generator (the agent has its own thread).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Turn on task ownership on the route (`a2a: { callerHeader: x-caller }`), which makes the
    /// gateway read every `SendMessage` result.
    #[arg(long)]
    pub owners: bool,
    /// The Switchboard binary; default: target/release/switchboard, else target/debug.
    #[arg(long, alias = "switchboard")]
    pub gateway: Option<PathBuf>,
}

impl Args {
    pub fn validate(&self) -> Result<()> {
        if self.concurrency.is_empty() || self.concurrency.iter().any(|&c| c == 0 || c > 4096) {
            bail!("--concurrency needs values in 1..=4096");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        if self.streams == 0 || self.streams > 1_000_000 {
            bail!("--streams must be 1..=1000000");
        }
        if self.stream_updates > 10_000 {
            bail!("--stream-updates must be at most 10000");
        }
        if self.stream_delay < Duration::from_millis(1)
            || self.stream_delay > Duration::from_secs(10)
        {
            bail!("--stream-delay must be 1ms..=10s (tokio timers have millisecond resolution)");
        }
        if self.client_threads == 0 {
            bail!("--client-threads must be at least 1");
        }
        Ok(())
    }
}

/// `500ms`, `3s`, `1m` or a bare number of seconds. Own copy: the other harnesses' parsers are
/// private to their command lines.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        let a = Args::parse_from(["bench-a2a"]);
        a.validate().unwrap();
        assert_eq!(a.concurrency, vec![1, 64]);
        let b = Args::parse_from(["bench-a2a", "--concurrency", "0"]);
        assert!(b.validate().is_err());
        let c = Args::parse_from(["bench-a2a", "--switchboard", "/x"]);
        assert_eq!(c.gateway.as_deref(), Some(std::path::Path::new("/x")));
    }
}
