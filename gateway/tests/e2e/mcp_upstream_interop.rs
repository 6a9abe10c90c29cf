//! Upstream interop: servers on the official Python MCP SDK (`mcp` 1.30, FastMCP,
//! `tests/python/mcp_server.py`) as targets of one MCP backend, on each of its transports:
//! `py-stdio` (stdio), `py-sse` (legacy HTTP+SSE, 2024-11-05) and `py-http` (Streamable HTTP).
//! The client side is the rmcp client (and raw HTTP where the order on the wire matters).
//!
//! Needs `cargo build --workspace --bins` and `python3 -m pip install -r tests/requirements.txt`
//! (scripts/test.sh does both).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::a2a::python_script;
use e2e::mcp_py::require_mcp_sdk;
use e2e::{can_connect, client, free_port, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, ErrorData, Implementation,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::ClientHandler;
use serde_json::{json, Value};

use crate::mcp::{connect_as, mcp_config, step};

/// How long a Python server gets to listen on its port.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The targets' names, as they prefix the tools.
pub(crate) const TARGETS: [&str; 3] = ["py-stdio", "py-sse", "py-http"];

/// A running `mcp_server.py` on an HTTP transport, on a loopback port; killed on drop.
pub(crate) struct PyServer {
    child: Option<Child>,
    transport: &'static str,
    /// Extra command-line arguments (`--resumable`).
    args: &'static [&'static str],
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl PyServer {
    /// Starts `mcp_server.py --transport TRANSPORT` (`sse` or `streamable-http`) on a free port.
    async fn start(transport: &'static str) -> PyServer {
        Self::start_on(transport, &[], free_port()).await
    }

    /// Starts `mcp_server.py --transport TRANSPORT ARGS...` on a free port.
    pub(crate) async fn start_with(
        transport: &'static str,
        args: &'static [&'static str],
    ) -> PyServer {
        Self::start_on(transport, args, free_port()).await
    }

    /// Starts it on `port` and waits (up to [`READY_TIMEOUT`]) until the port accepts.
    async fn start_on(
        transport: &'static str,
        args: &'static [&'static str],
        port: u16,
    ) -> PyServer {
        let python = require_mcp_sdk();
        let mut child = Command::new(python)
            .arg(python_script("mcp_server.py"))
            .args(["--transport", transport, "--port", &port.to_string()])
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {python} mcp_server.py: {e}"));
        let stderr = e2e::collect_stderr(&mut child);
        let mut server = PyServer {
            child: Some(child),
            transport,
            args,
            port,
            stderr,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "mcp_server.py --transport {} exited before it was ready ({status}); stderr:\n{}",
                    self.transport,
                    self.stderr()
                );
            }
            if can_connect(addr).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mcp_server.py --transport {} did not listen on {addr} within {READY_TIMEOUT:?}; \
                 stderr:\n{}",
                self.transport,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process and starts a new one on the same port (a new process knows none of
    /// the old one's sessions).
    async fn restart(&mut self) {
        self.kill();
        *self = PyServer::start_on(self.transport, self.args, self.port).await;
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The URL a target is configured with: the SSE stream, or the Streamable HTTP endpoint.
    pub(crate) fn url(&self) -> String {
        let path = if self.transport == "sse" {
            "sse"
        } else {
            "mcp"
        };
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let all = self.stderr();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!(
                "---- mcp_server.py --transport {} stderr (last 30 lines) ----\n{tail}",
                self.transport
            );
        }
    }
}

/// The stdio target `py-stdio`: the gateway runs `mcp_server.py` itself.
fn stdio_target() -> String {
    format!(
        "- {{ name: py-stdio, stdio: {{ cmd: \"{}\", args: [\"{}\", --transport, stdio] }}, timeout: 20s }}",
        require_mcp_sdk(),
        python_script("mcp_server.py").display()
    )
}

/// The three Python servers behind one gateway (`failClosed`, so a broken target fails lists).
pub(crate) struct Federation {
    pub(crate) gw: Gateway,
    pub(crate) sse: PyServer,
    pub(crate) http: PyServer,
}

pub(crate) async fn federation() -> Federation {
    let (sse, http) = tokio::join!(PyServer::start("sse"), PyServer::start("streamable-http"));
    let targets = format!(
        "{}\n- {{ name: py-sse, sse: {{ url: \"{}\" }}, timeout: 20s }}\n\
         - {{ name: py-http, mcp: {{ url: \"{}\" }}, timeout: 20s }}",
        stdio_target(),
        sse.url(),
        http.url()
    );
    let gw = Gateway::start(&mcp_config("failClosed", &targets)).await;
    Federation { gw, sse, http }
}

/// A client that answers every form elicitation with `{answer: forty-two}` and remembers the
/// questions.
#[derive(Clone, Default)]
struct Answering {
    questions: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Answering {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.questions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.clone());
        }
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(json!({"answer": "forty-two"})))
    }

    fn get_info(&self) -> ClientConfig {
        let caps = ClientCapabilities::builder().enable_elicitation().build();
        ClientConfig::new(caps, Implementation::new("interop-test-client", "1.0.0"))
    }
}

type Client = RunningService<RoleClient, Answering>;

pub(crate) fn call(name: &str, args: Value) -> CallToolRequestParams {
    let p = CallToolRequestParams::new(name.to_string());
    match args.as_object() {
        Some(a) => p.with_arguments(a.clone()),
        None => p,
    }
}

