//! MCP interop with the official Python SDK as the client: `tests/python/mcp_client.py`
//! (`mcp` from PyPI, Streamable HTTP client + `ClientSession`) talks to the real gateway's
//! virtual MCP server, which federates the `mcp-mux-demo-stdio` binary (`demo`), the
//! `mcp-server-time` stdio server from PyPI run with the same Python (`time`) and the petstore
//! REST API (`petstore`, openapi).
//!
//! Needs `cargo build --workspace --bins` and `python3 -m pip install -r tests/requirements.txt`
//! (scripts/test.sh does both); without the Python packages the tests fail with that command.

use e2e::mcp_py::{require_mcp_sdk, run_mcp_client, run_mcp_client_flags};
use e2e::Gateway;
use serde_json::{json, Value};

use crate::mcp::{demo_target, mcp_config, petstore_target, ROUTE};

/// The stdio target `time`: `PYTHON -m mcp_server_time --local-timezone UTC` (tools
/// `get_current_time {timezone}` and `convert_time {source_timezone, time, target_timezone}`).
fn time_target() -> String {
    format!(
        "- {{ name: time, stdio: {{ cmd: \"{}\", args: [-m, mcp_server_time, --local-timezone, UTC], \
         env: {{ TZ: UTC }} }}, timeout: 20s }}",
        require_mcp_sdk()
    )
}

/// The gateway with `demo` (stdio), `time` (stdio, Python) and `petstore` (openapi).
async fn demo_time_petstore() -> Gateway {
    require_mcp_sdk(); // fail with the install command before starting anything
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let targets = [demo_target(), time_target(), petstore_target(petstore)].join("\n");
    Gateway::start(&mcp_config("failOpen", &targets)).await
}

/// The sorted names in `names` that start with `prefix`.
fn with_prefix<'a>(names: &'a [String], prefix: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = names
        .iter()
        .filter(|n| n.starts_with(prefix))
        .map(String::as_str)
        .collect();
    v.sort_unstable();
    v
}

