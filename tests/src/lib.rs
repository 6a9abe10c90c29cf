//! Shared helpers for the end-to-end tests: a handle on a real `switchboard` process, in-process
//! upstream servers that record what they receive, and a raw TCP client for malformed HTTP.
//!
//! Every test gets its own ports (free loopback ports picked by binding `127.0.0.1:0`), its own
//! temp dir and its own gateway process, so tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod a2a;
mod config;
mod gateway;
pub mod mcp_py;
mod raw;
mod upstream;

pub use a2a::{run_client, A2aAgent, AgentMode, ClientRun};
pub use config::{bind, indent, routes_config, with_settings};
pub use gateway::{metric_value, Gateway, READY_TIMEOUT};
pub use raw::{can_connect, raw_exchange, raw_status, RawConn, RawResponse};
pub use upstream::{serve_router, ClosingServer, Recorded, Upstream};

/// Takes `child`'s piped stderr and collects it, line by line, on a thread of its own (a full
/// pipe would block the child); the text so far is in the returned buffer.
pub fn collect_stderr(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead as _;
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let Some(pipe) = child.stderr.take() else {
        return stderr;
    };
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(pipe);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&line);
            line.clear();
        }
    });
    stderr
}

/// A free loopback port: bound to `127.0.0.1:0`, then released.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The `switchboard` binary: `$SWITCHBOARD_BIN`, else `<target>/debug/switchboard` next to the
/// test executable (`<target>/debug/deps/e2e-xxx`).
pub fn switchboard_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SWITCHBOARD_BIN") {
        return PathBuf::from(p);
    }
    let bin = target_bin_path("switchboard");
    assert!(
        bin.exists(),
        "{} not found; build it first: cargo build -p gateway --bin switchboard (or set SWITCHBOARD_BIN)",
        bin.display()
    );
    bin
}

/// `<target>/debug/NAME` next to the test executable (`<target>/debug/deps/e2e-xxx`), whether
/// or not it exists.
fn target_bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// Another binary of the workspace (`mcp-mux-demo-stdio`, `petstore`, ...) from the same target
/// dir as the tests; panics with a build hint when it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = target_bin_path(name);
    assert!(
        bin.exists(),
        "{} not found; build it first: cargo build --workspace --bins",
        bin.display()
    );
    bin
}

/// A reqwest client for tests: no proxies from the environment, no redirects followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("reqwest client")
}

/// Output of a finished `switchboard` command.
#[derive(Debug)]
pub struct CmdOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// `switchboard ARGS` in `cwd` with a clean environment (no `SWITCHBOARD_CONFIG`, info logs
/// without colors) and no stdin.
pub(crate) fn switchboard_command<S: AsRef<std::ffi::OsStr>>(args: &[S], cwd: &Path) -> Command {
    let mut cmd = Command::new(switchboard_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("SWITCHBOARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `switchboard ARGS` to completion (bounded by 20 s) with extra env vars.
pub fn run_switchboard(args: &[&str], cwd: &Path) -> CmdOutput {
    let mut child = switchboard_command(args, cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchboard {args:?} did not exit within 20s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    CmdOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Replaces `{name}` placeholders.
pub fn fill(template: &str, vars: &[(String, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Polls `f` every 50 ms until it returns true, up to `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: (cert PEM, key PEM).
pub fn self_signed() -> (String, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}
