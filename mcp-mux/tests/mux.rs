//! The multiplexer end to end: real rmcp servers on stdio, Streamable HTTP and
//! in-process transports, and an rmcp client in front.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mcp_mux::metrics::Outcome;
use mcp_mux::naming::is_client_safe;
use mcp_mux::{FailureMode, Multiplexer, MuxStats, Target, TargetState, ToolFilter};
use rmcp::model::{CallToolRequestParams, ErrorCode};
use rmcp::ServiceError;

fn call(name: &str) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned())
}

fn stdio_target(name: &str) -> Target {
    Target::stdio(
        name,
        env!("CARGO_BIN_EXE_mcp-mux-demo-stdio"),
        Vec::<String>::new(),
    )
    .expect("target")
}

#[tokio::test]
async fn lists_and_calls_across_three_transports() {
    let url = http_server(Fixture::new("remote", &["echo", "add"])).await;
    let stats = Arc::new(MuxStats::default());
    let mux = Multiplexer::builder()
        .target(stdio_target("local"))
        .target(Target::http("remote", url).expect("target"))
        .target(Target::in_process("inproc", Fixture::new("inproc", &["echo"])).expect("target"))
        .metrics(stats.clone())
        .build()
        .expect("build");
    assert!(
        mux.target_states()
            .iter()
            .all(|(_, s)| *s == TargetState::Idle),
        "lazy"
    );
    let (client, _) = connect(&mux).await;
    let info = client.peer_info().expect("server info");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains("[local]") && instructions.contains("[remote]"),
        "{instructions}"
    );
    let mut names: Vec<String> = bounded(client.list_all_tools())
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "inproc_echo",
            "local_ask",
            "local_count",
            "local_echo",
            "local_exit",
            "local_pid",
            "local_sample",
            "remote_add",
            "remote_echo"
        ]
    );
    let r = bounded(client.call_tool(call("remote_add")))
        .await
        .expect("call");
    assert_eq!(text(&r), "remote:add");
    let r = bounded(client.call_tool(call("inproc_echo")))
        .await
        .expect("call");
    assert_eq!(text(&r), "inproc:echo");
    let mut params = call("local_echo");
    params.arguments = serde_json::json!({"message": "hi"}).as_object().cloned();
    let r = bounded(client.call_tool(params)).await.expect("call");
    assert_eq!(text(&r), "hi");
    assert_eq!(stats.requests("remote", "tools/call", Outcome::Ok), 1);
    assert_eq!(stats.requests("local", "tools/list", Outcome::Ok), 1);
    assert_eq!(stats.up("inproc"), Some(true));
    assert!(mux
        .target_states()
        .iter()
        .all(|(_, s)| *s == TargetState::Up));
    let _ = client.cancel().await;
    bounded(mux.shutdown()).await;
}

