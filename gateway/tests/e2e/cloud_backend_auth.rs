//! `backendAuth` with cloud credentials on HTTP routes: `aws` SigV4 signatures that the
//! upstream recomputes from what it received (so a header changed on the way, or a body hash
//! of the wrong bytes, fails), with credentials from the environment and from the config; and
//! `gcp` tokens from a service account key, exchanged at a loopback token endpoint that
//! checks the signed assertion, reaching the upstream as `Authorization: Bearer`. An MCP
//! target with `aws` has every request of its session signed.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use ring::{digest, hmac};

use e2e::{client, routes_config, Gateway, Recorded};

use crate::{get_with, upstream_errors};

pub(crate) const KEY_ID: &str = "AKIDEXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// Checks `seen`'s SigV4 signature as a service would (see [`check_sigv4`]); panics when it
/// does not verify. Returns the credential scope.
fn verify_sigv4(seen: &Recorded, secret: &str, payload_hash: &str) -> String {
    check_sigv4(&seen.method, &seen.uri, &seen.headers, secret, payload_hash)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Checks a request's SigV4 signature as a service would: parses `Authorization`, rebuilds
/// the canonical request from the method, path, query (`uri` is path and query, whose
/// parameters need no encoding here), the signed headers' values and `payload_hash`, and
/// recomputes the signature with `secret`. Returns the credential scope.
pub(crate) fn check_sigv4(
    method: &str,
    uri: &str,
    headers: &http::HeaderMap,
    secret: &str,
    payload_hash: &str,
) -> Result<String, String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let auth = header("authorization");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| format!("not a SigV4 authorization: {auth:?}"))?;
    let mut fields = std::collections::HashMap::new();
    for part in rest.split(", ") {
        let (k, v) = part.split_once('=').ok_or("not k=v")?;
        fields.insert(k, v);
    }
    let field = |k: &str| fields.get(k).copied().ok_or(format!("no {k} in {auth}"));
    let (key_id, scope) = field("Credential")?.split_once('/').ok_or("key/scope")?;
    if key_id != KEY_ID {
        return Err(format!("key id {key_id}"));
    }
    let signed: Vec<&str> = field("SignedHeaders")?.split(';').collect();
    if !(signed.contains(&"host") && signed.contains(&"x-amz-date")) {
        return Err(format!("host and x-amz-date are not signed: {signed:?}"));
    }
    let mut canonical_headers = String::new();
    for name in &signed {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().trim().to_owned())
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} did not arrive"));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut query: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    query.sort();
    let canonical_request = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        query.join("&"),
        signed.join(";")
    );
    let amz_date = header("x-amz-date");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let parts: Vec<&str> = scope.split('/').collect();
    if parts.len() != 4 || amz_date.get(..8) != Some(parts[0]) {
        return Err(format!(
            "scope {scope} does not match x-amz-date {amz_date}"
        ));
    }
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in &parts {
        key = hmac_sha256(&key, part);
    }
    if field("Signature")? != hex(&hmac_sha256(&key, &string_to_sign)) {
        return Err(format!(
            "the signature does not match the request as received:\n{canonical_request}"
        ));
    }
    Ok(scope.to_owned())
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

