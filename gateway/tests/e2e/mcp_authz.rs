//! `mcpAuthorization` against the real binary, with real clients: the official Python `mcp`
//! SDK (tests/python/mcp_client.py) for two API-key identities with different rules (the
//! filtered `tools/list`, a denied call answered as an unknown tool, a rule on the call's
//! arguments), and the rmcp client for prompts and resources (lists filtered, a denied
//! `prompts/get` / `resources/read` answered as an unknown one). Targets: the
//! `mcp-mux-demo-stdio` binary (`demo`), the rmcp server of `mcp.rs` (`remote`: `add`,
//! `whoami`) and an rmcp server with prompts and resources here (`lib`).
//!
//! Needs `cargo build --workspace --bins` and the Python MCP SDK (scripts/test.sh).

use std::collections::HashMap;

use e2e::mcp_py::{require_mcp_sdk, run_mcp_client_flags, CLIENT_TIMEOUT};
use e2e::Gateway;
use rmcp::model::{
    ErrorData, GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt,
    PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ServerHandler, ServiceExt as _};
use serde_json::{json, Value};

use crate::mcp::{demo_target, remote_server, serve_mcp, step};

const ALICE: &str = "alice-mcp-key-0123456789";
const BOB: &str = "bob-mcp-key-0123456789ab";

const POLICIES: &str = r#"
  policies:
    apiKeyAuth:
      keys:
      - { name: alice, key: "alice-mcp-key-0123456789" }
      - { name: bob, key: "bob-mcp-key-0123456789ab" }
    mcpAuthorization:
      rules:
      - allow: 'apiKey.name == "alice"'
      - allow: 'apiKey.name == "bob" && mcp.tool.target == "demo" && mcp.tool.name == "echo"'
      - allow: 'apiKey.name == "bob" && mcp.tool.name == "add" && mcp.tool.arguments.amount < 100'
      - allow: 'apiKey.name == "bob" && mcp.prompt.name == "public"'
      - allow: 'apiKey.name == "bob" && mcp.resource.name.startsWith("note://public")'
"#;

/// Prompts `public` and `secret`; resources `note://public/a` and `note://secret/b`; templates
/// `note://public/{id}` and `note://secret/{id}`.
#[derive(Clone)]
struct Library;

impl ServerHandler for Library {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new("public", Some("for everyone"), None),
            Prompt::new("secret", Some("for alice"), None),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let msg = PromptMessage::new_text(Role::User, format!("prompt {}", request.name));
        Ok(GetPromptResponse::Complete(GetPromptResult::new(vec![msg])))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("note://public/a", "a"),
            Resource::new("note://secret/b", "b"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("note://public/{id}", "public notes"),
            ResourceTemplate::new("note://secret/{id}", "secret notes"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let text = format!("text of {}", request.uri);
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![ResourceContents::text(text, request.uri)],
        )))
    }
}

/// The gateway: `/mcp` behind the API keys and rules of [`POLICIES`], with targets `demo`,
/// `remote` and `lib`.
async fn gateway() -> Gateway {
    let remote = remote_server().await;
    let lib = serve_mcp(Library).await;
    let targets = [
        demo_target(),
        format!("- {{ name: remote, mcp: {{ url: \"{remote}\" }}, timeout: 5s }}"),
        format!("- {{ name: lib, mcp: {{ url: \"{lib}\" }}, timeout: 5s }}"),
    ]
    .join("\n");
    // `mcp_config`'s route, with the policies added under it.
    let routes = format!("{}{}", crate::mcp::ROUTES, &POLICIES[1..]);
    let config = format!(
        "{}backends:\n- name: tools\n  mcp:\n    failureMode: failOpen\n    targets:\n{}",
        e2e::routes_config(&routes),
        e2e::indent(&targets, 4)
    );
    Gateway::start(&config).await
}

