//! `credentials` for security schemes whose tokens a user obtains (oauth2 implicit,
//! authorization code and password flows, openIdConnect), against a real REST server on
//! loopback that requires them; and credentials that fit no scheme, refused at load (issue 12).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openapi_tools::config::{Credential, OpenApiConfig};
use openapi_tools::toolset::OpenApiTools;
use rmcp::model::CallToolResult;
use serde_json::{json, Value};

const CODE_TOKEN: &str = "code-token-1";
const OIDC_TOKEN: &str = "oidc-token-2";
const CC_TOKEN: &str = "cc-token-3";

/// One operation per scheme: oauth2 with an authorization-code flow, openIdConnect, an http
/// bearer scheme, and an apiKey.
const OPENAPI: &str = r##"
openapi: 3.0.3
info: { title: user tokens, version: "1" }
components:
  securitySchemes:
    code:
      type: oauth2
      flows:
        authorizationCode:
          authorizationUrl: https://login.example/authorize
          tokenUrl: https://login.example/token
          scopes: { read: read things }
    oidc: { type: openIdConnect, openIdConnectUrl: https://login.example/.well-known/openid-configuration }
    bearer: { type: http, scheme: bearer }
    key: { type: apiKey, in: header, name: X-Key }
    digest: { type: http, scheme: digest }
paths:
  /code:
    get:
      operationId: withCode
      security: [{ code: [read] }]
      responses: { "200": { description: ok, content: { application/json: { schema: { type: object } } } } }
  /oidc:
    get:
      operationId: withOidc
      security: [{ oidc: [] }]
      responses: { "200": { description: ok, content: { application/json: { schema: { type: object } } } } }
  /bearer:
    get:
      operationId: withBearer
      security: [{ bearer: [] }]
      responses: { "200": { description: ok, content: { application/json: { schema: { type: object } } } } }
"##;

/// Swagger 2.0: the same `/code` operation behind an `accessCode` flow.
const SWAGGER: &str = r##"{
  "swagger": "2.0",
  "info": {"title": "user tokens", "version": "1"},
  "securityDefinitions": {"code": {"type": "oauth2", "flow": "accessCode",
    "authorizationUrl": "https://login.example/authorize", "tokenUrl": "https://login.example/token",
    "scopes": {"read": "read things"}}},
  "paths": {"/code": {"get": {"operationId": "withCode", "security": [{"code": ["read"]}],
    "responses": {"200": {"description": "ok", "schema": {"type": "object"}}}}}}
}"##;

/// 200 with `{"ok": true}` when the request carries `Bearer <token>`, else 401.
fn guarded(headers: &HeaderMap, token: &str) -> Response {
    let wanted = format!("Bearer {token}");
    match headers.get(header::AUTHORIZATION) {
        Some(v) if v.as_bytes() == wanted.as_bytes() => Json(json!({"ok": true})).into_response(),
        _ => (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response(),
    }
}

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/code",
            get(|h: HeaderMap| async move { guarded(&h, CODE_TOKEN) }),
        )
        .route(
            "/oidc",
            get(|h: HeaderMap| async move { guarded(&h, OIDC_TOKEN) }),
        )
        .route(
            "/bearer",
            get(|h: HeaderMap| async move { guarded(&h, CC_TOKEN) }),
        )
        .route(
            "/token",
            post(|body: String| async move {
                if body.contains("grant_type=client_credentials") {
                    Json(json!({"access_token": CC_TOKEN, "token_type": "Bearer",
                        "expires_in": 3600}))
                    .into_response()
                } else {
                    (StatusCode::BAD_REQUEST, "unsupported grant").into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn config(
    dir: &tempfile::TempDir,
    file: &str,
    text: &str,
    creds: &[(&str, Value)],
) -> OpenApiConfig {
    let path = dir.path().join(file);
    std::fs::write(&path, text).expect("write spec");
    let mut cfg = OpenApiConfig::new(path);
    cfg.timeout = Some("5s".into());
    cfg.credentials = creds
        .iter()
        .map(|(k, v)| {
            let c: Credential = serde_json::from_value(v.clone()).expect("credential");
            (k.to_string(), c)
        })
        .collect::<BTreeMap<_, _>>();
    cfg
}

async fn call(t: &OpenApiTools, name: &str) -> CallToolResult {
    t.call(name, None).await.expect("tool exists")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok(r: &CallToolResult, what: &str) {
    assert_eq!(r.is_error, Some(false), "{what}: {}", text(r));
    assert_eq!(r.structured_content, Some(json!({"ok": true})), "{what}");
}

#[tokio::test]
async fn tokens_for_oauth2_and_openid_connect_schemes_are_sent_as_bearer_tokens() {
    let addr = serve().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = Some(format!("http://{addr}"));

    // without credentials the server really refuses
    let mut cfg = config(&dir, "openapi.yaml", OPENAPI, &[]);
    cfg.base_url = base.clone();
    let t = OpenApiTools::load(cfg).expect("load");
    let r = call(&t, "withCode").await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("401"),
        "{}",
        text(&r)
    );

    let mut cfg = config(
        &dir,
        "openapi.yaml",
        OPENAPI,
        &[
            ("code", json!({"token": CODE_TOKEN})),
            ("oidc", json!({"token": OIDC_TOKEN})),
            // client credentials for an http bearer scheme: the credential names the endpoint
            (
                "bearer",
                json!({"clientId": "c", "clientSecret": "s", "tokenUrl": "/token"}),
            ),
        ],
    );
    cfg.base_url = base.clone();
    let t = OpenApiTools::load(cfg).expect("load");
    ok(&call(&t, "withCode").await, "oauth2 authorization code");
    ok(&call(&t, "withOidc").await, "openIdConnect");
    ok(
        &call(&t, "withBearer").await,
        "client credentials for http bearer",
    );

    let mut cfg = config(
        &dir,
        "swagger.json",
        SWAGGER,
        &[("code", json!({"token": CODE_TOKEN}))],
    );
    cfg.base_url = base;
    let t = OpenApiTools::load(cfg).expect("load");
    ok(&call(&t, "withCode").await, "Swagger 2.0 accessCode");
}

#[test]
fn a_credential_that_fits_no_scheme_is_a_load_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, cred, why) in [
        (
            "code",
            json!({"clientId": "c", "clientSecret": "s"}),
            "clientCredentials",
        ),
        ("nosuch", json!({"token": "t"}), "no security scheme named"),
        ("key", json!({"token": "t"}), "apiKey"),
        ("digest", json!({"token": "t"}), "digest"),
        (
            "oidc",
            json!({"username": "u", "password": "p"}),
            "openIdConnect",
        ),
    ] {
        let cfg = config(&dir, "openapi.yaml", OPENAPI, &[(name, cred)]);
        let err = OpenApiTools::load(cfg)
            .map(|_| ())
            .expect_err(&format!("credential {name:?} was accepted"))
            .to_string();
        assert!(
            err.contains(&format!("credentials.{name}")) && err.contains(why),
            "the error names {name:?} and says why ({why}): {err}"
        );
    }
}
