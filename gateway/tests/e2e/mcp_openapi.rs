//! An `openapi` target configured through the gateway's config file with the keys beyond
//! `spec` and `baseUrl`: meta-tool `mode`, `credentials` for the document's security schemes,
//! and an operation selection by path prefix. The REST API is the petstore from `examples/`,
//! served in-process on loopback; the client is rmcp's.

use rmcp::model::CallToolResult;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

use crate::mcp::{mcp_config, step};
use e2e::Gateway;

/// One `petstore` target in meta mode, with an API key and a bearer token, limited to the
/// `/pets` and `/secure` operations.
fn meta_target(addr: std::net::SocketAddr) -> String {
    let spec = examples::petstore::spec_dir().join("openapi-3.0.yaml");
    format!(
        r#"- name: petstore
  openapi:
    spec: "{}"
    baseUrl: "http://{addr}"
    mode: meta
    tools: {{ pathPrefixes: [/pets, /secure] }}
    credentials:
      apiKeyHeader: {{ apiKey: "{}" }}
      bearer: {{ token: "{}" }}"#,
        spec.display(),
        examples::petstore::API_KEY,
        examples::petstore::BEARER,
    )
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn call(c: &Client, name: &str, args: Value) -> CallToolResult {
    let mut p = rmcp::model::CallToolRequestParams::new(name.to_string());
    if let Some(a) = args.as_object() {
        p = p.with_arguments(a.clone());
    }
    step(&format!("call {name}"), c.call_tool(p))
        .await
        .unwrap_or_else(|e| panic!("call {name}: {e}"))
}

/// All text blocks of a result, joined.
fn texts(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn setup() -> (Gateway, Client) {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let gw = Gateway::start(&mcp_config("failClosed", &meta_target(petstore))).await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()));
    (gw, client)
}

#[tokio::test]
async fn meta_mode_lists_three_tools_and_calls_selected_operations_with_credentials() {
    let (gw, c) = setup().await;

    let mut names: Vec<String> = step("tools/list", c.list_all_tools())
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["call_operation", "describe_operation", "search_operations"],
        "meta mode exposes three tools instead of one per operation"
    );

    // The search sees only the selected operations.
    let found = call(
        &c,
        "search_operations",
        json!({"query": "pets", "limit": 50}),
    )
    .await;
    let found_text = texts(&found);
    assert!(found_text.contains("listPets"), "{found_text}");
    let everything = call(
        &c,
        "search_operations",
        json!({"query": "echo", "limit": 50}),
    )
    .await;
    assert!(
        !texts(&everything).contains("echoEverything"),
        "/echo is outside pathPrefixes: {}",
        texts(&everything)
    );

    let described = call(&c, "describe_operation", json!({"name": "getPet"})).await;
    assert!(texts(&described).contains("petId"), "{}", texts(&described));

    // Configured credentials reach the API: the petstore answers 401 without them.
    for op in ["secureHeader", "secureBearer"] {
        let r = call(&c, "call_operation", json!({"name": op, "arguments": {}})).await;
        assert_ne!(r.is_error, Some(true), "{op} failed: {}", texts(&r));
    }
    let no_credential = call(
        &c,
        "call_operation",
        json!({"name": "secureBasic", "arguments": {}}),
    )
    .await;
    assert_eq!(
        no_credential.is_error,
        Some(true),
        "no basic credential was configured"
    );
    assert!(
        texts(&no_credential).contains("401"),
        "{}",
        texts(&no_credential)
    );

    // An operation outside the selection cannot be called through the meta-tool either.
    let outside = call(
        &c,
        "call_operation",
        json!({"name": "echoEverything", "arguments": {}}),
    )
    .await;
    assert_eq!(outside.is_error, Some(true), "{}", texts(&outside));

    // The credentials are secrets: /config shows the target without them.
    let config = e2e::client()
        .get(gw.admin_url("/config"))
        .send()
        .await
        .expect("GET /config")
        .text()
        .await
        .expect("/config body");
    assert!(config.contains("\"mode\":\"meta\""), "{config}");
    for secret in [examples::petstore::API_KEY, examples::petstore::BEARER] {
        assert!(!config.contains(secret), "/config leaks {secret}: {config}");
    }
    let _ = c.cancel().await;
}

#[tokio::test]
async fn a_broken_openapi_document_is_a_config_error_naming_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("broken.yaml");
    std::fs::write(&spec, "openapi: 3.0.0\npaths: [not, a, map\n").expect("write spec");
    let config = mcp_config(
        "failOpen",
        &format!(
            "- {{ name: api, openapi: {{ spec: \"{}\", mode: meta }} }}",
            spec.display()
        ),
    );
    let file = dir.path().join("switchboard.yaml");
    std::fs::write(
        &file,
        e2e::fill(&config, &[("port".into(), e2e::free_port().to_string())]),
    )
    .expect("config");
    let out = e2e::run_switchboard(&["validate", "-c", &file.display().to_string()], dir.path());
    assert!(!out.status.success(), "validate accepted a broken document");
    assert!(
        out.stderr
            .contains("target \"api\": cannot load the OpenAPI document")
            && out.stderr.contains("broken.yaml"),
        "the error names the target and the document: {}",
        out.stderr
    );
}
