//! MCP interop helpers: the test client on the official Python MCP SDK
//! (`tests/python/mcp_client.py`) and the `mcp-server-time` stdio server from PyPI, both pinned
//! in `tests/requirements.txt`.
//!
//! The Python side is required, not optional: when `mcp` or `mcp_server_time` does not import,
//! the tests fail with the command that installs them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::a2a::python;

/// Default bound for one run of the Python client (its own `--timeout` is 5 s less).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// The absolute path of the interpreter that has the SDK (`sys.executable` of [`python`]), so
/// the gateway runs `mcp_server_time` with the same Python whatever its `PATH`. Panics with the
/// install command unless `mcp`, its Streamable HTTP client and `mcp_server_time` import
/// (checked once).
pub fn require_mcp_sdk() -> &'static str {
    static CHECK: OnceLock<Result<String, String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        let out = Command::new(python())
            .args([
                "-c",
                "import sys, mcp, mcp.client.streamable_http, mcp_server_time; \
                 print(sys.executable)",
            ])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let exe = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if exe.is_empty() {
                    Ok(python())
                } else {
                    Ok(exe)
                }
            }
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => Err(format!("cannot run {}: {e}", python())),
        }
    });
    match res {
        Ok(exe) => exe,
        Err(e) => {
            let req = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("requirements.txt");
            panic!(
                "the MCP interop tests need the Python MCP SDK (`mcp`) and `mcp-server-time`; \
                 install them with:\n    python3 -m pip install -r {}\n(or run \
                 scripts/test.sh). Import failed:\n{e}",
                req.display()
            );
        }
    }
}

/// A finished run of `mcp_client.py`.
#[derive(Debug)]
pub struct McpClientRun {
    /// Whether it exited 0.
    pub success: bool,
    /// The JSON lines it printed.
    pub lines: Vec<Value>,
    /// Its stderr.
    pub stderr: String,
    /// Its raw stdout.
    pub stdout: String,
}

impl McpClientRun {
    /// Panics with the output unless it succeeded.
    pub fn ok(self) -> McpClientRun {
        assert!(
            self.success,
            "mcp_client.py failed; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        self
    }

    /// The line of `kind` (the first one).
    fn line(&self, kind: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} line in {:?}", self.stdout))
    }

    /// The `initialize` line (`protocolVersion`, `serverInfo`, `sessionId`).
    pub fn initialize(&self) -> &Value {
        self.line("initialize")
    }

    /// The listed tool names, in list order.
    pub fn tools(&self) -> Vec<String> {
        self.line("tools")["names"]
            .as_array()
            .unwrap_or_else(|| panic!("no names in {:?}", self.stdout))
            .iter()
            .map(|n| n.as_str().expect("a tool name").to_string())
            .collect()
    }

    /// The `call` lines, in call order (`name`, `isError`, `text`, `content`,
    /// `structuredContent`).
    pub fn calls(&self) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["kind"] == "call").collect()
    }

    /// The `call` line of the tool `name` (the first one).
    pub fn call(&self, name: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["kind"] == "call" && l["name"] == name)
            .unwrap_or_else(|| panic!("no call line for {name} in {:?}", self.stdout))
    }

    /// The JSON error line on stderr (`{"error", "code", "message"}`), if any.
    pub fn error(&self) -> Option<Value> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("error").is_some())
    }
}

/// Runs `mcp_client.py URL --call NAME ARGS...` for each `(NAME, ARGS)` of `calls`, bounded by
/// `limit` (killed past it, which panics; the client gives up 5 s earlier on its own).
pub async fn run_mcp_client_with(
    url: &str,
    calls: &[(&str, Value)],
    limit: Duration,
) -> McpClientRun {
    run_mcp_client_flags(url, &[], calls, limit).await
}

/// [`run_mcp_client_with`] with extra flags of the script (`--sse`, `--progress`, `--meta`).
pub async fn run_mcp_client_flags(
    url: &str,
    flags: &[&str],
    calls: &[(&str, Value)],
    limit: Duration,
) -> McpClientRun {
    require_mcp_sdk();
    let own = limit
        .saturating_sub(Duration::from_secs(5))
        .max(Duration::from_secs(1));
    let mut argv: Vec<String> = vec![
        url.to_string(),
        "--timeout".into(),
        own.as_secs_f64().to_string(),
    ];
    argv.extend(flags.iter().map(|f| f.to_string()));
    for (name, args) in calls {
        argv.extend(["--call".to_string(), name.to_string(), args.to_string()]);
    }
    let out = crate::a2a::run_python_script("mcp_client.py", &argv, limit).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("mcp_client.py printed a non-JSON line {l:?}: {e}"))
        })
        .collect();
    McpClientRun {
        success: out.status.success(),
        lines,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
    }
}

/// [`run_mcp_client_with`] bounded by [`CLIENT_TIMEOUT`].
pub async fn run_mcp_client(url: &str, calls: &[(&str, Value)]) -> McpClientRun {
    run_mcp_client_with(url, calls, CLIENT_TIMEOUT).await
}