/// The sorted tool names of a run.
fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// The error of a `--keep-going` call line, with `name` written as `NAME`.
fn error_of(run: &e2e::mcp_py::McpClientRun, name: &str) -> Value {
    let line = run.call(name);
    let error = line
        .get("error")
        .unwrap_or_else(|| panic!("{name} was not refused: {line}"));
    let text = error.to_string().replace(name, "NAME");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn python_sdk_clients_see_their_own_tools_and_denied_calls_look_unknown() {
    require_mcp_sdk();
    let gw = gateway().await;
    let url = gw.url("/mcp");
    let flags = |key: &'static str| ["--keep-going", "--header", "x-api-key", key];

    // bob: demo's echo, and remote's add (listed: some arguments make it callable).
    let bob = run_mcp_client_flags(
        &url,
        &flags(BOB),
        &[
            ("demo_echo", json!({"message": "hi"})),
            ("demo_pid", json!({})),
            ("nosuch_pid", json!({})),
            ("remote_add", json!({"a": 1, "b": 2, "amount": 50})),
            ("remote_whoami", json!({})),
        ],
        CLIENT_TIMEOUT,
    )
    .await
    .ok();
    assert_eq!(sorted(bob.tools()), ["demo_echo", "remote_add"]);
    assert_eq!(bob.call("demo_echo")["text"], json!(["hi"]));
    assert_eq!(bob.call("remote_add")["text"], json!(["3"]));
    // A denied tool and a name the gateway does not know get the same answer.
    let denied = error_of(&bob, "demo_pid");
    assert_eq!(denied, error_of(&bob, "nosuch_pid"), "{}", bob.stdout);
    assert_eq!(denied["code"], -32602, "{denied}");
    assert_eq!(denied["message"], "Unknown tool: NAME", "{denied}");
    assert_eq!(error_of(&bob, "remote_whoami"), denied);

    // The rule on the arguments: 500 is refused, exactly as an unknown tool.
    let bob_pays = run_mcp_client_flags(
        &url,
        &flags(BOB),
        &[("remote_add", json!({"a": 1, "b": 2, "amount": 500}))],
        CLIENT_TIMEOUT,
    )
    .await
    .ok();
    assert_eq!(error_of(&bob_pays, "remote_add"), denied);

    // alice: every tool, and the same call goes through.
    let alice = run_mcp_client_flags(
        &url,
        &flags(ALICE),
        &[
            ("demo_pid", json!({})),
            ("remote_add", json!({"a": 1, "b": 2, "amount": 500})),
        ],
        CLIENT_TIMEOUT,
    )
    .await
    .ok();
    let tools = sorted(alice.tools());
    for t in ["demo_echo", "demo_pid", "remote_add", "remote_whoami"] {
        assert!(tools.iter().any(|n| n == t), "{t}: {tools:?}");
    }
    assert!(alice.call("demo_pid").get("error").is_none());
    assert_eq!(alice.call("remote_add")["text"], json!(["3"]));

    // Denied calls are counted (bob's demo_pid, remote_whoami and add of 500).
    let denials = gw
        .metric_or_zero(
            "switchboard_authz_denials_total",
            &[("route", crate::mcp::ROUTE), ("phase", "mcp")],
        )
        .await;
    assert_eq!(denials, 3.0);
}

/// An rmcp client for `key`.
async fn rmcp_client(
    gw: &Gateway,
    key: &str,
) -> rmcp::service::RunningService<rmcp::service::RoleClient, ()> {
    let headers = HashMap::from([(
        http::HeaderName::from_static("x-api-key"),
        http::HeaderValue::from_str(key).expect("header"),
    )]);
    let config =
        StreamableHttpClientTransportConfig::with_uri(gw.url("/mcp")).custom_headers(headers);
    let transport = StreamableHttpClientTransport::from_config(config);
    step("connect", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", gw.stderr()))
}

fn mcp_error(e: rmcp::ServiceError) -> (i32, String) {
    match e {
        rmcp::ServiceError::McpError(e) => (e.code.0, e.message.to_string()),
        other => panic!("not a JSON-RPC error: {other}"),
    }
}

#[tokio::test]
async fn prompts_and_resources_are_filtered_and_denied_as_unknown() {
    let gw = gateway().await;
    let bob = rmcp_client(&gw, BOB).await;
    let alice = rmcp_client(&gw, ALICE).await;

    let prompt_names = |p: Vec<Prompt>| sorted(p.into_iter().map(|p| p.name).collect());
    let bob_prompts = prompt_names(step("prompts", bob.list_all_prompts()).await.expect("list"));
    assert_eq!(bob_prompts, ["lib_public"]);
    let alice_prompts = prompt_names(
        step("prompts", alice.list_all_prompts())
            .await
            .expect("list"),
    );
    assert_eq!(alice_prompts, ["lib_public", "lib_secret"]);

    let get = |name: &str| -> GetPromptRequestParams {
        serde_json::from_value(json!({"name": name})).expect("params")
    };
    let ok = step("get", bob.get_prompt(get("lib_public"))).await;
    assert!(ok.is_ok(), "{ok:?}");
    let denied = mcp_error(
        step("get", bob.get_prompt(get("lib_secret")))
            .await
            .unwrap_err(),
    );
    let unknown = mcp_error(
        step("get", bob.get_prompt(get("nope_secret")))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (denied.0, denied.1.replace("lib_secret", "NAME")),
        (unknown.0, unknown.1.replace("nope_secret", "NAME"))
    );
    assert!(step("get", alice.get_prompt(get("lib_secret")))
        .await
        .is_ok());

    let uris = |r: Vec<Resource>| sorted(r.into_iter().map(|r| r.uri.clone()).collect());
    let bob_resources = uris(
        step("resources", bob.list_all_resources())
            .await
            .expect("list"),
    );
    assert_eq!(bob_resources.len(), 1, "{bob_resources:?}");
    assert!(bob_resources[0].contains("public"), "{bob_resources:?}");
    let alice_resources = uris(
        step("resources", alice.list_all_resources())
            .await
            .expect("list"),
    );
    assert_eq!(alice_resources.len(), 2, "{alice_resources:?}");
    let secret = alice_resources
        .iter()
        .find(|u| u.contains("secret"))
        .expect("the secret note")
        .clone();

    let templates =
        |t: Vec<ResourceTemplate>| sorted(t.into_iter().map(|t| t.uri_template.clone()).collect());
    let bob_templates = templates(
        step("templates", bob.list_all_resource_templates())
            .await
            .expect("list"),
    );
    assert_eq!(bob_templates.len(), 1, "{bob_templates:?}");
    assert!(bob_templates[0].contains("public"), "{bob_templates:?}");
    let alice_templates = templates(
        step("templates", alice.list_all_resource_templates())
            .await
            .expect("list"),
    );
    assert_eq!(alice_templates.len(), 2, "{alice_templates:?}");

    let read = |uri: &str| -> ReadResourceRequestParams {
        serde_json::from_value(json!({"uri": uri})).expect("params")
    };
    let ok = step("read", bob.read_resource(read(&bob_resources[0]))).await;
    assert!(ok.is_ok(), "{ok:?}");
    let denied = mcp_error(
        step("read", bob.read_resource(read(&secret)))
            .await
            .unwrap_err(),
    );
    let nowhere = secret.replace("lib", "nope");
    let unknown = mcp_error(
        step("read", bob.read_resource(read(&nowhere)))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (denied.0, denied.1.replace(&secret, "URI")),
        (unknown.0, unknown.1.replace(&nowhere, "URI"))
    );
    assert!(step("read", alice.read_resource(read(&secret)))
        .await
        .is_ok());
    let _ = bob.cancel().await;
    let _ = alice.cancel().await;
}