pub(crate) fn text(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls `tool` and returns the text of a successful result.
async fn call_text(c: &Client, gw: &Gateway, tool: &str, args: Value) -> String {
    let r = step(tool, c.call_tool(call(tool, args)))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}\nstderr:\n{}", gw.stderr()));
    assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
    text(&r)
}

#[tokio::test]
async fn python_sdk_servers_on_stdio_sse_and_http_are_listed_and_called() {
    let f = federation().await;
    let c = connect_as(&f.gw, Answering::default()).await;
    let tools = step("list tools", c.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("list: {e}\nstderr:\n{}", f.gw.stderr()));
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    let mut want: Vec<String> = TARGETS
        .iter()
        .flat_map(|t| {
            [
                "chatty",
                "confirm",
                "echo",
                "interest",
                "interrupted",
                "progress",
                "roots",
                "touch",
            ]
            .map(|tool| format!("{t}_{tool}"))
        })
        .collect();
    want.sort();
    assert_eq!(names, want);
    let echo = tools
        .iter()
        .find(|t| t.name == "py-sse_echo")
        .expect("py-sse_echo");
    assert_eq!(
        echo.input_schema.get("required"),
        Some(&json!(["message"])),
        "the schema passes through: {echo:?}"
    );

    for target in TARGETS {
        let tool = format!("{target}_echo");
        let message = format!("hello from {target}");
        let got = call_text(&c, &f.gw, &tool, json!({ "message": message })).await;
        assert_eq!(got, message, "{tool}");
    }
    let _ = c.cancel().await;
    drop((f.sse, f.http));
}

/// POSTs `body` to the gateway's `/mcp`; returns (status, session id header, body).
async fn post(gw: &Gateway, session: Option<&str>, body: &Value) -> (u16, Option<String>, String) {
    let mut rb = client()
        .post(gw.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(s) = session {
        rb = rb
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let r = step("POST /mcp", rb.send())
        .await
        .unwrap_or_else(|e| panic!("POST /mcp: {e}"));
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = step("POST /mcp body", r.text()).await.unwrap_or_default();
    (status, sid, text)
}

/// Every JSON-RPC message of a JSON or SSE body, in order.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .collect()
}

/// Each Python server's progress reaches the client on the call's SSE response, in order and
/// before the result, carrying the client's own progress token.
#[tokio::test]
async fn progress_from_each_python_server_arrives_before_the_result() {
    let f = federation().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"}}});
    let (status, session, body) = post(&f.gw, None, &init).await;
    assert_eq!(status, 200, "initialize: {body}");
    let session = session.expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, body) = post(&f.gw, Some(&session), &initialized).await;
    assert!(
        status == 202 || status == 204,
        "initialized: {status} {body}"
    );

    for (i, target) in TARGETS.iter().enumerate() {
        let token = format!("tok-{target}");
        let id = 10 + i as u64;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": format!("{target}_progress"), "arguments": {"n": 3},
            "_meta": {"progressToken": token}}});
        let (status, _, body) = post(&f.gw, Some(&session), &req).await;
        assert_eq!(status, 200, "{target}: {body}\nstderr:\n{}", f.gw.stderr());
        let msgs = messages(&body);
        assert_eq!(
            msgs.len(),
            4,
            "{target}: 3 progress notifications, then the result: {body}"
        );
        for (n, m) in msgs[..3].iter().enumerate() {
            assert_eq!(m["method"], "notifications/progress", "{target}: {m}");
            assert_eq!(
                m["params"]["progressToken"],
                token.as_str(),
                "{target}: {m}"
            );
            assert_eq!(m["params"]["progress"], (n + 1) as f64, "{target}: {m}");
            assert_eq!(m["params"]["total"], 3.0, "{target}: {m}");
        }
        assert_eq!(msgs[3]["id"], id, "{target}: {body}");
        assert_eq!(
            msgs[3]["result"]["content"][0]["text"], "done 3",
            "{target}: {body}"
        );
    }
    drop((f.sse, f.http));
}

/// A Python server's `ctx.elicit` reaches the gateway's client, whose answer goes back to the
/// server and into the tool's result — over each upstream transport.
#[tokio::test]
async fn elicitation_from_python_servers_is_answered_by_the_client() {
    let f = federation().await;
    let handler = Answering::default();
    let c = connect_as(&f.gw, handler.clone()).await;
    let mut asked = Vec::new();
    for target in TARGETS {
        let tool = format!("{target}_confirm");
        let question = format!("{target} asks: proceed?");
        let got = call_text(&c, &f.gw, &tool, json!({ "question": question })).await;
        assert_eq!(got, "accept: forty-two", "{tool}");
        asked.push(question);
    }
    let seen = handler
        .questions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(seen, asked, "the client saw each question once");
    let _ = c.cancel().await;
    drop((f.sse, f.http));
}

/// An HTTP or SSE Python server restarted between two calls (a new process on the same port,
/// which knows nothing of the gateway's upstream session) serves the second call: the gateway
/// opens a new upstream session on its own.
#[tokio::test]
async fn restarted_http_and_sse_servers_are_reconnected() {
    let mut f = federation().await;
    let c = connect_as(&f.gw, Answering::default()).await;
    for target in ["py-http", "py-sse"] {
        let tool = format!("{target}_echo");
        let first = call_text(&c, &f.gw, &tool, json!({"message": "before"})).await;
        assert_eq!(first, "before", "{tool}");
        match target {
            "py-http" => f.http.restart().await,
            _ => f.sse.restart().await,
        }
        let second = call_text(&c, &f.gw, &tool, json!({"message": "after"})).await;
        assert_eq!(second, "after", "{tool} after the restart");
    }
    let _ = c.cancel().await;
}