#[tokio::test]
async fn aws_signatures_verify_at_the_upstream() {
    let cfg = routes_config(
        r#"
- name: bedrock
  matches: [{ path: { prefix: /model } }]
  policies: { backendAuth: { aws: {} } }
  backends: [{ host: "{up}" }]
- name: upload
  matches: [{ path: { prefix: /upload } }]
  policies:
    backendAuth:
      aws: { region: eu-west-1, service: s3, accessKeyId: AKIDEXAMPLE, secretAccessKey: "${S3_SECRET}", sessionToken: session-1, unsignedPayload: true }
  backends: [{ host: "{up}" }]
"#,
    );
    let ups = crate::upstreams(&["up"]).await;
    let cfg = crate::with_hosts(&cfg, &["up"], &ups);
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("S3_SECRET", SECRET.to_owned()),
    ];
    let gw = Gateway::start_with_env(&cfg, |_| {}, &env).await;
    let up = &ups[0];
    let c = client();

    // A signed body: the upstream gets the bytes whose hash was signed.
    let body = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let r = c
        .post(gw.url("/model/m1/converse?b=2&a=1"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-token")
        .header("x-amz-date", "20000101T000000Z")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.body.as_deref(), Some(body.as_bytes()));
    let scope = verify_sigv4(&seen, SECRET, &sha256_hex(body.as_bytes()));
    assert!(
        scope.ends_with("/us-east-1/bedrock/aws4_request"),
        "{scope}"
    );
    assert_ne!(seen.header("x-amz-date"), "20000101T000000Z");
    assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);

    // A GET, signed over the empty body.
    let r = get_with(&c, &gw.url("/model/list"), &[]).await;
    assert_eq!(r.status(), 200);
    verify_sigv4(&up.last(), SECRET, &sha256_hex(b""));

    // A streamed upload with unsignedPayload: not buffered, declared unsigned, the session
    // token signed too; S3 gets the hash header.
    let chunks = [
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"part-1;")),
        Ok(bytes::Bytes::from_static(b"part-2")),
    ];
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = c
        .put(gw.url("/upload/obj"))
        .body(streamed)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.body.as_deref(), Some(&b"part-1;part-2"[..]));
    assert_eq!(seen.header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    assert_eq!(seen.header("x-amz-security-token"), "session-1");
    let scope = verify_sigv4(&seen, SECRET, "UNSIGNED-PAYLOAD");
    assert!(scope.ends_with("/eu-west-1/s3/aws4_request"), "{scope}");
    assert!(
        seen.header("authorization")
            .contains("x-amz-content-sha256;x-amz-date;x-amz-security-token"),
        "{}",
        seen.header("authorization")
    );

    // The secrets never show in /config.
    let config = c
        .get(gw.admin_url("/config"))
        .send()
        .await
        .expect("GET /config")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        config.contains("AKIDEXAMPLE") || config.contains("<redacted>"),
        "{config}"
    );
    assert!(
        !config.contains(SECRET) && !config.contains("session-1"),
        "{config}"
    );
    assert_eq!(
        upstream_errors(&gw, "main/bedrock", "backend_auth").await,
        0.0
    );
}

/// What the fake Google token endpoint saw.
#[derive(Default)]
struct TokenEndpoint {
    /// Claims of each assertion that verified.
    assertions: Vec<serde_json::Value>,
    url: String,
}

