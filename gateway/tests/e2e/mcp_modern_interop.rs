//! MCP interop with the official Python SDK **2.x** (`mcp==2.3.0`) as the client, the first
//! official client of the 2026-07-28 (modern, stateless) era: `tests/python/mcp2_client.py`
//! drives `mcp.Client` against the real gateway's virtual MCP server, which federates the
//! `mcp-mux-demo-stdio` binary (`demo`) and the petstore REST API (`petstore`, openapi).
//!
//! The SDK 2.x cannot share site-packages with 1.x (tests/requirements.txt, used by the other
//! Python tests), so it lives in `tests/.python-mcp2` (`pip install --target`, from
//! tests/requirements-mcp2.txt; scripts/test.sh does it) and the script runs with that dir as
//! `PYTHONPATH`. Without the dir the tests fail with the command that installs it: a test that
//! passes without running would hide a broken modern era.
//!
//! What is checked beyond the results: the client really spoke the modern era (its first
//! request is `server/discover`, every request carries the version in `_meta` and the
//! `MCP-Protocol-Version`/`Mcp-Method`/`Mcp-Name` headers, no session id either way, no GET or
//! DELETE) and the gateway never saw `initialize` (its access log).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use e2e::Gateway;
use serde_json::{json, Value};

use crate::mcp::{demo_target, mcp_config, petstore_target};

/// Bound for one run of the Python client (its own `--timeout` is 5 s less).
const CLIENT_LIMIT: Duration = Duration::from_secs(40);

/// The version the client must have negotiated in the modern tests.
const MODERN: &str = "2026-07-28";

/// `tests/.python-mcp2`, where scripts/test.sh installs tests/requirements-mcp2.txt.
fn mcp2_dir() -> PathBuf {
    e2e::tests_dir().join(".python-mcp2")
}

/// The install command, for messages.
fn install_hint() -> String {
    format!(
        "python3 -m pip install --target {} -r {} (or run scripts/test.sh)",
        mcp2_dir().display(),
        e2e::tests_dir().join("requirements-mcp2.txt").display()
    )
}

