//! End-to-end tests: each starts the real `switchboard` binary against in-process upstreams.
//!
//! They are a test target of package `gateway`, the binary's own package, so `cargo test`
//! builds the binary before running them (`e2e::switchboard_bin`); their helpers are the `e2e`
//! library in tests/. The `mcp` tests also run `mcp-mux-demo-stdio`, which cargo does not
//! build for them: `cargo build --workspace --bins` first. The `a2a` and `mcp_interop` tests
//! also need the Python a2a-sdk, MCP SDK and `mcp-server-time`
//! (`python3 -m pip install -r tests/requirements.txt`), `mcp_modern_interop` the MCP SDK 2.x
//! in tests/.python-mcp2, `llm_stack` the LLM stack of tests/requirements-llm.txt and
//! tests/requirements-llm-model.txt (scripts/test.sh installs all of them; tests/README.md).

mod a2a;
mod a2a_identity;
mod a2a_lf_client;
mod a2a_security;
mod a2a_streaming;
mod a2a_tools;
mod access_log;
mod admin;
mod authn;
mod authz;
mod backend_tls;
mod bad_input;
mod cloud_backend_auth;
mod config_errors;
mod conformance;
mod conformance_extended;
mod conformance_status;
mod conformance_tls;
mod inference_load;
mod inference_pool;
mod kubernetes;
mod kubernetes_translate;
mod limits;
mod llm_common;
mod llm_faults;
mod llm_guards;
mod llm_providers;
mod llm_responses;
mod llm_routing;
mod llm_stack;
mod logging;
mod mcp;
mod mcp_authn;
mod mcp_authz;
mod mcp_backend_auth;
mod mcp_http;
mod mcp_https;
mod mcp_interop;
mod mcp_list_changed;
mod mcp_modern_interop;
mod mcp_modern_upstream;
mod mcp_oauth_interop;
mod mcp_openapi;
mod mcp_openapi_url;
mod mcp_questions;
mod mcp_resume;
mod mcp_tasks;
mod mcp_transport;
mod mcp_upstream_interop;
mod mcp_upstream_messages;
mod policies;
mod proxy;
mod ratelimit;
mod reload;
mod route_backend_auth;
mod routing;
mod secrets;
mod shutdown;
mod streaming;
mod tracing;
mod websocket;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use e2e::{fill, routes_config, Gateway, Upstream};
use futures_util::StreamExt;

/// The helpers start exactly the binary cargo built for this test target: a helper that found
/// another one (a stale `target/debug/switchboard`) would test old code.
#[test]
fn the_binary_is_the_one_cargo_built() {
    let built = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    assert_eq!(e2e::switchboard_bin(), built);
    assert!(built.is_file(), "{} is missing", built.display());
}

/// No test file is left in the old place, tests/tests/e2e (package `e2e`), as a merge of a
/// branch from before the move can leave one: there it would not be compiled at all, or would
/// start a stale binary.
#[test]
fn no_test_is_left_in_the_old_place() {
    let old = e2e::tests_dir().join("tests");
    assert!(
        !old.exists(),
        "{} exists; the end-to-end tests are in gateway/tests/e2e (add `mod` lines to its \
         main.rs)",
        old.display()
    );
}

/// Upper bound for any single awaited step of a test.
pub const STEP: Duration = Duration::from_secs(15);

/// Starts one upstream per name.
pub async fn upstreams(names: &[&str]) -> Vec<Upstream> {
    let mut v = Vec::new();
    for n in names {
        v.push(Upstream::start(n).await);
    }
    v
}

/// Fills `{NAME}` with the host of the upstream of that name (names given in `names` order).
pub fn with_hosts(template: &str, names: &[&str], ups: &[Upstream]) -> String {
    let vars: Vec<(String, String)> = names
        .iter()
        .zip(ups)
        .map(|(n, u)| (n.to_string(), u.host()))
        .collect();
    fill(template, &vars)
}

/// Starts one upstream per name and a gateway on `template` with `{NAME}` filled with the host
/// of the upstream of that name.
pub async fn start_gateway(names: &[&str], template: &str) -> (Vec<Upstream>, Gateway) {
    let ups = upstreams(names).await;
    let gw = Gateway::start(&with_hosts(template, names, &ups)).await;
    (ups, gw)
}

/// Starts the upstream `up` and a gateway on `template` with `{up}` filled with its host.
pub async fn start_with_up(template: &str) -> (Upstream, Gateway) {
    let (mut ups, gw) = start_gateway(&["up"], template).await;
    (ups.remove(0), gw)
}

/// The routes of the simplest config: one route `r` to the upstream `{up}`.
pub const ONE_ROUTE: &str = r#"
- name: r
  backends: [{ host: "{up}" }]
"#;

/// The upstream `up` behind a gateway with [`ONE_ROUTE`].
pub async fn one_route() -> (Upstream, Gateway) {
    start_with_up(&routes_config(ONE_ROUTE)).await
}

/// GET and return (status, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = get_with(client, url, &[]).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// GET with extra request headers (added in order, like `RequestBuilder::header`); the response
/// with its body unread.
pub async fn get_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = client.get(url);
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    tokio::time::timeout(STEP, rb.send())
        .await
        .unwrap_or_else(|_| panic!("GET {url} timed out"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// POST `body` and return (status, body).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Bytes) {
    let r = tokio::time::timeout(STEP, client.post(url).body(body).send())
        .await
        .unwrap_or_else(|_| panic!("POST {url} timed out"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("POST {url} body: {e}"));
    (status, body)
}

/// A chunked request body: `n` chunks of `len` bytes `byte`, all at once.
pub fn chunked(n: usize, byte: u8, len: usize) -> reqwest::Body {
    let chunks = (0..n).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![byte; len])));
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// A chunked request body sending `chunks` with `delay` before each.
pub fn slow_chunked(chunks: Vec<Bytes>, delay: Duration) -> reqwest::Body {
    let stream = futures_util::stream::iter(chunks).then(move |c| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, std::io::Error>(c)
    });
    reqwest::Body::wrap_stream(stream)
}

/// Asserts a sample's value in the `/metrics` text `m` (`None`: absent).
pub fn assert_metric(m: &str, name: &str, labels: &[(&str, &str)], expected: Option<f64>) {
    assert_eq!(e2e::metric_value(m, name, labels), expected, "{m}");
}

/// Asserts that the `/metrics` text `m` has the line
/// `switchboard_requests_total{route="ROUTE",status="STATUS"} COUNT`.
pub fn assert_requests_total(m: &str, route: &str, status: u16, count: u64) {
    let line =
        format!(r#"switchboard_requests_total{{route="{route}",status="{status}"}} {count}"#);
    assert!(m.contains(&line), "{m}");
}

/// `switchboard_upstream_errors_total` for a route and error kind (0 when absent).
pub async fn upstream_errors(gw: &Gateway, route: &str, kind: &str) -> f64 {
    gw.metric_or_zero(
        "switchboard_upstream_errors_total",
        &[("route", route), ("kind", kind)],
    )
    .await
}

/// Waits up to `limit` for the gateway to exit (panics if it does not) and asserts that it
/// exited 0.
pub async fn assert_exits_0(gw: &mut Gateway, limit: Duration) {
    let exit = gw
        .wait_exit(limit)
        .await
        .unwrap_or_else(|| panic!("the gateway did not exit within {limit:?}"));
    assert!(
        exit.success(),
        "exit status {exit}; stderr:\n{}",
        gw.stderr()
    );
}
