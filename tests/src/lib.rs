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
pub mod conformance;
pub mod epp;
mod gateway;
pub mod kube;
pub mod llm;
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

/// A loopback port that refuses connections as long as the returned socket lives: bound and
/// never listening, so no other test can take it (a port from [`free_port`] is free only until
/// someone binds it, which tests running beside this one do).
pub fn refused_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind 127.0.0.1:0");
    let port = socket.local_addr().expect("local addr").port();
    (port, socket)
}

/// A free loopback port for a process the test starts next: free when this returns, until
/// that process binds it. For a port that must refuse connections, use [`refused_port`].
///
/// Ports come from below the kernel's ephemeral range (32768 and up by default), where every
/// outgoing connection and every `bind(127.0.0.1:0)` takes its local port: a port from that
/// range, free when picked, can be a client connection's own port by the time the gateway
/// binds it, and a gateway that cannot bind exits. They are handed out in turn from a start
/// that differs per process, so one test process never gets the same port twice.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(std::process::id().wrapping_mul(7919).wrapping_add(nanos))
    });
    for _ in 0..COUNT {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `tests/`, this library's directory: the Python scripts, requirements files and installs the
/// end-to-end tests use are there, whichever package's test target runs them.
pub fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `switchboard` binary under test: the one cargo built for the running test target.
///
/// The end-to-end tests are a test target of package `gateway` (gateway/tests/e2e), the
/// binary's own package, because only there does `cargo test` build the binary before running
/// them: from any other package they would start whatever `target/debug/switchboard` an
/// earlier build left. Cargo (1.94 and later) tells the running test its path in
/// `CARGO_BIN_EXE_switchboard`; older cargo, or the test executable run by hand, gets the
/// same file, `<target>/<profile>/switchboard` next to the test executable
/// (`<target>/<profile>/deps/e2e-xxx`). The test `the_binary_is_the_one_cargo_built` (in
/// gateway/tests/e2e/main.rs) checks this path against the compile-time
/// `env!("CARGO_BIN_EXE_switchboard")`. There is no override by design: a path from the
/// environment is how the tests came to run a stale binary.
pub fn switchboard_bin() -> PathBuf {
    // Cargo names the package of the running test (cargo test sets it at run time too).
    if let Some(pkg) = std::env::var_os("CARGO_PKG_NAME").filter(|p| p != "gateway") {
        panic!(
            "a test of package {pkg:?} starts the switchboard binary, which cargo rebuilds only \
             for the tests of package gateway: put it in gateway/tests/e2e"
        );
    }
    if let Some(p) = std::env::var_os("CARGO_BIN_EXE_switchboard").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let bin = target_bin_path("switchboard");
    assert!(
        bin.exists(),
        "{} not found; the end-to-end tests run from package gateway, which builds it: \
         cargo test -p gateway --test e2e",
        bin.display()
    );
    bin
}

/// `<target>/<profile>/NAME` next to the test executable (`<target>/<profile>/deps/e2e-xxx`),
/// whether or not it exists.
fn target_bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// Another binary of the workspace (`mcp-mux-demo-stdio`) from the same target dir as the
/// tests; panics with a build hint when it is missing. Unlike [`switchboard_bin`], cargo does
/// not rebuild it for the tests (it is in another package): scripts/test.sh builds every
/// binary of the workspace first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = target_bin_path(name);
    assert!(
        bin.exists(),
        "{} not found; build it first: cargo build --workspace --bins (scripts/test.sh does)",
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
///
/// Its output is read while it runs: a child whose output outgrows the pipe's buffer (64 KiB;
/// `switchboard schema` does) would otherwise block on its write and never exit.
pub fn run_switchboard(args: &[&str], cwd: &Path) -> CmdOutput {
    let mut child = switchboard_command(args, cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchboard {args:?} did not exit within 20s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    CmdOutput {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
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