/// The SDK 2.x install dir. Panics with the install command when it is missing, or when it
/// does not import `mcp` 2.3.0.
fn require_mcp2_sdk() -> PathBuf {
    let dir = mcp2_dir();
    assert!(
        dir.join("mcp").is_dir(),
        "the Python MCP SDK 2.x is not installed in {}; install it with:\n    {}",
        dir.display(),
        install_hint()
    );
    let out = std::process::Command::new(e2e::a2a::python())
        .args([
            "-c",
            "import importlib.metadata as m, mcp, mcp.client.streamable_http; \
             print(m.version('mcp'))",
        ])
        .env("PYTHONPATH", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", e2e::a2a::python()));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && version == "2.3.0",
        "{} does not import mcp 2.3.0 (got {version:?}); reinstall it with:\n    {}\n{}",
        dir.display(),
        install_hint(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The one JSON document `mcp2_client.py` printed, with its exit status and stderr.
struct Run {
    success: bool,
    doc: Value,
    stderr: String,
}

impl Run {
    /// The `calls` entry of the tool `name` (the first one).
    fn call(&self, name: &str) -> &Value {
        self.doc["calls"]
            .as_array()
            .and_then(|calls| calls.iter().find(|c| c["name"] == name))
            .unwrap_or_else(|| panic!("no call of {name} in {}", self.doc))
    }

    /// The listed tool names, in list order.
    fn tools(&self) -> Vec<&str> {
        self.doc["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools in {}", self.doc))
            .iter()
            .map(|n| n.as_str().expect("a tool name"))
            .collect()
    }

    /// The HTTP exchanges the SDK made, in order.
    fn http(&self) -> &[Value] {
        self.doc["http"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The JSON-RPC methods of the requests it POSTed, in order.
    fn posted_methods(&self) -> Vec<&str> {
        self.http()
            .iter()
            .filter_map(|h| h["body"]["method"].as_str())
            .collect()
    }
}

/// Runs `mcp2_client.py URL --mode MODE [FLAGS] --call NAME ARGS...` with the SDK 2.x on
/// `PYTHONPATH` (proxies off: loopback only), killed past [`CLIENT_LIMIT`] (which panics).
async fn run_client(
    sdk: &std::path::Path,
    url: &str,
    mode: &str,
    flags: &[&str],
    calls: &[(&str, Value)],
) -> Run {
    let own = CLIENT_LIMIT - Duration::from_secs(5);
    let mut cmd = tokio::process::Command::new(e2e::a2a::python());
    cmd.arg(e2e::a2a::python_script("mcp2_client.py"))
        .args([url, "--mode", mode, "--timeout", &own.as_secs().to_string()])
        .args(flags);
    for (name, args) in calls {
        cmd.args(["--call", name, &args.to_string()]);
    }
    cmd.env("PYTHONPATH", sdk)
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
        .unwrap_or_else(|e| panic!("spawn {} mcp2_client.py: {e}", e2e::a2a::python()));
    let out = tokio::time::timeout(CLIENT_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("mcp2_client.py did not finish within {CLIENT_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("mcp2_client.py output: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("mcp2_client.py printed no JSON document ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    Run {
        success: out.status.success(),
        doc,
        stderr,
    }
}

/// The gateway with `demo` (stdio) and `petstore` (openapi).
async fn demo_and_petstore() -> Gateway {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let targets = [demo_target(), petstore_target(petstore)].join("\n");
    Gateway::start(&mcp_config("failOpen", &targets)).await
}

/// The calls every test makes, in order: arguments, progress, an output schema (petstore's
/// structured result, which the SDK validates), a question (elicitation), two names no target
/// owns.
fn calls() -> Vec<(&'static str, Value)> {
    vec![
        (
            "demo_echo",
            json!({"message": "hello from the Python SDK 2"}),
        ),
        ("demo_count", json!({"n": 3, "delayMs": 30})),
        ("petstore_listPets", json!({})),
        ("demo_ask", json!({"question": "Favourite colour?"})),
        ("nope", json!({})),
        ("demo_nope", json!({})),
    ]
}

/// Runs the client in `mode` against a fresh gateway and checks what every mode must give:
/// the run succeeded, the prefixed tool names, each call's result or error. Returns the run
/// and the gateway (for era-specific checks).
async fn run_and_check_calls(sdk: &std::path::Path, mode: &str) -> (Run, Gateway) {
    let gw = demo_and_petstore().await;
    let run = run_client(
        sdk,
        &gw.url("/mcp"),
        mode,
        &["--elicit", "blue", "--ping"],
        &calls(),
    )
    .await;
    assert!(
        run.success && run.doc["error"].is_null(),
        "mcp2_client.py --mode {mode} failed: {}\nstderr:\n{}\ngateway stderr:\n{}",
        run.doc,
        run.stderr,
        gw.stderr()
    );
    assert_eq!(run.doc["sdkVersion"], "2.3.0", "{}", run.doc);
    assert_eq!(run.doc["serverInfo"]["name"], "switchboard", "{}", run.doc);

    let names = run.tools();
    for n in &names {
        assert!(
            n.starts_with("demo_") || n.starts_with("petstore_"),
            "{n} has no target prefix: {names:?}"
        );
    }
    let mut demo: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("demo_"))
        .collect();
    demo.sort_unstable();
    assert_eq!(
        demo,
        [
            "demo_ask",
            "demo_count",
            "demo_echo",
            "demo_exit",
            "demo_pid",
            "demo_sample"
        ]
    );
    for op in ["petstore_listPets", "petstore_getPet", "petstore_createPet"] {
        assert!(names.contains(&op), "{op} missing: {names:?}");
    }

    let echo = run.call("demo_echo");
    assert_eq!(echo["ok"], true, "{echo}");
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(
        echo["text"],
        json!(["hello from the Python SDK 2"]),
        "{echo}"
    );

    // Three progress notifications, in order, all delivered before the result.
    let count = run.call("demo_count");
    assert_eq!(count["ok"], true, "{count}");
    assert_eq!(count["text"], json!(["counted 3"]), "{count}");
    let progress = count["progress"].as_array().expect("progress list");
    assert_eq!(
        progress.len(),
        3,
        "three progress notifications before the result: {count}"
    );
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["progress"], json!((i + 1) as f64), "{count}");
        assert_eq!(p["total"], json!(3.0), "{count}");
    }
    assert_eq!(count["progressAfter"], json!([]), "{count}");

    // The SDK validates structuredContent against the tool's outputSchema; a mismatch would
    // have failed the call.
    let pets = run.call("petstore_listPets");
    assert_eq!(pets["ok"], true, "{pets}");
    assert_eq!(pets["isError"], false, "{pets}");
    let pet_names: Vec<&str> = pets["structuredContent"]["pets"]
        .as_array()
        .unwrap_or_else(|| panic!("listPets has no structuredContent.pets: {pets}"))
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(pet_names, ["Rex", "Tom"], "{pets}");

    // The demo target's elicitation reached the SDK's callback, and its answer the target.
    let ask = run.call("demo_ask");
    assert_eq!(ask["ok"], true, "{ask}");
    assert_eq!(ask["text"], json!(["accept: blue"]), "{ask}");
    let asked = run.doc["elicitations"].as_array().expect("elicitations");
    assert_eq!(asked.len(), 1, "{}", run.doc["elicitations"]);
    assert_eq!(asked[0]["message"], "Favourite colour?", "{}", asked[0]);

    // A name no target owns: the spec's unknown-tool error, JSON-RPC -32602.
    for name in ["nope", "demo_nope"] {
        let c = run.call(name);
        assert_eq!(c["ok"], false, "{c}");
        assert_eq!(c["error"]["type"], "MCPError", "{c}");
        assert_eq!(c["error"]["code"], -32602, "{c}");
    }
    (run, gw)
}

/// Waits until the access log has the line of the last call (lines are written when a response
/// ends), then returns the gateway's stderr.
async fn access_log(gw: &Gateway) -> String {
    let last = r#"mcp.method="tools/call" mcp.tool="demo_nope""#;
    let seen = e2e::eventually(Duration::from_secs(5), || async {
        gw.stderr().contains(last)
    })
    .await;
    let log = gw.stderr();
    assert!(seen, "no access-log line with {last}:\n{log}");
    log
}

/// Asserts the run spoke only the 2026-07-28 era on the wire.
fn assert_modern_wire(run: &Run) {
    let http = run.http();
    assert!(!http.is_empty(), "no HTTP exchange recorded: {}", run.doc);
    let methods = run.posted_methods();
    assert_eq!(
        methods.first(),
        Some(&"server/discover"),
        "the first request: {methods:?}"
    );
    assert!(
        !methods
            .iter()
            .any(|m| *m == "initialize" || m.starts_with("notifications/")),
        "no handshake, no client notification in the modern era: {methods:?}"
    );
    for h in http {
        assert_eq!(
            h["method"], "POST",
            "only POSTs (no GET stream, no DELETE): {h}"
        );
        let body = &h["body"];
        let method = body["method"].as_str().unwrap_or_else(|| panic!("{h}"));
        assert_eq!(body["protocolVersion"], MODERN, "_meta version: {h}");
        for key in [
            "io.modelcontextprotocol/clientCapabilities",
            "io.modelcontextprotocol/clientInfo",
        ] {
            assert!(
                body["metaKeys"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == key)),
                "{key} in _meta: {h}"
            );
        }
        let headers = &h["requestHeaders"];
        assert_eq!(headers["mcp-protocol-version"], MODERN, "{h}");
        assert_eq!(headers["mcp-method"], method, "{h}");
        assert!(headers.get("mcp-session-id").is_none(), "{h}");
        assert!(h["responseHeaders"].get("mcp-session-id").is_none(), "{h}");
        if method == "tools/call" {
            assert!(
                headers["mcp-name"].is_string(),
                "Mcp-Name on tools/call: {h}"
            );
        }
        assert!(
            h["status"] == 200 || h["status"] == 400 || h["status"] == 404,
            "{h}"
        );
    }
}

/// The SDK in its strict modern mode (`mode="2026-07-28"` plus an explicit `server/discover`,
/// no fallback): discovers, lists, calls with arguments, gets progress, answers a question by
/// an `input_required` round trip, gets -32602 for unknown tools and -32601 for `ping`, all
/// statelessly.
#[tokio::test]
async fn python_sdk_2_modern_client_discovers_lists_and_calls() {
    let sdk = require_mcp2_sdk();
    let (run, gw) = run_and_check_calls(&sdk, "modern").await;
    assert_eq!(run.doc["protocolVersion"], MODERN, "{}", run.doc);
    assert_eq!(run.doc["era"], "modern", "{}", run.doc);
    assert!(run.doc["initialize"].is_null(), "{}", run.doc);
    let discover = &run.doc["discover"];
    assert!(
        discover["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == MODERN)),
        "{discover}"
    );
    assert_eq!(discover["resultType"], "complete", "{discover}");
    assert!(discover["capabilities"]["tools"].is_object(), "{discover}");
    assert!(discover["ttlMs"].is_u64(), "{discover}");
    assert_modern_wire(&run);

    // `ping` is not part of 2026-07-28: an unknown method (404 + -32601), as rmcp answers it.
    let ping = &run.doc["ping"];
    assert_eq!(ping["ok"], false, "{ping}");
    assert_eq!(ping["error"]["code"], -32601, "{ping}");
    let ping_status: Vec<&Value> = run
        .http()
        .iter()
        .filter(|h| h["body"]["method"] == "ping")
        .map(|h| &h["status"])
        .collect();
    assert_eq!(ping_status, [&json!(404)], "{}", run.doc["http"]);

    // Modern results carry `resultType`.
    for name in ["demo_echo", "demo_count", "petstore_listPets", "demo_ask"] {
        let c = run.call(name);
        assert_eq!(c["resultType"], "complete", "{c}");
    }

    // Progress travels with its own request: the call that asked carried a progress token.
    let tokens: Vec<&Value> = run
        .http()
        .iter()
        .filter(|h| h["requestHeaders"]["mcp-name"] == "demo_count")
        .map(|h| &h["body"]["progressToken"])
        .collect();
    assert!(
        tokens.len() == 1 && !tokens[0].is_null(),
        "one demo_count POST with a progress token: {tokens:?}"
    );

    // The question came back as input_required: the SDK answered and re-sent the call with a
    // new id, its inputResponses and the gateway's requestState.
    let asks: Vec<&Value> = run
        .http()
        .iter()
        .filter(|h| h["requestHeaders"]["mcp-name"] == "demo_ask")
        .collect();
    assert_eq!(asks.len(), 2, "the call and its retry: {asks:?}");
    assert_eq!(asks[0]["body"]["hasRequestState"], false, "{}", asks[0]);
    assert_eq!(asks[1]["body"]["hasRequestState"], true, "{}", asks[1]);
    assert_eq!(
        asks[1]["body"]["inputResponseKeys"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{}",
        asks[1]
    );
    assert_ne!(asks[0]["body"]["id"], asks[1]["body"]["id"], "{asks:?}");

    // The gateway's view: discover, list and calls, never initialize.
    let log = access_log(&gw).await;
    for wanted in [
        r#"mcp.method="server/discover""#,
        r#"mcp.method="tools/list""#,
        r#"mcp.method="tools/call" mcp.tool="demo_count" mcp.target="demo""#,
        r#"mcp.method="tools/call" mcp.tool="petstore_listPets" mcp.target="petstore""#,
    ] {
        assert!(
            log.contains(wanted),
            "no access-log line with {wanted}:\n{log}"
        );
    }
    assert!(
        !log.contains(r#"mcp.method="initialize""#),
        "the modern client never initializes, yet the gateway logged initialize:\n{log}"
    );
}

/// The SDK's default (`mode="auto"`): its `server/discover` probe gets a DiscoverResult from
/// the gateway, so it stays in the modern era instead of falling back to `initialize`.
#[tokio::test]
async fn python_sdk_2_auto_mode_picks_the_modern_era() {
    let sdk = require_mcp2_sdk();
    let (run, gw) = run_and_check_calls(&sdk, "auto").await;
    assert_eq!(
        run.doc["protocolVersion"], MODERN,
        "auto fell back to the legacy era: {}",
        run.doc
    );
    assert_eq!(run.doc["era"], "modern", "{}", run.doc);
    assert_modern_wire(&run);
    assert_eq!(
        run.doc["ping"]["error"]["code"], -32601,
        "{}",
        run.doc["ping"]
    );
    let log = access_log(&gw).await;
    assert!(
        !log.contains(r#"mcp.method="initialize""#),
        "the gateway logged initialize:\n{log}"
    );
}

/// The same client in `mode="legacy"`: `initialize`, a sealed session id on every request,
/// results without `resultType`, the question as an `elicitation/create` on the call's stream.
#[tokio::test]
async fn python_sdk_2_legacy_client_initializes_and_calls() {
    let sdk = require_mcp2_sdk();
    let (run, gw) = run_and_check_calls(&sdk, "legacy").await;
    assert_eq!(run.doc["protocolVersion"], "2025-11-25", "{}", run.doc);
    assert_eq!(run.doc["era"], "legacy", "{}", run.doc);
    assert!(run.doc["discover"].is_null(), "{}", run.doc);
    assert_eq!(
        run.doc["initialize"]["serverInfo"]["name"], "switchboard",
        "{}",
        run.doc
    );

    // Legacy sessions still have `ping`.
    assert_eq!(run.doc["ping"]["ok"], true, "{}", run.doc["ping"]);

    let methods = run.posted_methods();
    assert_eq!(
        methods.first(),
        Some(&"initialize"),
        "the first request: {methods:?}"
    );
    assert!(
        !methods.contains(&"server/discover"),
        "no probe in legacy mode: {methods:?}"
    );
    let http = run.http();
    let session = http[0]["responseHeaders"]["mcp-session-id"]
        .as_str()
        .unwrap_or_else(|| panic!("initialize gave no Mcp-Session-Id: {}", http[0]));
    for h in &http[1..] {
        assert_eq!(h["requestHeaders"]["mcp-session-id"], session, "{h}");
        assert_eq!(
            h["requestHeaders"]["mcp-protocol-version"], "2025-11-25",
            "{h}"
        );
    }
    // Legacy results have no `resultType` (the gateway strips it for legacy clients).
    for name in ["demo_echo", "demo_count", "petstore_listPets", "demo_ask"] {
        let c = run.call(name);
        assert!(c["resultType"].is_null(), "{c}");
    }
    // The question was an `elicitation/create` request on the call's own stream; the SDK
    // POSTed its answer (a JSON-RPC response: no method) in the session.
    let answers = http
        .iter()
        .filter(|h| h["body"].is_object() && h["body"]["method"].is_null())
        .count();
    assert_eq!(answers, 1, "one answer POST: {http:?}");

    let log = access_log(&gw).await;
    assert!(
        log.contains(r#"mcp.method="initialize""#),
        "no initialize in the access log:\n{log}"
    );
}
