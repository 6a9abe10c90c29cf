//! `policies.backendAuth` of MCP targets: the credential each kind of target receives.
//! An rmcp target behind an OAuth2 guard (tokens from a loopback token endpoint, refused
//! tokens replaced once); Python SDK targets on legacy SSE and Streamable HTTP that refuse
//! requests without their key; OpenAPI targets whose API checks a key and an OAuth2 token.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::mcp::{connect_as, mcp_config, step, Remote};
use crate::mcp_upstream_interop::{call, text, PyServer};
use e2e::Gateway;

/// A token endpoint and the MCP server it guards.
#[derive(Default)]
pub(crate) struct Idp {
    /// Tokens handed out, in order.
    pub(crate) issued: Vec<String>,
    /// Tokens the MCP server accepts now.
    pub(crate) valid: HashSet<String>,
    /// The `Authorization` of each request the MCP server received.
    pub(crate) seen: Vec<String>,
}

pub(crate) type Shared = Arc<Mutex<Idp>>;

pub(crate) fn lock(idp: &Shared) -> std::sync::MutexGuard<'_, Idp> {
    idp.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) const CLIENT_ID: &str = "switchboard";
pub(crate) const CLIENT_SECRET: &str = "s3cret";

/// Client credentials only, for the right client with scope `mcp.tools`.
async fn token(State(idp): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Basic {basic}").as_bytes());
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let wanted = [("grant_type", "client_credentials"), ("scope", "mcp.tools")]
        .iter()
        .all(|(k, v)| form.contains(&(k.to_string(), v.to_string())));
    if !(authorized && wanted) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let mut idp = lock(&idp);
    let token = format!("tok-{}", idp.issued.len() + 1);
    idp.issued.push(token.clone());
    idp.valid.insert(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// Lets through requests that carry a token the endpoint issued and has not revoked.
async fn guard(State(idp): State<Shared>, request: Request, next: Next) -> Response {
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = {
        let mut idp = lock(&idp);
        idp.seen.push(auth.clone());
        auth.strip_prefix("Bearer ")
            .is_some_and(|t| idp.valid.contains(t))
    };
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    }
    next.run(request).await
}

/// Serves `inner` behind [`guard`], with the token endpoint at `/token`, on loopback.
pub(crate) async fn guarded(inner: axum::Router) -> (std::net::SocketAddr, Shared) {
    let idp = Shared::default();
    let app = inner
        .layer(axum::middleware::from_fn_with_state(idp.clone(), guard))
        .merge(
            axum::Router::new()
                .route("/token", axum::routing::post(token))
                .with_state(idp.clone()),
        );
    (e2e::serve_router(app, "127.0.0.1:0").await, idp)
}

/// The rmcp server `Remote` at `/mcp` behind [`guard`], and its token endpoint at `/token`.
async fn guarded_server() -> (String, Shared) {
    let svc = StreamableHttpService::new(
        || Ok(Remote),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let (addr, idp) = guarded(axum::Router::new().nest_service("/mcp", svc)).await;
    (format!("http://{addr}"), idp)
}

#[tokio::test]
async fn oauth2_tokens_reach_an_mcp_target_and_a_refused_one_is_replaced() {
    let (base, idp) = guarded_server().await;
    let target = format!(
        "- name: remote\n  mcp: {{ url: \"{base}/mcp\" }}\n  policies:\n    backendAuth:\n      \
         oauth2: {{ tokenUrl: \"{base}/token\", clientId: {CLIENT_ID}, clientSecret: {CLIENT_SECRET}, \
         scopes: [mcp.tools] }}"
    );
    let gw = Gateway::start(&mcp_config("failClosed", &target)).await;
    let client = connect_as(&gw, ()).await;
    let tools = step("list", client.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("list: {e}\nstderr:\n{}", gw.stderr()));
    assert!(tools.iter().any(|t| t.name == "add"), "{tools:?}");
    let sum = step(
        "add",
        client.call_tool(call("add", json!({"a": 2, "b": 3}))),
    )
    .await
    .unwrap_or_else(|e| panic!("add: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(text(&sum), "5");
    {
        let idp = lock(&idp);
        assert_eq!(idp.issued, ["tok-1"], "one token serves every request");
        assert!(
            idp.seen.len() >= 3,
            "handshake, list and call: {:?}",
            idp.seen
        );
        assert!(
            idp.seen.iter().all(|a| a == "Bearer tok-1"),
            "every request carried the token: {:?}",
            idp.seen
        );
    }

    // The server stops accepting the token: the next call gets a new one and goes through.
    lock(&idp).valid.clear();
    let sum = step(
        "add again",
        client.call_tool(call("add", json!({"a": 4, "b": 5}))),
    )
    .await
    .unwrap_or_else(|e| panic!("add after revocation: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(text(&sum), "9");
    {
        let idp = lock(&idp);
        assert_eq!(idp.issued, ["tok-1", "tok-2"]);
        assert_eq!(idp.seen.last().map(String::as_str), Some("Bearer tok-2"));
    }
    let _ = client.cancel().await;
}

const SSE_KEY: &[&str] = &["--require-header", "x-api-key=k-sse"];
const HTTP_KEY: &[&str] = &["--require-header", "authorization=Bearer t-http"];

#[tokio::test]
async fn static_keys_reach_python_sse_and_streamable_http_targets() {
    let (sse, http) = tokio::join!(
        PyServer::start_with("sse", SSE_KEY),
        PyServer::start_with("streamable-http", HTTP_KEY)
    );
    let targets = format!(
        "- name: py-sse\n  sse: {{ url: \"{}\" }}\n  timeout: 20s\n  \
         policies: {{ backendAuth: {{ key: {{ header: x-api-key, value: k-sse }} }} }}\n\
         - name: py-http\n  mcp: {{ url: \"{}\" }}\n  timeout: 20s\n  \
         policies: {{ backendAuth: {{ key: t-http }} }}",
        sse.url(),
        http.url()
    );
    let gw = Gateway::start(&mcp_config("failClosed", &targets)).await;
    let client = connect_as(&gw, ()).await;
    for target in ["py-sse", "py-http"] {
        let tool = format!("{target}_echo");
        let r = step(
            &tool,
            client.call_tool(call(&tool, json!({"message": target}))),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}\nstderr:\n{}", gw.stderr()));
        assert_eq!(text(&r), target, "{r:?}");
    }
    let _ = client.cancel().await;
}

#[tokio::test]
async fn openapi_targets_send_the_key_and_the_oauth2_token() {
    let petstore = examples::petstore::spawn().await.expect("petstore");
    let spec = examples::petstore::spec_dir().join("openapi-3.0.yaml");
    let api = |name: &str, tool: &str, auth: &str| {
        format!(
            "- name: {name}\n  openapi: {{ spec: \"{}\", baseUrl: \"http://{petstore}\" }}\n  \
             tools: {{ include: [{tool}] }}{auth}",
            spec.display()
        )
    };
    let targets = [
        api(
            "keyed",
            "secureHeader",
            &format!(
                "\n  policies: {{ backendAuth: {{ key: {{ header: x-api-key, value: {} }} }} }}",
                examples::petstore::API_KEY
            ),
        ),
        api(
            "oauthed",
            "secureOauth",
            &format!(
                "\n  policies: {{ backendAuth: {{ oauth2: {{ tokenUrl: \"http://{petstore}/oauth/token\", \
                 clientId: {}, clientSecret: {} }} }} }}",
                examples::petstore::OAUTH_CLIENT,
                examples::petstore::OAUTH_SECRET
            ),
        ),
        api("bare", "secureHeader", ""),
    ]
    .join("\n");
    let gw = Gateway::start(&mcp_config("failClosed", &targets)).await;
    let client = connect_as(&gw, ()).await;
    for tool in ["keyed_secureHeader", "oauthed_secureOauth"] {
        let r = step(tool, client.call_tool(call(tool, json!({}))))
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}\nstderr:\n{}", gw.stderr()));
        assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
        assert!(text(&r).contains("\"ok\":true"), "{tool}: {r:?}");
    }
    // The same operation without the policy is refused by the API.
    let r = step(
        "bare",
        client.call_tool(call("bare_secureHeader", json!({}))),
    )
    .await
    .expect("bare call");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(text(&r).contains("401"), "{r:?}");
    let _ = client.cancel().await;
}
