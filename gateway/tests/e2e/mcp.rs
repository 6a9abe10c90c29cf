//! MCP backends (`backends[].mcp`): the real gateway serving a virtual MCP server over Streamable
//! HTTP, driven by the rmcp client, with targets of three transports: the `mcp-mux-demo-stdio`
//! binary (stdio), the petstore REST API (`openapi`, served in-process by the test) and an rmcp
//! Streamable HTTP server in-process in the test (`mcp`). The transport-level errors, checked
//! with raw HTTP requests, are in `mcp_transport.rs`. Also the helpers the other `mcp_*` test
//! files share.
//!
//! Needs `cargo build --workspace --bins` (scripts/test.sh does it).

use std::future::Future;
use std::sync::Arc;

use e2e::{indent, routes_config, workspace_bin, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{
    StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ServerHandler, ServiceError, ServiceExt};
use serde_json::{json, Value};

use crate::STEP;

/// The route: everything under `/mcp` goes to the named backend `tools`.
pub(crate) const ROUTES: &str = r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  backends: [{ backend: tools }]
"#;

/// The route label of [`ROUTES`] in metrics.
pub(crate) const ROUTE: &str = "main/mcp";

/// A gateway config: [`ROUTES`] and the backend `tools` with `targets` (a YAML list).
pub(crate) fn mcp_config(failure_mode: &str, targets: &str) -> String {
    format!(
        "{}backends:\n- name: tools\n  mcp:\n    failureMode: {failure_mode}\n    targets:\n{}",
        routes_config(ROUTES),
        indent(targets, 4)
    )
}

/// The stdio target `demo` (tools `echo`, `pid`, `exit`).
pub(crate) fn demo_target() -> String {
    format!(
        "- {{ name: demo, stdio: {{ cmd: \"{}\" }} }}",
        workspace_bin("mcp-mux-demo-stdio").display()
    )
}

/// The OpenAPI target `petstore` against the petstore API at `addr`.
pub(crate) fn petstore_target(addr: std::net::SocketAddr) -> String {
    let spec = examples::petstore::spec_dir().join("openapi-3.0.yaml");
    format!(
        "- {{ name: petstore, openapi: {{ spec: \"{}\", baseUrl: \"http://{addr}\" }} }}",
        spec.display()
    )
}

/// A Streamable HTTP target named `name` at `url`.
fn http_target(name: &str, url: &str) -> String {
    format!("- {{ name: {name}, mcp: {{ url: \"{url}\" }}, timeout: 5s }}")
}

/// Runs one step of a test, bounded by [`STEP`].
pub(crate) async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {STEP:?}"))
}

/// A small MCP server for the `remote` target: `add` (sum of `a` and `b`) and `whoami` (its
/// name and the JSON-RPC id of the call, as the server saw it).
#[derive(Clone)]
pub(crate) struct Remote;

pub(crate) fn object_schema(props: Value) -> Arc<rmcp::model::JsonObject> {
    let v = json!({"type": "object", "properties": props});
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for Remote {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "add",
                "Adds a and b.",
                object_schema(json!({"a": {"type": "number"}, "b": {"type": "number"}})),
            ),
            Tool::new("whoami", "Names this server.", object_schema(json!({}))),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arg = |k: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(Value::as_f64)
                .unwrap_or_default()
        };
        let text = match request.name.as_ref() {
            "add" => format!("{}", arg("a") + arg("b")),
            "whoami" => format!("remote-fixture {}", context.id),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {other}"),
                    None,
                ))
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// Serves [`Remote`] over Streamable HTTP on 127.0.0.1:0; returns its `/mcp` URL.
pub(crate) async fn remote_server() -> String {
    serve_mcp(Remote).await
}

/// Serves `handler` (each session gets a clone) over Streamable HTTP on 127.0.0.1:0; returns
/// its `/mcp` URL.
pub(crate) async fn serve_mcp<H>(handler: H) -> String
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    serve_mcp_on(handler, "127.0.0.1:0").await
}

/// Serves `handler` over Streamable HTTP at `/mcp` on `addr`; returns its URL.
pub(crate) async fn serve_mcp_on<H>(handler: H, addr: &str) -> String
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    let svc = StreamableHttpService::new(
        move || Ok(handler.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let addr = e2e::serve_router(axum::Router::new().nest_service("/mcp", svc), addr).await;
    format!("http://{addr}/mcp")
}

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    format!("http://127.0.0.1:{}/mcp", e2e::free_port())
}