#[tokio::test]
async fn single_target_is_transparent() {
    let mux = Multiplexer::builder()
        .target(Target::in_process("only", Fixture::new("solo", &["echo", "do_it"])).expect("t"))
        .build()
        .expect("build");
    let (client, _) = connect(&mux).await;
    let info = client.peer_info().expect("info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("solo")
    );
    assert_eq!(info.instructions.as_deref(), Some("Use solo wisely."));
    let tools = bounded(client.list_all_tools()).await.expect("list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["echo", "do_it"]);
    let r = bounded(client.call_tool(call("do_it")))
        .await
        .expect("call");
    assert_eq!(text(&r), "solo:do_it");
    let prompts = bounded(client.list_all_prompts()).await.expect("prompts");
    assert_eq!(prompts[0].name, "greet");
    let resources = bounded(client.list_all_resources())
        .await
        .expect("resources");
    assert_eq!(resources[0].uri, "memo://notes/today");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn long_and_odd_names_are_shortened_and_route_back() {
    let long = format!("very_{}", "long".repeat(20));
    let fixture = Fixture::new("alpha", &[long.as_str(), "files.read", "plain"]);
    let build = || {
        Multiplexer::builder()
            .target(Target::in_process("alpha", fixture.clone()).expect("t"))
            .target(Target::in_process("beta", Fixture::new("beta", &["x"])).expect("t"))
            .build()
            .expect("build")
    };
    let mux = build();
    let (client, _) = connect(&mux).await;
    let tools = bounded(client.list_all_tools()).await.expect("list");
    for t in &tools {
        assert!(is_client_safe(&t.name), "{}", t.name);
    }
    let short_long = tools
        .iter()
        .find(|t| t.name.starts_with("alpha_very_"))
        .expect("long tool listed")
        .name
        .to_string();
    assert_eq!(short_long.len(), 64);
    let dotted = tools
        .iter()
        .find(|t| t.name.starts_with("alpha_files-read--"))
        .expect("dotted tool listed")
        .name
        .to_string();
    let r = bounded(client.call_tool(call(&short_long)))
        .await
        .expect("call");
    assert_eq!(text(&r), format!("alpha:{long}"));
    let r = bounded(client.call_tool(call(&dotted)))
        .await
        .expect("call");
    assert_eq!(text(&r), "alpha:files.read");
    let _ = client.cancel().await;

    // A fresh multiplexer (another replica) that never listed still routes it.
    let other = build();
    let (client, _) = connect(&other).await;
    let r = bounded(client.call_tool(call(&short_long)))
        .await
        .expect("call");
    assert_eq!(text(&r), format!("alpha:{long}"));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn fail_open_skips_a_down_target_and_fail_closed_names_it() {
    let dead = dead_url().await;
    let stats = Arc::new(MuxStats::default());
    let build = |mode| {
        Multiplexer::builder()
            .target(Target::in_process("good", Fixture::new("good", &["echo"])).expect("t"))
            .target(
                Target::http("broken", dead.clone())
                    .expect("t")
                    .with_timeout(Duration::from_secs(5)),
            )
            .failure_mode(mode)
            .metrics(stats.clone())
            .build()
            .expect("build")
    };
    let open = build(FailureMode::FailOpen);
    let (client, _) = connect(&open).await;
    let tools = bounded(client.list_all_tools())
        .await
        .expect("failOpen list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["good_echo"]);
    assert_eq!(stats.up("broken"), Some(false));
    assert!(stats.requests("broken", "tools/list", Outcome::Error) >= 1);
    let _ = client.cancel().await;

    let closed = build(FailureMode::FailClosed);
    let (client, _) = connect(&closed).await;
    let err = bounded(client.list_tools(None))
        .await
        .expect_err("failClosed list");
    assert!(err.to_string().contains("broken"), "{err}");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_stdio_target_killed_between_calls_is_restarted() {
    let mux = Multiplexer::builder()
        .target(stdio_target("local"))
        .target(Target::in_process("other", Fixture::new("other", &["echo"])).expect("t"))
        .build()
        .expect("build");
    let (client, _) = connect(&mux).await;
    let first = text(
        &bounded(client.call_tool(call("local_pid")))
            .await
            .expect("pid"),
    );
    let status = std::process::Command::new("kill")
        .args(["-9", &first])
        .status()
        .expect("run kill");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = text(
        &bounded(client.call_tool(call("local_pid")))
            .await
            .expect("pid after kill"),
    );
    assert_ne!(first, second, "a new process serves the call");

    // A process that dies during a call: that call fails clearly, the next works.
    let err = bounded(client.call_tool(call("local_exit")))
        .await
        .expect_err("exit fails");
    assert!(err.to_string().contains("local"), "{err}");
    let third = text(
        &bounded(client.call_tool(call("local_pid")))
            .await
            .expect("pid after exit"),
    );
    assert_ne!(second, third);
    let _ = client.cancel().await;
    bounded(mux.shutdown()).await;
}

#[tokio::test]
async fn unknown_and_filtered_tools_are_invalid_params() {
    let mux = Multiplexer::builder()
        .target(
            Target::in_process("a", Fixture::new("a", &["keep", "secret"]))
                .expect("t")
                .with_filter(ToolFilter {
                    include: vec![],
                    exclude: vec!["sec*".into()],
                }),
        )
        .target(Target::in_process("b", Fixture::new("b", &["x"])).expect("t"))
        .build()
        .expect("build");
    let (client, _) = connect(&mux).await;
    let names: Vec<_> = bounded(client.list_all_tools())
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["a_keep", "b_x"]);
    for name in ["nope", "zz_keep", "a_secret", "a_missing", "a_x.y"] {
        let err = bounded(client.call_tool(call(name))).await.expect_err(name);
        match err {
            ServiceError::McpError(e) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{name}"),
            other => panic!("{name}: {other}"),
        }
    }
    let _ = client.cancel().await;
}

#[tokio::test]
async fn merged_lists_paginate_with_gateway_cursors() {
    let many: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mux = Multiplexer::builder()
        .target(Target::in_process("paged", Fixture::new("paged", &many).paged(2)).expect("t"))
        .target(Target::in_process("flat", Fixture::new("flat", &["a", "b", "c"])).expect("t"))
        .build()
        .expect("build");
    let (client, _) = connect(&mux).await;
    let first = bounded(client.list_tools(None)).await.expect("page 1");
    assert_eq!(first.tools.len(), 5, "2 from paged + 3 from flat");
    assert!(first.next_cursor.is_some());
    let all = bounded(client.list_all_tools()).await.expect("all pages");
    assert_eq!(all.len(), 8);
    let bad = rmcp::model::PaginatedRequestParams::default().with_cursor(Some("garbage".into()));
    match bounded(client.list_tools(Some(bad))).await {
        Err(ServiceError::McpError(e)) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS),
        other => panic!("expected invalid params, got {other:?}"),
    }
    let _ = client.cancel().await;
}

#[tokio::test]
async fn prompts_and_resources_are_named_and_wrapped() {
    let mux = Multiplexer::builder()
        .target(Target::in_process("one", Fixture::new("one", &["x"])).expect("t"))
        .target(Target::in_process("two", Fixture::new("two", &["x"])).expect("t"))
        .build()
        .expect("build");
    let (client, _) = connect(&mux).await;
    let mut prompts: Vec<_> = bounded(client.list_all_prompts())
        .await
        .expect("prompts")
        .into_iter()
        .map(|p| p.name)
        .collect();
    prompts.sort();
    assert_eq!(prompts, ["one_greet", "two_greet"]);
    let got = bounded(client.get_prompt(rmcp::model::GetPromptRequestParams::new("two_greet")))
        .await
        .expect("get prompt");
    assert!(format!("{:?}", got.messages).contains("hello from two"));
    let resources = bounded(client.list_all_resources())
        .await
        .expect("resources");
    let uris: Vec<_> = resources.iter().map(|r| r.uri.clone()).collect();
    assert!(
        uris.contains(&"switchboard+one:memo://notes/today".to_owned()),
        "{uris:?}"
    );
    let read = bounded(
        client.read_resource(rmcp::model::ReadResourceRequestParams::new(
            "switchboard+two:memo://notes/today",
        )),
    )
    .await
    .expect("read");
    let dbg = format!("{:?}", read.contents);
    assert!(
        dbg.contains("notes of two") && dbg.contains("switchboard+two:memo://"),
        "{dbg}"
    );
    let _ = client.cancel().await;
}

#[tokio::test]
async fn progress_is_relayed_and_cancellation_forwarded() {
    let fixture = Fixture::new("slow", &["progress", "sleep"]);
    let cancelled = fixture.cancelled.clone();
    let mux = Multiplexer::builder()
        .target(Target::in_process("slow", fixture).expect("t"))
        .target(Target::in_process("other", Fixture::new("other", &["x"])).expect("t"))
        .build()
        .expect("build");
    let (client, mut progress) = connect(&mux).await;
    let r = bounded(client.call_tool(call("slow_progress")))
        .await
        .expect("call");
    assert_eq!(text(&r), "slow:progress");
    let p = bounded(progress.recv()).await.expect("progress relayed");
    assert_eq!(p.total, Some(2.0));

    let peer = client.peer().clone();
    let handle = bounded(peer.send_request_with_option(
        rmcp::model::ClientRequest::CallToolRequest(rmcp::model::Request::new(call("slow_sleep"))),
        rmcp::service::PeerRequestOptions::no_options(),
    ))
    .await
    .expect("sent");
    tokio::time::sleep(Duration::from_millis(200)).await;
    bounded(handle.cancel(Some("test".into())))
        .await
        .expect("cancel sent");
    bounded(async {
        while !cancelled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let _ = client.cancel().await;
}
