//! Shared helpers for the end-to-end tests: a handle on a real `switchboard` process, in-process
//! upstream servers that record what they receive, and a raw TCP client for malformed HTTP.
//!
//! Every test gets its own ports (free loopback ports picked by binding `127.0.0.1:0`), its own
//! temp dir and its own gateway process, so tests run in parallel.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub mod a2a;
mod config;
pub mod mcp_py;

pub use a2a::{run_client, A2aAgent, AgentMode, ClientRun};
pub use config::{bind, indent, routes_config, with_settings};

/// How long a gateway gets to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

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
fn switchboard_command<S: AsRef<std::ffi::OsStr>>(args: &[S], cwd: &Path) -> Command {
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

/// A running `switchboard run -c FILE` process, killed on drop.
///
/// The config template may use `{admin}` (the admin address; added as `config.adminAddr`
/// automatically when the template has no `adminAddr`), `{port}`, `{port2}`, `{port3}` (free
/// ports) and `{dir}` (the temp dir holding the config file).
pub struct Gateway {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The config file.
    pub config_path: PathBuf,
    /// Admin address.
    pub admin: SocketAddr,
    vars: Vec<(String, String)>,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Gateway {
    /// Writes the config, starts the gateway and waits until `/readyz` is 200.
    pub async fn start(template: &str) -> Gateway {
        Self::start_with(template, |_| {}).await
    }

    /// Like [`Gateway::start`], with a hook that may write extra files (certs) into the temp dir
    /// before the gateway starts.
    pub async fn start_with(template: &str, prepare: impl FnOnce(&Path)) -> Gateway {
        let mut gw = Self::spawn(template, prepare);
        gw.wait_ready().await;
        gw
    }

    /// Like [`Gateway::start_with`], with extra environment variables for the process.
    pub async fn start_with_env(
        template: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, String)],
    ) -> Gateway {
        let mut gw = Self::spawn_with_env(template, prepare, env);
        gw.wait_ready().await;
        gw
    }

    /// Writes the config and starts the process without waiting for readiness.
    pub fn spawn(template: &str, prepare: impl FnOnce(&Path)) -> Gateway {
        Self::spawn_with_env(template, prepare, &[])
    }

    fn spawn_with_env(
        template: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, String)],
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        prepare(dir.path());
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let vars = vec![
            ("admin".to_string(), admin.to_string()),
            ("port".to_string(), free_port().to_string()),
            ("port2".to_string(), free_port().to_string()),
            ("port3".to_string(), free_port().to_string()),
            ("dir".to_string(), dir.path().display().to_string()),
        ];
        let config_path = dir.path().join("switchboard.yaml");
        std::fs::write(&config_path, render(template, &vars)).expect("write config");
        let mut child = switchboard_command(
            &["run".as_ref(), "-c".as_ref(), config_path.as_os_str()],
            dir.path(),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr pipe");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Gateway {
            child: Some(child),
            dir,
            config_path,
            admin,
            vars,
            stderr,
            http: client(),
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit() {
                panic!(
                    "switchboard exited before it was ready ({status}); stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(r) = self.http.get(self.admin_url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "switchboard not ready within {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The temp dir holding the config file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The value of a template variable (`port`, `port2`, `port3`, `admin`, `dir`).
    pub fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no template variable {name}"))
    }

    /// The first data port (`{port}`).
    pub fn port(&self) -> u16 {
        self.var("port").parse().unwrap()
    }

    /// A data port by variable name (`port2`, ...).
    pub fn port_of(&self, name: &str) -> u16 {
        self.var(name).parse().unwrap()
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// Data address `127.0.0.1:{port}`.
    pub fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port()).parse().unwrap()
    }

    /// An admin URL.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`libc::SIGTERM`, ...).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// The exit status, if the process has exited.
    fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits (polling) for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replaces the config file (write to a sibling, then rename) with `template` filled with
    /// the same variables.
    pub fn write_config(&self, template: &str) {
        let tmp = self.dir.path().join(".switchboard.yaml.tmp");
        std::fs::write(&tmp, render(template, &self.vars)).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("rename config");
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A sample's value by metric name and labels (all given labels must match; others are
    /// ignored). `None` when absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.metrics().await, name, labels)
    }

    /// Like [`Gateway::metric`] with 0 for an absent sample.
    pub async fn metric_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metric(name, labels).await.unwrap_or(0.0)
    }

    /// Polls until the metric reaches at least `at_least`, up to `limit`; returns the last value.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        at_least: f64,
        limit: Duration,
    ) -> f64 {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.metric_or_zero(name, labels).await;
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn render(template: &str, vars: &[(String, String)]) -> String {
    let mut t = template.trim_start().to_string();
    if !t.contains("adminAddr") {
        if let Some(rest) = t.strip_prefix("config:\n") {
            t = format!("config:\n  adminAddr: {{admin}}\n{rest}");
        } else {
            t = format!("config:\n  adminAddr: {{admin}}\n{t}");
        }
    }
    fill(&t, vars)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let all = self.stderr();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("---- switchboard stderr (last 40 lines) ----\n{tail}");
        }
    }
}

/// A sample's value in Prometheus text: `name{labels} value`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(v) => v,
            None => continue,
        };
        let (n, lbls) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            continue;
        }
        let all = labels
            .iter()
            .all(|(k, v)| lbls.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if all {
            return value.parse().ok();
        }
    }
    None
}

