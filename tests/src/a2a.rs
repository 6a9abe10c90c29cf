//! A2A interop helpers: the Python test agent and client on the official a2a-sdk
//! (`tests/python/a2a_agent.py`, `tests/python/a2a_client.py`, pinned in
//! `tests/requirements.txt`).
//!
//! The Python side is required, not optional: when `python3 -c "import a2a, uvicorn"` fails,
//! the tests fail with the command that installs it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{client, free_port};

/// How long the agent gets to answer its card.
pub const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Default bound for one run of the Python client.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `tests/python/NAME`, independent of the working directory.
pub fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// The Python interpreter: `$PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `python3 tests/python/SCRIPT ARGS...` with proxies disabled (loopback only), bounded by
/// `limit` (killed past it, which panics), and returns its output.
pub async fn run_python_script(
    script: &str,
    args: &[String],
    limit: Duration,
) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(python_script(script))
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {} {script}: {e}", python()));
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} {args:?} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("{script} output: {e}"))
}

/// Panics with the install command unless the a2a-sdk and uvicorn import (checked once).
pub fn require_a2a_sdk() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", "import a2a, a2a.server.routes, uvicorn"])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => Err(format!("cannot run {}: {e}", python())),
        }
    });
    if let Err(e) = res {
        let req = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("requirements.txt");
        panic!(
            "the A2A interop tests need the Python a2a-sdk; install it with:\n    \
             python3 -m pip install -r {}\n(or run scripts/test.sh). Import failed:\n{e}",
            req.display()
        );
    }
}

/// What the test agent does with a message (`--mode`).
#[derive(Clone, Copy, Debug)]
pub enum AgentMode {
    /// A completed task echoing the text.
    Echo,
    /// A task, then 5 artifact chunks 300 ms apart, then completed.
    Stream,
}

impl AgentMode {
    fn arg(self) -> &'static str {
        match self {
            AgentMode::Echo => "echo",
            AgentMode::Stream => "stream",
        }
    }
}

/// A running `a2a_agent.py` on a free loopback port, killed on drop.
pub struct A2aAgent {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

impl A2aAgent {
    /// Starts the agent and waits (up to [`AGENT_READY_TIMEOUT`]) until its card answers 200.
    pub async fn start(mode: AgentMode) -> A2aAgent {
        require_a2a_sdk();
        let port = free_port();
        let mut child = Command::new(python())
            .arg(python_script("a2a_agent.py"))
            .args(["--port", &port.to_string(), "--mode", mode.arg()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} a2a_agent.py: {e}", python()));
        let stderr = crate::collect_stderr(&mut child);
        let mut agent = A2aAgent {
            child: Some(child),
            port,
            stderr,
        };
        agent.wait_ready().await;
        agent
    }

    async fn wait_ready(&mut self) {
        let http = client();
        let card = self.url("/.well-known/agent-card.json");
        let deadline = Instant::now() + AGENT_READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "a2a_agent.py exited before it was ready ({status}); stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(r) = http.get(&card).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "a2a_agent.py did not serve {card} within {AGENT_READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (the base of the interface URLs in its card).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Everything the agent wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The requests the agent received (card and `/_test/*` excluded), each
    /// `{"method", "path", "headers": {name: value}, "body"}`.
    pub async fn requests(&self) -> Vec<Value> {
        let r = client()
            .get(self.url("/_test/requests"))
            .send()
            .await
            .expect("GET /_test/requests");
        r.json().await.expect("/_test/requests JSON")
    }

    /// The card as the agent itself serves it (`path`: `/.well-known/agent-card.json`, ...).
    pub async fn card(&self, path: &str) -> Value {
        let r = client().get(self.url(path)).send().await.expect("GET card");
        assert_eq!(r.status(), 200, "the agent's own card at {path}");
        r.json().await.expect("card JSON")
    }
}

impl Drop for A2aAgent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let all = self.stderr();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("---- a2a_agent.py stderr (last 30 lines) ----\n{tail}");
        }
    }
}

/// A finished run of `a2a_client.py`.
#[derive(Debug)]
pub struct ClientRun {
    /// Whether it exited 0.
    pub success: bool,
    /// The JSON lines it printed (the first is `{"kind": "card", ...}`).
    pub lines: Vec<Value>,
    /// Its stderr.
    pub stderr: String,
    /// Its raw stdout.
    pub stdout: String,
}

impl ClientRun {
    /// Panics with the output unless it succeeded.
    pub fn ok(self) -> ClientRun {
        assert!(
            self.success,
            "a2a_client.py failed; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        self
    }

    /// The interface URLs the client kept from the card.
    pub fn interfaces(&self) -> Vec<String> {
        let card = self
            .lines
            .iter()
            .find(|l| l["kind"] == "card")
            .unwrap_or_else(|| panic!("no card line in {:?}", self.stdout));
        card["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .map(|u| u.as_str().expect("url").to_string())
            .collect()
    }

    /// The result/event lines (all but the card line).
    pub fn events(&self) -> Vec<Value> {
        self.lines
            .iter()
            .filter(|l| l["kind"] != "card")
            .cloned()
            .collect()
    }

    /// The last event line.
    pub fn last(&self) -> Value {
        self.events()
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("no event in {:?}", self.stdout))
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

/// Runs `a2a_client.py BASE_URL ARGS...` bounded by `limit` (killed past it, which panics).
pub async fn run_client_with(base_url: &str, args: &[&str], limit: Duration) -> ClientRun {
    require_a2a_sdk();
    let mut argv: Vec<String> = vec![base_url.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = run_python_script("a2a_client.py", &argv, limit).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a2a_client.py printed a non-JSON line {l:?}: {e}"))
        })
        .collect();
    ClientRun {
        success: out.status.success(),
        lines,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
    }
}

/// [`run_client_with`] bounded by [`CLIENT_TIMEOUT`].
pub async fn run_client(base_url: &str, args: &[&str]) -> ClientRun {
    run_client_with(base_url, args, CLIENT_TIMEOUT).await
}
