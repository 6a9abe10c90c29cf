//! `jwtAuth`, `apiKeyAuth` and `basicAuth` on routes: valid credentials reach the upstream
//! without them, refused ones get a `401` with a challenge (and a count and a log line), a JWKS
//! served on loopback is fetched and used, preflights and discovery paths are not challenged,
//! path tricks do not reach a protected upstream unauthenticated, and `validate` names the key
//! of a broken policy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use e2e::{
    client, raw_exchange, raw_status, routes_config, run_switchboard, Gateway, RawConn, Upstream,
};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::get_with;

pub(crate) const RSA1: &str = include_str!("../../../authn/testdata/rsa1.pem");
const RSA2: &str = include_str!("../../../authn/testdata/rsa2.pem");
const ISS: &str = "https://idp.test";
const CI_KEY: &str = "ci-key-e2e-0123456789";

fn key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

pub(crate) fn jwks(pem: &str, kid: &str) -> String {
    let mut jwk = Jwk::from_encoding_key(&key(pem), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap()
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

pub(crate) fn token(pem: &str, kid: &str, exp_in: i64) -> String {
    let claims = json!({"iss": ISS, "aud": "switchboard", "sub": "alice", "exp": now() + exp_in});
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &claims, &key(pem)).unwrap()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// A JWKS on loopback that counts its hits.
async fn jwks_server(body: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { body }
        }),
    );
    (e2e::serve_router(app, "127.0.0.1:0").await, hits)
}

const ROUTES: &str = r#"
- name: jwt
  matches: [{ path: { prefix: /jwt } }]
  policies:
    jwtAuth: { issuer: "https://idp.test", audiences: [switchboard], jwks: { file: jwks.json } }
  backends: [{ host: "{up}" }]
- name: jwt-url
  matches: [{ path: { prefix: /url } }]
  policies:
    jwtAuth:
      issuer: "https://idp.test"
      audiences: [switchboard]
      jwks: { url: "http://{jwks}/jwks.json" }
  backends: [{ host: "{up}" }]
- name: optional
  matches: [{ path: { prefix: /opt } }]
  policies:
    jwtAuth: { mode: optional, issuer: "https://idp.test", audiences: [switchboard], jwks: { file: jwks.json } }
  backends: [{ host: "{up}" }]
- name: key
  matches: [{ path: { prefix: /key } }]
  policies:
    apiKeyAuth: { keys: [{ name: ci, key: "${E2E_AUTHN_CI_KEY}", metadata: { team: infra } }] }
  backends: [{ host: "{up}" }]
- name: key-pass
  matches: [{ path: { prefix: /pass } }]
  policies:
    apiKeyAuth: { header: x-token, keys: [{ name: ci, key: "${E2E_AUTHN_CI_KEY}" }] }
    backendAuth: { passthrough: {} }
  backends: [{ host: "{up}" }]
- name: basic
  matches: [{ path: { prefix: /basic } }]
  policies: { basicAuth: { htpasswd: users.htpasswd, realm: internal } }
  backends: [{ host: "{up}" }]
- name: api
  matches: [{ path: { prefix: /api } }]
  policies:
    cors: { allowOrigins: ["https://app.test"], allowMethods: [GET, POST], allowHeaders: [authorization] }
    jwtAuth: { issuer: "https://idp.test", audiences: [switchboard], jwks: { file: jwks.json } }
  backends: [{ host: "{up}" }]
- name: public
  backends: [{ host: "{up}" }]
"#;

struct Setup {
    up: Upstream,
    gw: Gateway,
    jwks_hits: Arc<AtomicUsize>,
}

async fn setup() -> Setup {
    let up = Upstream::start("up").await;
    let (jwks_addr, jwks_hits) = jwks_server(jwks(RSA1, "k1")).await;
    let cfg = routes_config(ROUTES)
        .replace("{up}", &up.host())
        .replace("{jwks}", &jwks_addr.to_string());
    let file_jwks = jwks(RSA1, "k1");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let gw = Gateway::start_with_env(
        &cfg,
        move |dir| {
            std::fs::write(dir.join("jwks.json"), &file_jwks).unwrap();
            std::fs::write(
                dir.join("users.htpasswd"),
                format!("# users\nbob:{hash}\ncarol:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\n"),
            )
            .unwrap();
        },
        &[("E2E_AUTHN_CI_KEY", CI_KEY.to_string())],
    )
    .await;
    Setup { up, gw, jwks_hits }
}