#[tokio::test]
async fn gcp_tokens_from_a_service_account_key_reach_the_upstream() {
    let public_key = include_str!("../../../backend-auth/testdata/sa-pub.pem");
    let private_key = include_str!("../../../backend-auth/testdata/sa-key.pem");
    let endpoint: Arc<Mutex<TokenEndpoint>> = Arc::default();
    let state = endpoint.clone();
    let app = axum::Router::new().route(
        "/token",
        post(move |body: String| {
            let state = state.clone();
            async move {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                assert_eq!(
                    form.get("grant_type").map(String::as_str),
                    Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                );
                let mut state = state.lock().expect("lock");
                let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                validation.set_audience(&[state.url.as_str()]);
                validation.set_issuer(&["gw@p.iam.gserviceaccount.com"]);
                let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes())
                    .expect("public key");
                let claims = jsonwebtoken::decode::<serde_json::Value>(
                    form.get("assertion").map_or("", String::as_str),
                    &key,
                    &validation,
                )
                .expect("a valid assertion")
                .claims;
                state.assertions.push(claims);
                let n = state.assertions.len();
                axum::Json(serde_json::json!({
                    "access_token": format!("ya29.token-{n}"),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token_url = format!("http://{}/token", listener.local_addr().expect("addr"));
    endpoint.lock().expect("lock").url = token_url.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let cfg = routes_config(
        r#"
- name: run
  policies: { backendAuth: { gcp: { credentialsFile: "{dir}/sa.json", scopes: [https://www.googleapis.com/auth/aiplatform] } } }
  backends: [{ host: "{up}" }]
"#,
    );
    let ups = crate::upstreams(&["up"]).await;
    let cfg = crate::with_hosts(&cfg, &["up"], &ups);
    let key = serde_json::json!({
        "type": "service_account",
        "private_key_id": "k1",
        "private_key": private_key,
        "client_email": "gw@p.iam.gserviceaccount.com",
        "token_uri": token_url,
    });
    let gw = Gateway::start_with(&cfg, |dir| {
        std::fs::write(dir.join("sa.json"), key.to_string()).expect("write key");
    })
    .await;
    let c = client();
    for _ in 0..3 {
        let r = get_with(
            &c,
            &gw.url("/v1/models"),
            &[("authorization", "Bearer client")],
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(ups[0].last().header("authorization"), "Bearer ya29.token-1");
    }
    let endpoint = endpoint.lock().expect("lock");
    assert_eq!(endpoint.assertions.len(), 1, "one token for every request");
    assert_eq!(
        endpoint.assertions[0]["scope"],
        "https://www.googleapis.com/auth/aiplatform"
    );
}

/// Requests the SigV4 guard let through and refused.
#[derive(Default)]
struct Checked {
    verified: Vec<String>,
    refused: Vec<String>,
}

/// Lets through requests whose SigV4 signature verifies (the body read whole and hashed).
async fn sigv4_guard(
    axum::extract::State(checked): axum::extract::State<Arc<Mutex<Checked>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return http::StatusCode::BAD_REQUEST.into_response();
    };
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let what = format!("{} {uri}", parts.method);
    match check_sigv4(
        parts.method.as_str(),
        &uri,
        &parts.headers,
        SECRET,
        &sha256_hex(&bytes),
    ) {
        Ok(_) => checked.lock().expect("lock").verified.push(what),
        Err(e) => {
            checked
                .lock()
                .expect("lock")
                .refused
                .push(format!("{what}: {e}"));
            return (http::StatusCode::FORBIDDEN, e).into_response();
        }
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// An MCP target with `aws`: every request of the session (handshake, list, call) is signed
/// over its body, as a SigV4-checking server behind the target sees it.
#[tokio::test]
async fn aws_signatures_reach_an_mcp_target() {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    use crate::mcp::{connect_as, mcp_config, step, Remote};
    use crate::mcp_upstream_interop::{call, text};

    let svc = StreamableHttpService::new(
        || Ok(Remote),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let checked: Arc<Mutex<Checked>> = Arc::default();
    let app =
        axum::Router::new()
            .nest_service("/mcp", svc)
            .layer(axum::middleware::from_fn_with_state(
                checked.clone(),
                sigv4_guard,
            ));
    let addr = e2e::serve_router(app, "127.0.0.1:0").await;
    let target = format!(
        "- name: remote\n  mcp: {{ url: \"http://{addr}/mcp\" }}\n  policies:\n    backendAuth:\n      \
         aws: {{ region: us-east-1, service: execute-api, accessKeyId: {KEY_ID}, secretAccessKey: \"{SECRET}\" }}"
    );
    let gw = Gateway::start(&mcp_config("failClosed", &target)).await;
    let client = connect_as(&gw, ()).await;
    let tools = step("list", client.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("list: {e}\nstderr:\n{}", gw.stderr()));
    assert!(tools.iter().any(|t| t.name == "add"), "{tools:?}");
    let sum = step(
        "add",
        client.call_tool(call("add", serde_json::json!({"a": 2, "b": 3}))),
    )
    .await
    .unwrap_or_else(|e| panic!("add: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(text(&sum), "5");
    {
        let checked = checked.lock().expect("lock");
        assert!(checked.refused.is_empty(), "{:?}", checked.refused);
        assert!(
            checked
                .verified
                .iter()
                .filter(|r| r.starts_with("POST"))
                .count()
                >= 3,
            "handshake, list and call were signed: {:?}",
            checked.verified
        );
    }
    let _ = client.cancel().await;
}
