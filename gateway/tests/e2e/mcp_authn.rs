//! `mcpAuthentication` on an MCP route, with keys generated for the test: the discovery `401`
//! and the RFC 9728 document it points to (whose `resource` is the configured URL whatever the
//! request says), tokens bound to the resource's audience and scopes, the query string never
//! read, the client's token never reaching the MCP target (which gets its own `backendAuth`
//! token), and path variants that must not reach the MCP server unauthenticated.
//!
//! The same policy against a real authorization server and a real MCP client is in
//! `mcp_oauth_interop.rs`.

use std::time::Duration;

use e2e::{client, raw_exchange, raw_status, routes_config, Gateway};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};

use crate::mcp::{step, Remote};
use crate::mcp_backend_auth::{guarded, lock, Shared, CLIENT_ID, CLIENT_SECRET};
use crate::mcp_upstream_interop::{call, text};

const RSA1: &str = include_str!("../../../authn/testdata/rsa1.pem");
const ISS: &str = "https://idp.test";
const ROUTE: &str = "main/mcp";
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()
}

fn jwks() -> String {
    let mut jwk = Jwk::from_encoding_key(&key(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k1".into());
    serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap()
}

fn token(aud: Value, scope: &str) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 300;
    let claims = json!({"iss": ISS, "aud": aud, "sub": "alice", "exp": exp, "scope": scope});
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".into());
    jsonwebtoken::encode(&h, &claims, &key()).unwrap()
}

const ROUTES: &str = r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  policies:
    mcpAuthentication:
      resource: "http://127.0.0.1:{port}/mcp"
      authorizationServers: ["https://idp.test"]
      scopes: [mcp:tools]
      scopesSupported: [mcp:admin]
      jwks: { file: jwks.json }
  backends: [{ backend: tools }]
"#;

struct Setup {
    gw: Gateway,
    /// What the MCP target saw (its own token endpoint and guard).
    idp: Shared,
    /// The configured resource.
    resource: String,
}

/// The gateway with one MCP target behind an OAuth2 guard; the target's credential is the
/// gateway's `backendAuth` token from the target's own token endpoint.
async fn setup() -> Setup {
    let svc = StreamableHttpService::new(
        || Ok(Remote),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let (addr, idp) = guarded(axum::Router::new().nest_service("/mcp", svc)).await;
    let cfg = format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n    - name: remote\n      mcp: {{ url: \"http://{addr}/mcp\" }}\n      policies:\n        backendAuth:\n          oauth2: {{ tokenUrl: \"http://{addr}/token\", clientId: {CLIENT_ID}, clientSecret: {CLIENT_SECRET}, scopes: [mcp.tools] }}\n",
        routes_config(ROUTES)
    );
    let jwks = jwks();
    let gw = Gateway::start_with(&cfg, move |dir| {
        std::fs::write(dir.join("jwks.json"), &jwks).unwrap();
    })
    .await;
    let resource = gw.url("/mcp");
    Setup { gw, idp, resource }
}

async fn post_initialize(gw: &Gateway, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(gw.url(path))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{} without WWW-Authenticate", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

async fn failures(gw: &Gateway, reason: &str) -> f64 {
    gw.metric_or_zero(
        "switchboard_authn_failures_total",
        &[("route", ROUTE), ("method", "mcp"), ("reason", reason)],
    )
    .await
}

#[tokio::test]
async fn the_401_leads_to_metadata_naming_the_configured_resource() {
    let Setup { gw, idp, resource } = setup().await;
    let r = post_initialize(&gw, "/mcp", None).await;
    assert_eq!(r.status(), 401);
    let metadata_url = gw.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        challenge(&r),
        format!("Bearer resource_metadata=\"{metadata_url}\", scope=\"mcp:tools\"")
    );
    assert_eq!(failures(&gw, "missing").await, 1.0);

    // The document, however the request names the host or the scheme (regression: metadata
    // built from the request, http/https mismatches behind TLS terminators).
    let expected = json!({
        "resource": resource,
        "authorization_servers": [ISS],
        "scopes_supported": ["mcp:tools", "mcp:admin"],
        "bearer_methods_supported": ["header"],
    });
    for headers in [
        vec![],
        vec![
            ("host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("origin", "https://app.example"),
        ],
    ] {
        let mut req = client().get(&metadata_url);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{headers:?}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age="));
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc, expected, "{headers:?}");
    }
    // The root form too (one resource on this listener), and a browser's preflight.
    let r = client()
        .get(gw.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), expected);
    let r = client()
        .request(reqwest::Method::OPTIONS, &metadata_url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "mcp-protocol-version"
    );
    let r = client().post(&metadata_url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // A browser's preflight on the MCP route itself is not challenged either (regression:
    // CORS preflights answered 401).
    let r = client()
        .request(reqwest::Method::OPTIONS, gw.url("/mcp"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_none());
    assert!(lock(&idp).seen.is_empty(), "nothing reached the target");
}

#[tokio::test]
async fn tokens_must_be_for_the_resource_with_its_scopes_and_never_reach_the_target() {
    let Setup { gw, idp, resource } = setup().await;
    let good = token(json!(resource), "openid mcp:tools");

    // A real MCP client with the token: the call goes through; the target sees only the
    // gateway's own credential.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gw.url("/mcp")).auth_header(good.clone()),
    );
    let c = step("initialize with a token", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()));
    let sum = step("add", c.call_tool(call("add", json!({"a": 2, "b": 3}))))
        .await
        .unwrap_or_else(|e| panic!("add: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(text(&sum), "5");
    let _ = c.cancel().await;
    let reached = lock(&idp).seen.len();
    {
        let seen = &lock(&idp).seen;
        assert!(!seen.is_empty());
        assert!(
            seen.iter().all(|a| a == "Bearer tok-1"),
            "the target saw another credential: {seen:?}"
        );
    }
    // The access log names the caller, as for jwtAuth.
    let log = gw
        .stderr_once(|l| l.contains("access: request") && l.contains("subject=\"alice\""))
        .await;
    assert!(!log.contains(&good), "the token was logged");

    // Audience: anything but the resource (RFC 8707) is an invalid token.
    for aud in [
        json!("https://other.example/mcp"),
        json!(format!("{resource}/")),
        json!(ISS),
        json!(gw.url("")),
    ] {
        let t = token(aud.clone(), "mcp:tools");
        let r = post_initialize(&gw, "/mcp", Some(&format!("Bearer {t}"))).await;
        assert_eq!(r.status(), 401, "{aud}");
        let ch = challenge(&r);
        assert!(ch.starts_with("Bearer error=\"invalid_token\""), "{ch}");
        assert!(ch.contains("resource_metadata=\""), "{ch}");
    }
    assert_eq!(failures(&gw, "audience").await, 4.0);

    // Scope: a valid token without `mcp:tools` is forbidden, with a step-up challenge.
    let t = token(json!(resource), "openid mcp:admin");
    let r = post_initialize(&gw, "/mcp", Some(&format!("Bearer {t}"))).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge(&r),
        format!(
            "Bearer error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"mcp:tools\", resource_metadata=\"{}\"",
            gw.url("/.well-known/oauth-protected-resource/mcp")
        )
    );
    assert_eq!(failures(&gw, "insufficient_scope").await, 1.0);

    // The query string is never read.
    let r = post_initialize(&gw, &format!("/mcp?access_token={good}"), None).await;
    assert_eq!(r.status(), 401);
    assert!(!challenge(&r).contains("error="));
    let r = post_initialize(
        &gw,
        &format!("/mcp?access_token={good}"),
        Some("Bearer not-a-jwt"),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        lock(&idp).seen.len(),
        reached,
        "a refused request reached the target"
    );
}

async fn raw_post(gw: &Gateway, path: &str) -> u16 {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{INITIALIZE}",
        INITIALIZE.len()
    );
    let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).await;
    raw_status(&resp).unwrap_or_else(|| panic!("no status for {path}: {resp:?}"))
}

#[tokio::test]
async fn path_variants_do_not_reach_the_mcp_server_unauthenticated() {
    let Setup { gw, idp, .. } = setup().await;
    // These select the MCP route (after normalization): refused without a token.
    for path in [
        "/mcp",
        "/mcp/",
        "/mcp/x",
        "/mcp//",
        "/mcp/./",
        "/x/../mcp",
        "/%6Dcp",
        "/%6dcp/x",
        "/mcp/.well-known/oauth-protected-resource",
        "/mcp/.well-known/openid-configuration",
        "/.well-known/../mcp",
        "/.well-known/oauth-protected-resource/../../mcp",
    ] {
        assert_eq!(raw_post(&gw, path).await, 401, "{path}");
    }
    // These do not select it (case and `%2F` are significant): no route, nothing served.
    for path in [
        "/MCP",
        "/Mcp/x",
        "/mcp%2Fx",
        "/%2Fmcp",
        "/.well-known/oauth-protected-resource/mcp/x",
    ] {
        let status = raw_post(&gw, path).await;
        assert!(status == 401 || status == 404, "{path}: {status}");
    }
    assert!(
        lock(&idp).seen.is_empty(),
        "a request reached the target: {:?}",
        lock(&idp).seen
    );
}

/// A route to an MCP server reached as a plain `host` backend (the gateway proxies it): the
/// server gets the request without the client's token, and with the caller known.
#[tokio::test]
async fn a_proxied_mcp_server_never_gets_the_clients_token() {
    let up = e2e::Upstream::start("up").await;
    let cfg = routes_config(
        r#"
- name: ext
  matches: [{ path: { prefix: /ext } }]
  policies:
    mcpAuthentication:
      resource: "http://127.0.0.1:{port}/ext"
      authorizationServers: ["https://idp.test"]
      jwks: { file: jwks.json }
  backends: [{ host: "{up}" }]
"#,
    )
    .replace("{up}", &up.host());
    let jwks = jwks();
    let gw = Gateway::start_with(&cfg, move |dir| {
        std::fs::write(dir.join("jwks.json"), &jwks).unwrap();
    })
    .await;
    let good = token(json!(gw.url("/ext")), "");
    let r = post_initialize(&gw, "/ext", Some(&format!("Bearer {good}"))).await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.path(), "/ext");
    assert!(
        seen.headers.get("authorization").is_none(),
        "the client's token reached the upstream"
    );
    // No scopes configured: the challenge has no `scope`.
    let r = post_initialize(&gw, "/ext", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&r),
        format!(
            "Bearer resource_metadata=\"{}\"",
            gw.url("/.well-known/oauth-protected-resource/ext")
        )
    );
}