/// The gateway with the three targets `demo` (stdio), `petstore` (openapi), `remote` (mcp).
async fn three_targets(failure_mode: &str) -> Gateway {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let remote = remote_server().await;
    let targets = [
        demo_target(),
        petstore_target(petstore),
        http_target("remote", &remote),
    ]
    .join("\n");
    Gateway::start(&mcp_config(failure_mode, &targets)).await
}

type Client = RunningService<RoleClient, ()>;

/// An rmcp client that completed `initialize` with the gateway's `/mcp`.
pub(crate) async fn connect(gw: &Gateway) -> Client {
    connect_as(gw, ()).await
}

/// A 2025-era rmcp client with `handler`, initialized through the gateway's `/mcp`.
pub(crate) async fn connect_as<H: rmcp::ClientHandler>(
    gw: &Gateway,
    handler: H,
) -> rmcp::service::RunningService<rmcp::RoleClient, H> {
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    step("initialize through the gateway", handler.serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()))
}

/// Waits (at most 10 s) until `done` holds.
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let p = CallToolRequestParams::new(name.to_string());
    match args.as_object() {
        Some(a) => p.with_arguments(a.clone()),
        None => p,
    }
}

/// The text of a tool result's first content block.
pub(crate) fn text(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls `name` and expects a successful (non-error) result.
pub(crate) async fn call_ok(c: &Client, name: &str, args: Value) -> CallToolResult {
    let r = step(&format!("call {name}"), c.call_tool(call(name, args)))
        .await
        .unwrap_or_else(|e| panic!("call {name}: {e}"));
    assert_ne!(r.is_error, Some(true), "{name} returned an error: {r:?}");
    r
}

/// All tool names, sorted.
async fn tool_names(c: &Client) -> Vec<String> {
    let mut names: Vec<String> = step("tools/list", c.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}"))
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn lists_and_calls_across_stdio_openapi_and_http_targets() {
    let gw = three_targets("failOpen").await;
    let c = connect(&gw).await;
    assert!(c.peer_info().is_some(), "the gateway answered initialize");

    let names = tool_names(&c).await;
    for n in &names {
        assert!(
            n.starts_with("demo_") || n.starts_with("petstore_") || n.starts_with("remote_"),
            "{n} has no target prefix: {names:?}"
        );
    }
    let of = |prefix: &str| -> Vec<&str> {
        names
            .iter()
            .filter(|n| n.starts_with(prefix))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        of("demo_"),
        [
            "demo_ask",
            "demo_count",
            "demo_echo",
            "demo_exit",
            "demo_pid",
            "demo_sample"
        ]
    );
    assert_eq!(of("remote_"), ["remote_add", "remote_whoami"]);
    for op in ["petstore_listPets", "petstore_getPet", "petstore_createPet"] {
        assert!(names.iter().any(|n| n == op), "{op} missing: {names:?}");
    }

    let r = call_ok(
        &c,
        "demo_echo",
        json!({"message": "hello through the gateway"}),
    )
    .await;
    assert_eq!(text(&r), "hello through the gateway");

    let r = call_ok(&c, "petstore_listPets", json!({})).await;
    let structured = r
        .structured_content
        .as_ref()
        .unwrap_or_else(|| panic!("listPets has no structuredContent: {r:?}"));
    let pets = structured["pets"]
        .as_array()
        .unwrap_or_else(|| panic!("no pets array: {structured}"));
    let pet_names: Vec<&str> = pets.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(pet_names, ["Rex", "Tom"], "{structured}");

    let r = call_ok(&c, "remote_add", json!({"a": 2, "b": 3})).await;
    assert_eq!(text(&r), "5");
    // Calls to an `mcp` target go straight from the request's task within the session
    // (`sb-` ids), not through rmcp's client (numeric ids): the gateway's hot path.
    let r = call_ok(&c, "remote_whoami", json!({})).await;
    assert!(
        text(&r).starts_with("remote-fixture sb-"),
        "not sent directly: {}",
        text(&r)
    );

    let _ = c.cancel().await;
}

#[tokio::test]
async fn metrics_count_requests_per_target_and_targets_up() {
    let gw = three_targets("failOpen").await;
    let c = connect(&gw).await;
    tool_names(&c).await;
    call_ok(&c, "demo_echo", json!({"message": "x"})).await;
    call_ok(&c, "demo_pid", json!({})).await;
    call_ok(&c, "petstore_listPets", json!({})).await;
    call_ok(&c, "remote_add", json!({"a": 1, "b": 1})).await;

    let m = gw.metrics().await;
    let requests = |target: &str, method: &str| {
        e2e::metric_value(
            &m,
            "switchboard_mcp_requests_total",
            &[("route", ROUTE), ("target", target), ("method", method)],
        )
    };
    assert_eq!(requests("demo", "tools/call"), Some(2.0), "{m}");
    assert_eq!(requests("petstore", "tools/call"), Some(1.0), "{m}");
    assert_eq!(requests("remote", "tools/call"), Some(1.0), "{m}");
    for t in ["demo", "petstore", "remote"] {
        assert!(
            requests(t, "tools/list").unwrap_or(0.0) >= 1.0,
            "tools/list not counted for {t}:\n{m}"
        );
        assert_eq!(
            e2e::metric_value(
                &m,
                "switchboard_mcp_targets_up",
                &[("backend", "tools"), ("target", t)]
            ),
            Some(1.0),
            "targets_up for {t}:\n{m}"
        );
    }
    // Every call ended, so none is in flight (each was counted while it ran).
    assert_eq!(
        e2e::metric_value(&m, "switchboard_mcp_calls_in_flight", &[("route", ROUTE)]),
        Some(0.0),
        "calls_in_flight:\n{m}"
    );

    // Each call's access-log line names the method, the tool as the client called it, and the
    // target that served it (the line is written when the response ends, so allow a moment).
    let wanted = r#"mcp.method="tools/call" mcp.tool="remote_add" mcp.target="remote""#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gw.stderr().contains(wanted) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        gw.stderr().contains(wanted),
        "no access-log line with {wanted}:\n{}",
        gw.stderr()
    );
    let _ = c.cancel().await;
}

#[tokio::test]
async fn fail_open_lists_the_targets_that_answer() {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let targets = [
        demo_target(),
        petstore_target(petstore),
        http_target("down", &dead_url()),
    ]
    .join("\n");
    let gw = Gateway::start(&mcp_config("failOpen", &targets)).await;
    let c = connect(&gw).await;
    let names = tool_names(&c).await;
    assert!(
        names.iter().any(|n| n == "demo_echo"),
        "demo missing: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "petstore_listPets"),
        "petstore missing: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("down_")),
        "the down target listed tools: {names:?}"
    );
    // The others still work after the failed list.
    let r = call_ok(&c, "demo_echo", json!({"message": "still here"})).await;
    assert_eq!(text(&r), "still here");

    let m = gw.metrics().await;
    assert_eq!(
        e2e::metric_value(
            &m,
            "switchboard_mcp_targets_up",
            &[("backend", "tools"), ("target", "down")]
        ),
        Some(0.0),
        "{m}"
    );
    assert!(
        e2e::metric_value(
            &m,
            "switchboard_mcp_request_errors_total",
            &[
                ("route", ROUTE),
                ("target", "down"),
                ("method", "tools/list")
            ]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "the failed list is counted:\n{m}"
    );
    let _ = c.cancel().await;
}

#[tokio::test]
async fn fail_closed_fails_the_list_naming_the_target() {
    let targets = [demo_target(), http_target("down", &dead_url())].join("\n");
    let gw = Gateway::start(&mcp_config("failClosed", &targets)).await;
    let c = connect(&gw).await;
    let err = step("tools/list (failClosed)", c.list_tools(None))
        .await
        .expect_err("failClosed: the list fails when a target is down");
    match &err {
        ServiceError::McpError(e) => {
            assert!(
                e.message.contains("down"),
                "the error names the target: {e:?}"
            )
        }
        other => panic!("expected a JSON-RPC error naming `down`, got: {other}"),
    }
    let _ = c.cancel().await;
}

/// Whether a process `pid` runs (exists and is not a zombie; Linux `/proc`).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether a process `pid` is gone entirely: dead and reaped by its parent (the gateway).
fn process_reaped(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// SIGKILLs `pid` (a demo server whose pid the test just got from it).
fn kill9(pid: i32) {
    // SAFETY: kill(2) on a pid the demo server reported as its own.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill -9 {pid}");
}

/// The pid a `demo_pid` result carries.
fn pid_of(r: &CallToolResult) -> i32 {
    text(r)
        .parse()
        .unwrap_or_else(|_| panic!("demo_pid returned no pid: {r:?}"))
}

/// A gateway with `demo` (stdio) and `petstore`, and a connected client.
async fn demo_and_petstore() -> (Gateway, Client) {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let targets = [demo_target(), petstore_target(petstore)].join("\n");
    let gw = Gateway::start(&mcp_config("failOpen", &targets)).await;
    let c = connect(&gw).await;
    (gw, c)
}

#[tokio::test]
async fn a_killed_stdio_target_is_restarted_on_the_next_call() {
    let (_gw, c) = demo_and_petstore().await;
    let first = pid_of(&call_ok(&c, "demo_pid", json!({})).await);
    assert!(process_alive(first), "the demo process {first} runs");

    // Killed between calls: once the gateway has reaped it, the next call is served by a new
    // process. (Reaped, not just dead: see `a_call_after_the_stdio_target_died_is_not_lost`.)
    kill9(first);
    assert!(
        e2e::eventually(STEP, || async { process_reaped(first) }).await,
        "the gateway did not reap the killed demo process {first}"
    );
    let second = pid_of(&call_ok(&c, "demo_pid", json!({})).await);
    assert_ne!(
        first, second,
        "a new process serves the call after the kill"
    );
    assert!(process_alive(second), "the new demo process {second} runs");

    // Dies during a call: that call fails (naming the target), the next one works.
    let err = step("call demo_exit", c.call_tool(call("demo_exit", json!({}))))
        .await
        .map(|r| format!("{r:?}"))
        .expect_err("demo_exit kills the server mid-call; the call cannot succeed");
    assert!(
        err.to_string().contains("demo"),
        "the failure names the target: {err}"
    );
    let third = pid_of(&call_ok(&c, "demo_pid", json!({})).await);
    assert_ne!(second, third, "a new process after exit");
    let r = call_ok(&c, "demo_echo", json!({"message": "back"})).await;
    assert_eq!(text(&r), "back");
    let _ = c.cancel().await;
}

/// A call that starts after the stdio process died (so it was not in flight when it died) must
/// not fail, even when the gateway has not yet noticed the exit: the write to the dead process
/// fails (`EPIPE`, "Transport send error"), so the request never reached it and can safely go to
/// a new process. The gateway checks that a stdio process is still running before it sends,
/// so a process that died and was not noticed yet is replaced first. The window is narrow
/// (the gateway usually sees the EOF of the child's stdout first), so the test polls tightly
/// and tries many times.
#[tokio::test]
async fn a_call_after_the_stdio_target_died_is_not_lost() {
    let (_gw, c) = demo_and_petstore().await;
    let mut pid = pid_of(&call_ok(&c, "demo_pid", json!({})).await);
    for round in 1..=100 {
        kill9(pid);
        // Poll tightly so the call goes out right after the death.
        let deadline = std::time::Instant::now() + STEP;
        while process_alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the demo process {pid} did not die"
            );
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        let r = step(
            "call demo_pid after the kill",
            c.call_tool(call("demo_pid", json!({}))),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("round {round}: a call made after the demo process {pid} died failed: {e}")
        });
        let next = pid_of(&r);
        assert_ne!(pid, next, "round {round}: a new process serves the call");
        pid = next;
    }
    let _ = c.cancel().await;
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_params() {
    let (_gw, c) = demo_and_petstore().await;
    for name in ["nope", "demo_nope", "zz_echo", "petstore_noSuchOperation"] {
        let err = step(&format!("call {name}"), c.call_tool(call(name, json!({}))))
            .await
            .expect_err(name);
        match err {
            ServiceError::McpError(e) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{name}: {e:?}");
                assert_eq!(e.code.0, -32602, "{name}");
            }
            other => panic!("{name}: expected JSON-RPC -32602, got: {other}"),
        }
    }
    // The session is still usable.
    let r = call_ok(&c, "demo_echo", json!({"message": "ok"})).await;
    assert_eq!(text(&r), "ok");
    let _ = c.cancel().await;
}

/// A stdio target with `idleTimeout` is stopped (and reaped) after that long without a
/// request, and started again by the next call.
#[tokio::test]
async fn an_idle_stdio_target_is_stopped_and_started_again_on_use() {
    let target = format!(
        "- {{ name: demo, stdio: {{ cmd: \"{}\", idleTimeout: 1s }} }}",
        workspace_bin("mcp-mux-demo-stdio").display()
    );
    let gw = Gateway::start(&mcp_config("failOpen", &target)).await;
    let c = connect(&gw).await;
    let first = pid_of(&call_ok(&c, "pid", json!({})).await);
    assert!(process_alive(first), "the demo process {first} runs");
    assert!(
        e2e::eventually(std::time::Duration::from_secs(10), || async {
            process_reaped(first)
        })
        .await,
        "the idle demo process {first} was not stopped\n{}",
        gw.stderr()
    );
    // The log has a writer thread of its own: the line may trail the reaping a little.
    assert!(
        e2e::eventually(std::time::Duration::from_secs(5), || async {
            gw.stderr().contains("MCP target idle")
        })
        .await,
        "{}",
        gw.stderr()
    );
    let second = pid_of(&call_ok(&c, "pid", json!({})).await);
    assert_ne!(first, second, "a new process serves the next call");
    let _ = c.cancel().await;
}
