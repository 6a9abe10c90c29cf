//! An `openapi` target whose `spec` is a URL: the document is fetched on first use (not when
//! the config loads), so a spec host that is down at start makes a failing target, not a
//! config error, and the target comes up once the host does. The REST API is the petstore from
//! `examples/`; its document is served by a small axum server on loopback; the client is
//! rmcp's.

use std::net::SocketAddr;
use std::time::Duration;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;

use crate::mcp::{demo_target, mcp_config, step};
use e2e::Gateway;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// Serves the petstore's `openapi-3.0.yaml` at `/openapi.yaml` on `listener`, in the background.
fn serve_spec(listener: tokio::net::TcpListener) {
    let spec = std::fs::read_to_string(examples::petstore::spec_dir().join("openapi-3.0.yaml"))
        .expect("petstore spec");
    let app = axum::Router::new().route(
        "/openapi.yaml",
        axum::routing::get(move || {
            let spec = spec.clone();
            async move { ([("content-type", "application/yaml")], spec) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

/// The `petstore` target: its document at `spec_addr`, its API at `api`.
fn url_target(spec_addr: SocketAddr, api: SocketAddr) -> String {
    format!(
        "- {{ name: petstore, openapi: {{ spec: \"http://{spec_addr}/openapi.yaml\", \
         baseUrl: \"http://{api}\", refresh: 10m }} }}"
    )
}

async fn connect(gw: &Gateway) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()))
}

async fn tool_names(c: &Client, gw: &Gateway) -> Vec<String> {
    step("tools/list", c.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}\nstderr:\n{}", gw.stderr()))
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

#[tokio::test]
async fn a_spec_url_is_fetched_and_its_operations_are_tools() {
    let api = examples::petstore::spawn().await.expect("petstore server");
    let spec_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let spec_addr = spec_listener.local_addr().expect("addr");
    serve_spec(spec_listener);
    let gw = Gateway::start(&mcp_config("failClosed", &url_target(spec_addr, api))).await;
    let c = connect(&gw).await;

    let names = tool_names(&c, &gw).await;
    assert!(names.iter().any(|n| n == "listPets"), "{names:?}");

    let r = step(
        "call listPets",
        c.call_tool(rmcp::model::CallToolRequestParams::new("listPets")),
    )
    .await
    .unwrap_or_else(|e| panic!("call listPets: {e}\nstderr:\n{}", gw.stderr()));
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let text: String = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(text.contains("Rex"), "the petstore's pets: {text}");
    let _ = c.cancel().await;
}

#[tokio::test]
async fn a_spec_host_down_at_start_is_a_failing_target_until_it_comes_up() {
    let api = examples::petstore::spawn().await.expect("petstore server");
    // A port nothing listens on yet: the spec host is down when the gateway starts.
    let spec_addr: SocketAddr = ([127, 0, 0, 1], e2e::free_port()).into();
    let targets = format!("{}\n{}", demo_target(), url_target(spec_addr, api));
    // Starting at all shows the URL is not fetched when the config loads.
    let gw = Gateway::start(&mcp_config("failOpen", &targets)).await;
    let c = connect(&gw).await;

    let names = tool_names(&c, &gw).await;
    assert!(names.iter().any(|n| n == "demo_echo"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("petstore_")),
        "{names:?}"
    );

    // The failure is logged with the URL and its cause (stderr is read from a pipe, so the
    // line may trail the response a little).
    let url = format!("http://{spec_addr}/openapi.yaml");
    let expected = format!("cannot load the OpenAPI document from {url}");
    let logged = e2e::eventually(Duration::from_secs(5), || async {
        gw.stderr().contains(&expected)
    })
    .await;
    assert!(logged, "{}", gw.stderr());

    serve_spec(
        tokio::net::TcpListener::bind(spec_addr)
            .await
            .expect("bind the spec port"),
    );
    // The failed first fetch is not remembered: the next list fetches again.
    let names = tool_names(&c, &gw).await;
    assert!(names.iter().any(|n| n == "petstore_listPets"), "{names:?}");
    assert!(names.iter().any(|n| n == "demo_echo"), "{names:?}");
    let _ = c.cancel().await;
}
