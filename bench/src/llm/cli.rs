//! The `bench-llm` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use crate::switchboard_process::Logging;

/// LLM gateway benchmark: OpenAI chat completions against an in-process loopback provider,
/// directly, through Switchboard's `ai` backend and through LiteLLM's proxy, in one run.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench-llm", version)]
pub struct Args {
    /// Keep-alive connections for the throughput rows (non-streamed, closed loop, one request
    /// in flight per connection). The latency rows always use one.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured window per row (`5s`, `500ms`, `1m`, or plain seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up before each window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured streams per path (one at a time, paths interleaved) for the time to first token.
    #[arg(long, default_value_t = 300)]
    pub streams: usize,
    /// Unmeasured streams per path before them.
    #[arg(long, default_value_t = 20)]
    pub stream_warmup: usize,
    /// Tokens in the provider's reply (one stream chunk each).
    #[arg(long, default_value_t = 20)]
    pub tokens: usize,
    /// The provider's spacing of streamed tokens after the first (`0`: back to back).
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub token_delay: Duration,
    /// Paths to measure besides `direct` (always measured: it is the baseline).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,switchboard,switchboard-epp,litellm"
    )]
    pub only: Vec<PathKind>,
    /// Switchboard's logging: `default` is the config as a user writes it (access log on).
    #[arg(long, value_enum, default_value = "default")]
    pub logging: Logging,
    /// Tokio threads of the load generator (the provider has its own thread).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// The Switchboard binary; default: target/release/switchboard, else target/debug.
    #[arg(long)]
    pub switchboard: Option<PathBuf>,
    /// The `litellm` executable; default: `litellm` on PATH, else .venv-litellm/bin/litellm.
    #[arg(long)]
    pub litellm: Option<PathBuf>,
    /// LiteLLM's `--num_workers` (worker processes); default: LiteLLM's own (1).
    #[arg(long)]
    pub litellm_workers: Option<usize>,
}

/// The paths a run can measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PathKind {
    Direct,
    Switchboard,
    /// Switchboard with the provider behind an `inferencePool` and a loopback endpoint picker:
    /// its latency over `switchboard` is the picker round trip.
    SwitchboardEpp,
    Litellm,
}

impl Args {
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 || self.concurrency > 4096 {
            bail!("--concurrency must be 1..=4096");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        if self.streams == 0 || self.streams > 1_000_000 {
            bail!("--streams must be 1..=1000000");
        }
        if self.tokens == 0 || self.tokens > 100_000 {
            bail!("--tokens must be 1..=100000");
        }
        if self.token_delay > Duration::from_secs(1) {
            bail!("--token-delay must be at most 1s");
        }
        if self.client_threads == 0 {
            bail!("--client-threads must be at least 1");
        }
        if self.litellm_workers == Some(0) {
            bail!("--litellm-workers must be at least 1");
        }
        Ok(())
    }

    pub fn wants(&self, k: PathKind) -> bool {
        self.only.contains(&k)
    }
}

/// `500ms`, `3s`, `1m` or a bare number of seconds.
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
    fn defaults_are_the_issue_s_setup() {
        let a = Args::parse_from(["bench-llm"]);
        a.validate().unwrap();
        assert_eq!(a.concurrency, 64);
        assert_eq!(a.tokens, 20);
        assert!(a.token_delay.is_zero());
        assert_eq!(a.logging, Logging::Default);
        assert!(a.wants(PathKind::Litellm) && a.wants(PathKind::Switchboard));
        assert!(a.wants(PathKind::SwitchboardEpp));
        let b = Args::parse_from(["bench-llm", "--only", "direct,switchboard"]);
        assert!(!b.wants(PathKind::Litellm));
        assert!(Args::parse_from(["bench-llm", "--tokens", "0"])
            .validate()
            .is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("2h").is_err());
    }
}