/// One request as an upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body, when it was read to its end.
    pub body: Option<Bytes>,
}

impl Recorded {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<bin>").to_string())
            .unwrap_or_default()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

#[derive(Default)]
struct UpstreamState {
    name: String,
    arrivals: AtomicUsize,
    recorded: Mutex<Vec<Recorded>>,
    counters: Mutex<HashMap<String, usize>>,
}

/// An in-process HTTP upstream on `127.0.0.1:0` that records every request.
///
/// It answers 200 with its name as the body and `x-upstream: NAME`, unless the query says:
/// - `status=N`: answer N;
/// - `fail=K&fail_status=N` (default 503): the first K hits of this path+query get N;
/// - `delay_ms=N`: wait before the response headers;
/// - `sse=N&interval_ms=M`: `text/event-stream` with N events (`data: i`), one every M ms;
/// - `echo=1`: the body is the request body.
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<UpstreamState>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts an upstream named `name`.
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        Self::serve(name, listener)
    }

    /// Starts an upstream on a chosen port (for "comes back later" tests).
    pub async fn start_on(name: &str, port: u16) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind upstream");
        Self::serve(name, listener)
    }

    fn serve(name: &str, listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState {
            name: name.to_string(),
            ..Default::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, state, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Requests seen so far (those whose body was read or failed).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Requests whose headers arrived, including those whose body is still being read.
    pub fn arrivals(&self) -> usize {
        self.state.arrivals.load(Ordering::SeqCst)
    }

    /// Number of recorded requests.
    pub fn hits(&self) -> usize {
        self.state.recorded.lock().unwrap().len()
    }

    /// Waits until at least `n` requests are recorded, up to `limit`; returns the count.
    pub async fn wait_hits(&self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let h = self.hits();
            if h >= n || Instant::now() > deadline {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last recorded request.
    pub fn last(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the upstream saw no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

async fn handle(State(st): State<Arc<UpstreamState>>, req: Request) -> Response {
    st.arrivals.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = body.collect().await.ok().map(|c| c.to_bytes());
    st.recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let q = |n: &str| query_param(&parts.uri, n);
    let num = |n: &str| q(n).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = num("delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut status = num("status").unwrap_or(200) as u16;
    if let Some(k) = num("fail") {
        let hit = {
            let mut c = st.counters.lock().unwrap();
            let e = c.entry(uri.clone()).or_default();
            *e += 1;
            *e
        };
        if hit as u64 <= k {
            status = num("fail_status").unwrap_or(503) as u16;
        }
    }
    let builder = Response::builder()
        .status(status)
        .header("x-upstream", st.name.as_str());
    if let Some(n) = num("sse") {
        let interval = Duration::from_millis(num("interval_ms").unwrap_or(300));
        let stream = futures_util::stream::unfold(0u64, move |i| async move {
            if i >= n {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {i}\n\n"))),
                i + 1,
            ))
        });
        return builder
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    if q("echo").is_some() {
        return builder.body(Body::from(body.unwrap_or_default())).unwrap();
    }
    builder.body(Body::from(st.name.clone())).unwrap()
}

/// A TCP server that accepts connections and closes them at once (an upstream that resets).
pub struct ClosingServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ClosingServer {
    /// Starts it on `127.0.0.1:0`.
    pub async fn start() -> ClosingServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                // Read a little so the request is on the wire, then close.
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
                drop(s);
            }
        });
        ClosingServer {
            addr,
            accepted,
            task,
        }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes `bytes` on a fresh connection to `addr` and reads until EOF or `limit`; returns what
/// was read.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code in a raw HTTP/1.1 response (`HTTP/1.1 400 ...`).
pub fn raw_status(resp: &str) -> Option<u16> {
    resp.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whether a TCP connect to `addr` succeeds (within 1 s).
pub async fn can_connect(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
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

/// One HTTP/1.1 keep-alive connection driven by hand, to prove a connection survives a change.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response read from a [`RawConn`].
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl RawResponse {
    /// A header value ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

impl RawConn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        RawConn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// Sends `GET path` with keep-alive and reads one response (Content-Length framed), within 10 s.
    pub async fn get(&mut self, path: &str) -> RawResponse {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.stream
            .write_all(req.as_bytes())
            .await
            .expect("write on the kept-alive connection");
        tokio::time::timeout(Duration::from_secs(10), self.read_response())
            .await
            .expect("response on the kept-alive connection timed out")
    }

    async fn fill(&mut self) {
        let mut b = [0u8; 4096];
        let n = self.stream.read(&mut b).await.expect("read");
        assert!(n > 0, "the connection was closed");
        self.buf.extend_from_slice(&b[..n]);
    }

    async fn read_response(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status =
            raw_status(&format!("{}\r\n", lines.next().unwrap_or(""))).expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("RawConn reads Content-Length framed responses only");
        while self.buf.len() < head_end + 4 + len {
            self.fill().await;
        }
        let body =
            String::from_utf8_lossy(&self.buf[head_end + 4..head_end + 4 + len]).into_owned();
        self.buf.drain(..head_end + 4 + len);
        RawResponse {
            status,
            headers,
            body,
        }
    }
}