/// The text blocks of a `call` line.
fn texts(call: &Value) -> Vec<&str> {
    call["text"]
        .as_array()
        .unwrap_or_else(|| panic!("no text in {call}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[tokio::test]
async fn python_sdk_client_lists_and_calls_demo_time_and_petstore_tools() {
    let gw = demo_time_petstore().await;
    let run = run_mcp_client(
        &gw.url("/mcp"),
        &[
            ("time_get_current_time", json!({"timezone": "UTC"})),
            ("petstore_listPets", json!({})),
            ("demo_echo", json!({"message": "hello from the Python SDK"})),
        ],
    )
    .await;
    // Closing the session (DELETE) must be something the SDK takes as success.
    assert!(
        !run.stderr.contains("Session termination failed"),
        "the SDK did not accept the session DELETE:\n{}",
        run.stderr
    );
    let run = if run.success {
        run
    } else {
        panic!(
            "mcp_client.py failed: {:?}\nstderr:\n{}\nstdout:\n{}\ngateway stderr:\n{}",
            run.error(),
            run.stderr,
            run.stdout,
            gw.stderr()
        )
    };

    let init = run.initialize();
    let version = init["protocolVersion"].as_str().unwrap_or_default();
    assert!(
        ["2025-03-26", "2025-06-18", "2025-11-25"].contains(&version),
        "negotiated protocol version: {init}"
    );
    assert!(
        init["sessionId"].as_str().is_some_and(|s| !s.is_empty()),
        "the gateway gave the Python client a session id: {init}"
    );

    let names = run.tools();
    for n in &names {
        assert!(
            n.starts_with("demo_") || n.starts_with("time_") || n.starts_with("petstore_"),
            "{n} has no target prefix: {names:?}"
        );
    }
    assert_eq!(
        with_prefix(&names, "demo_"),
        [
            "demo_ask",
            "demo_count",
            "demo_echo",
            "demo_exit",
            "demo_pid",
            "demo_sample"
        ]
    );
    assert_eq!(
        with_prefix(&names, "time_"),
        ["time_convert_time", "time_get_current_time"]
    );
    for op in ["petstore_listPets", "petstore_getPet", "petstore_createPet"] {
        assert!(names.iter().any(|n| n == op), "{op} missing: {names:?}");
    }

    let calls: Vec<&str> = run
        .calls()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        calls,
        ["time_get_current_time", "petstore_listPets", "demo_echo"]
    );

    // mcp-server-time answers one text block holding a JSON object.
    let time = run.call("time_get_current_time");
    assert_eq!(time["isError"], false, "{time}");
    let t = texts(time);
    assert_eq!(t.len(), 1, "{time}");
    let now: Value = serde_json::from_str(t[0])
        .unwrap_or_else(|e| panic!("time_get_current_time text is not JSON ({e}): {time}"));
    assert_eq!(now["timezone"], "UTC", "{now}");
    assert_eq!(now["is_dst"], false, "{now}");
    let datetime = now["datetime"].as_str().unwrap_or_default();
    assert!(
        datetime.len() >= 25 && datetime.as_bytes()[10] == b'T' && datetime.ends_with("+00:00"),
        "an ISO 8601 UTC datetime: {now}"
    );
    assert!(
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday"
        ]
        .contains(&now["day_of_week"].as_str().unwrap_or_default()),
        "{now}"
    );

    let pets = run.call("petstore_listPets");
    assert_eq!(pets["isError"], false, "{pets}");
    let structured = &pets["structuredContent"];
    let pet_names: Vec<&str> = structured["pets"]
        .as_array()
        .unwrap_or_else(|| panic!("listPets has no structuredContent.pets: {pets}"))
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(pet_names, ["Rex", "Tom"], "{pets}");

    let echo = run.call("demo_echo");
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(texts(echo), ["hello from the Python SDK"], "{echo}");

    // The gateway counted the Python client's calls per target.
    let m = gw.metrics().await;
    for (target, n) in [("time", 1.0), ("petstore", 1.0), ("demo", 1.0)] {
        assert_eq!(
            e2e::metric_value(
                &m,
                "switchboard_mcp_requests_total",
                &[
                    ("route", ROUTE),
                    ("target", target),
                    ("method", "tools/call")
                ]
            ),
            Some(n),
            "tools/call for {target}:\n{m}"
        );
        assert_eq!(
            e2e::metric_value(
                &m,
                "switchboard_mcp_targets_up",
                &[("backend", "tools"), ("target", target)]
            ),
            Some(1.0),
            "targets_up for {target}:\n{m}"
        );
    }
}

#[tokio::test]
async fn python_sdk_client_gets_tool_errors_and_jsonrpc_errors() {
    let gw = demo_time_petstore().await;

    // Tool-level errors of the Python stdio server (a bad argument, a name it does not have: the
    // gateway routes `time_*` to `time`, which decides) pass through as `isError` results, and
    // the session goes on.
    let run = run_mcp_client(
        &gw.url("/mcp"),
        &[
            (
                "time_get_current_time",
                json!({"timezone": "Mars/Olympus_Mons"}),
            ),
            ("time_nope", json!({})),
            (
                "time_convert_time",
                json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
            ),
        ],
    )
    .await;
    let run = if run.success {
        run
    } else {
        panic!(
            "mcp_client.py failed: {:?}\nstderr:\n{}\ngateway stderr:\n{}",
            run.error(),
            run.stderr,
            gw.stderr()
        )
    };
    let bad = run.call("time_get_current_time");
    assert_eq!(bad["isError"], true, "{bad}");
    assert!(
        texts(bad).concat().contains("Mars/Olympus_Mons"),
        "the error names the bad timezone: {bad}"
    );
    let unknown = run.call("time_nope");
    assert_eq!(unknown["isError"], true, "{unknown}");
    assert!(
        texts(unknown).concat().contains("Unknown tool: nope"),
        "the time server saw its own name `nope`: {unknown}"
    );
    let conv = run.call("time_convert_time");
    assert_eq!(conv["isError"], false, "{conv}");
    let conv: Value = serde_json::from_str(texts(conv).concat().as_str())
        .unwrap_or_else(|e| panic!("convert_time text is not JSON ({e}): {conv}"));
    assert_eq!(conv["source"]["timezone"], "UTC", "{conv}");
    assert_eq!(conv["target"]["timezone"], "Asia/Tokyo", "{conv}");
    assert!(
        conv["target"]["datetime"]
            .as_str()
            .is_some_and(|d| d.contains("T21:00:00") && d.ends_with("+09:00")),
        "12:00 UTC is 21:00 in Tokyo: {conv}"
    );
    assert_eq!(conv["time_difference"], "+9.0h", "{conv}");

    // A name no target owns is a JSON-RPC error (-32602) from the gateway, which the SDK raises
    // as McpError.
    for name in ["nope", "zz_echo", "petstore_noSuchOperation"] {
        let run = run_mcp_client(&gw.url("/mcp"), &[(name, json!({}))]).await;
        assert!(
            !run.success,
            "{name}: the call should fail; stdout:\n{}",
            run.stdout
        );
        let err = run
            .error()
            .unwrap_or_else(|| panic!("{name}: no JSON error line on stderr:\n{}", run.stderr));
        assert_eq!(err["error"], "McpError", "{name}: {err}");
        assert_eq!(err["code"], -32602, "{name}: {err}");
        // It failed at the call, after initialize and the list.
        assert!(
            run.tools().iter().any(|n| n == "time_get_current_time"),
            "{name}: {}",
            run.stdout
        );
    }
}

/// The legacy HTTP+SSE transport (2024-11-05) at `<route>/sse`, driven by the Python SDK's
/// `sse_client`: initialize, list, calls, and progress, all answered on the SSE stream.
#[tokio::test]
async fn python_sdk_client_over_the_legacy_sse_transport() {
    let gw = demo_time_petstore().await;
    let run = run_mcp_client_flags(
        &gw.url("/mcp/sse"),
        &["--sse", "--progress"],
        &[
            ("demo_echo", json!({"message": "over sse"})),
            ("demo_count", json!({"n": 3, "delayMs": 20})),
        ],
        std::time::Duration::from_secs(40),
    )
    .await;
    assert!(
        run.success,
        "mcp_client.py --sse failed: {:?}\nstderr:\n{}\ngateway stderr:\n{}",
        run.error(),
        run.stderr,
        gw.stderr()
    );
    assert_eq!(run.initialize()["serverInfo"]["name"], "switchboard");
    let names = run.tools();
    assert!(names.iter().any(|n| n == "demo_echo"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "time_get_current_time"),
        "{names:?}"
    );
    assert_eq!(texts(run.call("demo_echo")), ["over sse"]);
    let count = run.call("demo_count");
    assert_eq!(texts(count), ["counted 3"]);
    assert_eq!(
        count["progress"].as_array().map(Vec::len),
        Some(3),
        "three progress notifications before the result: {count}"
    );
}