async fn failures(gw: &Gateway, route: &str, method: &str, reason: &str) -> f64 {
    gw.metric_or_zero(
        "switchboard_authn_failures_total",
        &[("route", route), ("method", method), ("reason", reason)],
    )
    .await
}

#[tokio::test]
async fn jwt_from_a_file_and_from_a_loopback_url() {
    let Setup { up, gw, jwks_hits } = setup().await;
    let c = client();
    let good = token(RSA1, "k1", 300);

    for path in ["/jwt/x", "/url/x"] {
        let r = get_with(&c, &gw.url(path), &[("authorization", &bearer(&good))]).await;
        assert_eq!(r.status(), 200, "{path}");
        let seen = up.last();
        assert_eq!(seen.path(), path);
        assert!(
            seen.headers.get("authorization").is_none(),
            "{path}: the caller's token reached the upstream"
        );
    }
    assert!(
        jwks_hits.load(Ordering::SeqCst) >= 1,
        "the JWKS URL was fetched"
    );

    let hits = up.hits();
    let expired = token(RSA1, "k1", -600);
    let r = get_with(
        &c,
        &gw.url("/jwt/x"),
        &[("authorization", &bearer(&expired))],
    )
    .await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"switchboard\", error=\"invalid_token\""),
        "{challenge}"
    );
    let r = get_with(&c, &gw.url("/jwt/x"), &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"switchboard\""
    );
    // A token in the query string is not a credential.
    let r = get_with(&c, &gw.url(&format!("/jwt/x?access_token={good}")), &[]).await;
    assert_eq!(r.status(), 401);
    // Signed by a key the JWKS does not have (under its kid).
    let forged = token(RSA2, "k1", 300);
    let r = get_with(
        &c,
        &gw.url("/url/x"),
        &[("authorization", &bearer(&forged))],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(up.hits(), hits, "no refused request reached the upstream");

    assert_eq!(failures(&gw, "main/jwt", "jwt", "expired").await, 1.0);
    assert_eq!(failures(&gw, "main/jwt", "jwt", "missing").await, 2.0);
    assert_eq!(failures(&gw, "main/jwt-url", "jwt", "signature").await, 1.0);
    let log = gw
        .stderr_once(|l| l.contains("credential refused") && l.contains("reason=\"expired\""))
        .await;
    assert!(!log.contains(&expired), "the token was logged");

    // Optional: no token is anonymous; a bad one is still refused.
    assert_eq!(get_with(&c, &gw.url("/opt"), &[]).await.status(), 200);
    let r = get_with(&c, &gw.url("/opt"), &[("authorization", &bearer(&expired))]).await;
    assert_eq!(r.status(), 401);

    // The access line names the caller.
    get_with(
        &c,
        &gw.url("/jwt/logged"),
        &[("authorization", &bearer(&good))],
    )
    .await;
    let line = gw
        .stderr_once(|l| l.contains("access: request") && l.contains("path=/jwt/logged"))
        .await;
    let line = line
        .lines()
        .find(|l| l.contains("path=/jwt/logged"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains(" subject=\"alice\""), "{line}");
}

#[tokio::test]
async fn api_keys_in_their_header_or_as_bearer_and_basic_users() {
    let Setup { up, gw, .. } = setup().await;
    let c = client();
    let r = get_with(&c, &gw.url("/key"), &[("x-api-key", CI_KEY)]).await;
    assert_eq!(r.status(), 200);
    assert!(
        up.last().headers.get("x-api-key").is_none(),
        "the key reached the upstream"
    );
    let r = get_with(&c, &gw.url("/key"), &[("authorization", &bearer(CI_KEY))]).await;
    assert_eq!(r.status(), 200);
    assert!(up.last().headers.get("authorization").is_none());
    for wrong in [
        vec![("x-api-key", "ci-key-e2e-0123456780")],
        vec![("authorization", "Bearer nope-nope-nope-nope")],
        vec![],
    ] {
        let r = get_with(&c, &gw.url("/key"), &wrong).await;
        assert_eq!(r.status(), 401, "{wrong:?}");
        assert!(r.headers().contains_key("www-authenticate"), "{wrong:?}");
    }
    assert_eq!(
        failures(&gw, "main/key", "apiKey", "bad_credentials").await,
        2.0
    );

    // passthrough: the credential goes on.
    let r = get_with(&c, &gw.url("/pass"), &[("x-token", CI_KEY)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-token"), CI_KEY);

    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    for (u, p) in [("bob", "s3cret"), ("carol", "secret1")] {
        let r = get_with(&c, &gw.url("/basic"), &[("authorization", &basic(u, p))]).await;
        assert_eq!(r.status(), 200, "{u}");
        assert!(up.last().headers.get("authorization").is_none());
    }
    for (u, p) in [("bob", "S3cret"), ("eve", "s3cret")] {
        let r = get_with(&c, &gw.url("/basic"), &[("authorization", &basic(u, p))]).await;
        assert_eq!(r.status(), 401, "{u}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"internal\", charset=\"UTF-8\""
        );
    }
}

/// A request refused before its body was read keeps its connection: the body that follows
/// the head is read and dropped, so the client's next request on the connection is answered
/// (an MCP client fetching the metadata its `401` named goes this way). A body too large to
/// drop in passing gets `Connection: close` on the refusal instead, so the client does not
/// reuse a connection the gateway is about to close.
#[tokio::test]
async fn a_refused_request_keeps_its_connection_or_says_it_closes() {
    let s = setup().await;
    let mut c = RawConn::connect(s.gw.addr()).await;
    let body = "x".repeat(3000);
    let head = |len: usize| {
        format!("POST /key/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len}\r\n\r\n")
    };
    c.write(head(body.len()).as_bytes()).await;
    // The body trails its head, as it does from a client whose writes a loaded machine splits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.write(body.as_bytes()).await;
    let refused = c.response().await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("connection"), "", "kept alive");
    let next = c.get("/public/after-the-refusal").await;
    assert_eq!(
        next.status, 200,
        "the next request on the connection is served"
    );

    let mut c = RawConn::connect(s.gw.addr()).await;
    c.write(head(50 << 20).as_bytes()).await;
    let refused = c.response().await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("connection"), "close", "{refused:?}");
}

async fn raw_get(gw: &Gateway, path: &str, extra: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n");
    let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).await;
    raw_status(&resp).unwrap_or_else(|| panic!("no status for {path}: {resp:?}"))
}

