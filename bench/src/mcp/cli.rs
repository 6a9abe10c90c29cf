//! The `bench-mcp` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use super::server::ServerKind;
use crate::switchboard_process::Logging;

/// MCP gateway benchmark: `tools/call` and `tools/list` directly against an in-process rmcp
/// Streamable HTTP server and through Switchboard, in one run.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench-mcp", version)]
pub struct Args {
    /// Concurrent client sessions for `tools/call`, one run per value (closed loop, one request
    /// in flight per session, each session with its own connections).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,
    /// Connections for the shared-session `tools/call` runs, one run per value: one session
    /// opened once, then this many keep-alive connections calling concurrently within it
    /// (closed loop). `0` skips the shared-session runs.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub shared_concurrency: Vec<usize>,
    /// Kinds of MCP target to call, comma separated: `sse` (rmcp's default, stateful, answers
    /// with SSE streams) and `json` (stateless, answers `application/json`). `tools/list` always
    /// uses `sse` targets.
    #[arg(long, value_delimiter = ',', default_value = "sse,json")]
    pub targets: Vec<ServerKind>,
    /// Switchboard logging setups, comma separated: `default` (the config as a user writes it:
    /// access log on, one line per request) and `off` (`RUST_LOG=warn`). Every gateway scenario
    /// runs once per setup.
    #[arg(long, value_delimiter = ',', default_value = "default,off")]
    pub logging: Vec<Logging>,
    /// Measured window per scenario.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up before each window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Target counts behind the gateway for the `tools/list` fan-out (each target is its own
    /// in-process server).
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    pub list_targets: Vec<usize>,
    /// Concurrent sessions for the `tools/list` runs: 1 measures plain latency.
    #[arg(long, default_value_t = 1)]
    pub list_concurrency: usize,
    /// Tokio threads of the load generator (the MCP servers have their own thread).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Also run the shared-session loads through a gateway whose route has `jwtAuth` (an RS256
    /// token, the same on every call) and one `mcpAuthorization` CEL rule: the `sb jwt+rule`
    /// rows, the cost of access control per call.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub auth: bool,
    /// Idle legacy sessions opened on a fresh gateway to measure memory per session (0: skip).
    #[arg(long, default_value_t = 1000)]
    pub idle_sessions: usize,
    /// Open a new TCP connection for every request, as rmcp's default HTTP client does. By
    /// default each client session keeps its connections alive, as the Python SDK's httpx and
    /// the TypeScript SDK's fetch do.
    #[arg(long)]
    pub fresh_connections: bool,
    /// The Switchboard binary; default: target/release/switchboard, else target/debug.
    #[arg(long)]
    pub switchboard: Option<PathBuf>,
}

impl Args {
    pub fn validate(&self) -> Result<()> {
        if self.concurrency.is_empty() || self.concurrency.contains(&0) {
            bail!("--concurrency needs values of at least 1");
        }
        if self.list_targets.contains(&0) || self.list_targets.iter().any(|&n| n > 100) {
            bail!("--list-targets values must be 1..=100");
        }
        if self.list_concurrency == 0 || self.client_threads == 0 {
            bail!("--list-concurrency and --client-threads must be at least 1");
        }
        if self.targets.is_empty() || self.logging.is_empty() {
            bail!("--targets and --logging need at least one value");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        Ok(())
    }
}

/// `500ms`, `3s`, `1m` or a bare number of seconds. Own copy rather than `crate::cli`'s: that
/// one is private to `bench-http`'s command line.
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
    fn defaults_cover_both_targets_both_logging_setups_and_64_shared_connections() {
        let a = Args::try_parse_from(["bench-mcp"]).expect("defaults parse");
        assert_eq!(a.targets, vec![ServerKind::Sse, ServerKind::Json]);
        assert_eq!(a.logging, vec![Logging::Default, Logging::Off]);
        assert_eq!(a.shared_concurrency, vec![1, 64]);
        assert!(a.validate().is_ok());
        let a = Args::try_parse_from(["bench-mcp", "--targets", "json", "--logging", "off"])
            .expect("one of each parses");
        assert_eq!(
            (a.targets, a.logging),
            (vec![ServerKind::Json], vec![Logging::Off])
        );
        assert!(Args::try_parse_from(["bench-mcp", "--targets", "grpc"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }
}