#[tokio::test]
async fn path_tricks_do_not_skip_authentication() {
    let Setup { up, gw, .. } = setup().await;
    // Each of these selects the protected /api route (after normalization), so it must be
    // refused without a token and nothing may reach the upstream.
    for path in [
        "/api",
        "/api/",
        "/api/secret",
        "/api/secret/",
        "/api//secret",
        "/api/x/../secret",
        "/api/./secret",
        "/public/../api/secret",
        "/public/%2e%2e/api/secret",
        "/public/%2E%2E/api/secret",
        "/x/.%2e/api/secret",
        "/%61pi/secret",
        "/%61%70%69",
        "/api/secret?x=/public",
        "/api/.well-knownx",
    ] {
        let before = up.hits();
        assert_eq!(raw_get(&gw, path, "").await, 401, "{path}");
        assert_eq!(up.hits(), before, "{path} reached the upstream");
    }
    // These do not select /api (case and `%2F` are significant in route paths): they may go
    // to the public route, but the upstream must not see them as a path under /api.
    for path in ["/API/secret", "/api%2Fsecret", "/api%2f..%2fpublic"] {
        let before = up.requests().len();
        let status = raw_get(&gw, path, "").await;
        let reached: Vec<String> = up.requests()[before..]
            .iter()
            .map(|r| r.path().to_string())
            .collect();
        assert!(
            status == 401 || reached.iter().all(|p| !p.starts_with("/api/")),
            "{path}: {status}, upstream saw {reached:?}"
        );
    }
    // The public route stays public.
    assert_eq!(raw_get(&gw, "/public/x", "").await, 200);
    assert_eq!(raw_get(&gw, "/api/../public/x", "").await, 200);
}

#[tokio::test]
async fn preflights_and_discovery_paths_are_not_challenged() {
    let Setup { up, gw, .. } = setup().await;
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/api/x"))
        .header("origin", "https://app.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "preflight answered {}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.test"
    );
    // The 401 of a cross-origin call carries the CORS headers, so a page can read it.
    let r = get_with(&c, &gw.url("/api/x"), &[("origin", "https://app.test")]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.test"
    );
    // A preflight on a route without cors reaches the upstream unchallenged.
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/jwt/x"))
        .header("origin", "https://app.test")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An A2A agent card under the route is read without a credential...
    let r = get_with(&c, &gw.url("/jwt/.well-known/agent-card.json"), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().path(), "/jwt/.well-known/agent-card.json");
    // ...but any other `/.well-known/` segment below the root is the route's own content
    // (a suffix that skipped authentication on every route before).
    let r = get_with(
        &c,
        &gw.url("/jwt/.well-known/oauth-protected-resource"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 401);
    // But a plain OPTIONS (not a preflight) is challenged.
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/jwt/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn validate_names_the_key_of_a_broken_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |policy: &str| {
        routes_config(&format!(
            "\n- name: r\n  policies:\n    {policy}\n  backends: [{{ host: \"127.0.0.1:1\" }}]\n"
        ))
        .replace("{port}", "1")
    };
    std::fs::write(
        dir.path().join("missing.yaml"),
        cfg("jwtAuth: { issuer: i, audiences: [a], jwks: { file: nope.json } }"),
    )
    .unwrap();
    let out = run_switchboard(&["validate", "-c", "missing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("binds[0].listeners[0].routes[0].policies.jwtAuth.jwks.file: cannot read"),
        "{}",
        out.stderr
    );
    std::fs::write(
        dir.path().join("unknown.yaml"),
        cfg("jwtAuth: { issuer: i, audiences: [a], jwks: { file: x.json }, audience: a }"),
    )
    .unwrap();
    let out = run_switchboard(&["validate", "-c", "unknown.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains("routes[0].policies.jwtAuth.audience"),
        "{}",
        out.stderr
    );
    std::fs::write(
        dir.path().join("users"),
        "bob:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\nalice\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("basic.yaml"),
        cfg("basicAuth: { htpasswd: users }"),
    )
    .unwrap();
    let out = run_switchboard(&["validate", "-c", "basic.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains("policies.basicAuth.htpasswd: ") && out.stderr.contains("line 2"),
        "{}",
        out.stderr
    );
}

/// An MCP route behind `apiKeyAuth`: no key, no session; with it, the session opens and the
/// access line names the caller.
#[tokio::test]
async fn an_mcp_route_requires_its_key() {
    let cfg = format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n{}",
        routes_config(
            r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  policies: { apiKeyAuth: { keys: [{ name: agent-7, key: "${E2E_AUTHN_MCP_KEY}" }] } }
  backends: [{ backend: tools }]
"#
        ),
        e2e::indent(&crate::mcp::demo_target(), 4)
    );
    let gw =
        Gateway::start_with_env(&cfg, |_| {}, &[("E2E_AUTHN_MCP_KEY", CI_KEY.to_string())]).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"}}})
    .to_string();
    let base = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    let (status, headers, _) = crate::mcp_transport::raw_post(&gw, &base, &init).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "ApiKey");
    let mut with_key = base.to_vec();
    with_key.push(("x-api-key", CI_KEY));
    let (status, headers, body) = crate::mcp_transport::raw_post(&gw, &with_key, &init).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("mcp-session-id"), "{headers:?}");
    let log = gw
        .stderr_once(|l| l.contains("mcp.method=\"initialize\"") && l.contains("status=200"))
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("mcp.method=\"initialize\"") && l.contains("status=200"))
        .unwrap_or_default();
    assert!(line.contains(" subject=\"agent-7\""), "{line}");
    assert_eq!(failures(&gw, "main/mcp", "apiKey", "missing").await, 1.0);
}
