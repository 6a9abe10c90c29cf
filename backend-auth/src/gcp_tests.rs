//! `gcp` against a Google token endpoint and a metadata server served on loopback: the
//! endpoint checks the signed assertion with the service account's public key.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;

use super::*;

pub(crate) const PRIVATE_KEY: &str = include_str!("../testdata/sa-key.pem");
pub(crate) const PUBLIC_KEY: &str = include_str!("../testdata/sa-pub.pem");
const EMAIL: &str = "gw@project.iam.gserviceaccount.com";

/// What the fake Google saw, and how it answers.
#[derive(Default)]
struct Google {
    /// Claims of each verified assertion.
    assertions: Vec<serde_json::Value>,
    /// Forms of each refresh-token grant.
    refreshes: Vec<HashMap<String, String>>,
    /// (path, query) of each metadata request.
    metadata: Vec<(String, HashMap<String, String>)>,
    /// Tokens handed out so far.
    issued: u32,
    /// Wait this long before answering.
    delay: Duration,
    /// Lifetime of the tokens handed out.
    expires_in: u64,
    /// The token endpoint's URL (the assertion's audience).
    token_url: String,
}

type Shared = Arc<Mutex<Google>>;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An unsigned JWT-shaped ID token (the gateway only reads its `exp`).
fn id_token(n: u32, audience: &str, exp: u64) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.sig{n}",
        b64(serde_json::json!({"alg": "RS256"})),
        b64(serde_json::json!({"aud": audience, "exp": exp, "n": n}))
    )
}

async fn token(State(g): State<Shared>, body: String) -> axum::response::Response {
    let delay = g.lock().expect("lock").delay;
    tokio::time::sleep(delay).await;
    let mut g = g.lock().expect("lock");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else {
                return (StatusCode::BAD_REQUEST, "no assertion").into_response();
            };
            let header = jsonwebtoken::decode_header(assertion).expect("header");
            assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
            assert_eq!(header.kid.as_deref(), Some("key-1"));
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[g.token_url.as_str()]);
            validation.set_issuer(&[EMAIL]);
            validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("key");
            let claims =
                match jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation) {
                    Ok(data) => data.claims,
                    Err(e) => {
                        return (
                            StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({
                                "error": "invalid_grant",
                                "error_description": format!("bad assertion: {e}"),
                            })),
                        )
                            .into_response()
                    }
                };
            g.issued += 1;
            g.assertions.push(claims.clone());
            let n = g.issued;
            if let Some(audience) = claims["target_audience"].as_str() {
                let exp = unix_now() + g.expires_in;
                axum::Json(serde_json::json!({"id_token": id_token(n, audience, exp)}))
                    .into_response()
            } else {
                axum::Json(serde_json::json!({
                    "access_token": format!("sa-{n}"),
                    "expires_in": g.expires_in,
                    "token_type": "Bearer",
                }))
                .into_response()
            }
        }
        Some("refresh_token") => {
            g.issued += 1;
            g.refreshes.push(form);
            let n = g.issued;
            axum::Json(serde_json::json!({
                "access_token": format!("user-{n}"),
                "expires_in": g.expires_in,
            }))
            .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "unsupported_grant_type"})),
        )
            .into_response(),
    }
}

async fn metadata(
    State(g): State<Shared>,
    axum::extract::Path(what): axum::extract::Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    if headers.get("metadata-flavor").map(|v| v.as_bytes()) != Some(b"Google") {
        return (StatusCode::FORBIDDEN, "Metadata-Flavor: Google missing").into_response();
    }
    let mut g = g.lock().expect("lock");
    g.issued += 1;
    g.metadata.push((what.clone(), query.clone()));
    let n = g.issued;
    match what.as_str() {
        "token" => axum::Json(serde_json::json!({
            "access_token": format!("md-{n}"),
            "expires_in": g.expires_in,
            "token_type": "Bearer",
        }))
        .into_response(),
        "identity" => {
            let audience = query.get("audience").cloned().unwrap_or_default();
            id_token(n, &audience, unix_now() + g.expires_in).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the token endpoint at `/token` and the metadata server under
/// `/computeMetadata/v1/instance/service-accounts/default/`; returns its `host:port`.
async fn fake_google() -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Google {
        expires_in: 3600,
        ..Google::default()
    }));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/{what}",
            axum::routing::get(metadata),
        )
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    shared.lock().expect("lock").token_url = format!("http://{addr}/token");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, shared)
}

fn client() -> Result<reqwest::Client, String> {
    netkit::reqwest_client(netkit::ReqwestOptions::default()).map_err(|e| e.to_string())
}

/// A service account key file whose token_uri is `addr`'s endpoint.
pub(crate) fn key_file(dir: &Path, addr: &str, email: &str) -> String {
    let path = dir.join(format!("{email}.json"));
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "key-1",
        "private_key": PRIVATE_KEY,
        "client_email": email,
        "client_id": "1234",
        "token_uri": format!("http://{addr}/token"),
    });
    std::fs::write(&path, key.to_string()).expect("write key");
    path.to_string_lossy().into_owned()
}

fn gcp(kind: GcpTokenType, audience: Option<&str>, file: Option<&str>) -> BackendAuthConfig {
    BackendAuthConfig::Gcp(GcpConfig {
        kind,
        audience: audience.map(str::to_owned),
        credentials_file: file.map(str::to_owned),
        scopes: vec![],
    })
}

fn build(config: &BackendAuthConfig, env: &[(&str, &str)]) -> Result<BackendAuth, AuthError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BackendAuth::with_env(config, "here", client, &move |name| env.get(name).cloned())
}

fn text(c: &Credential) -> String {
    c.value.to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn a_service_account_key_gets_one_access_token_for_many_requests() {
    let (addr, g) = fake_google().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = key_file(dir.path(), &addr, EMAIL);
    let auth = build(&gcp(GcpTokenType::AccessToken, None, Some(&file)), &[]).expect("gcp");
    for _ in 0..10 {
        let c = auth.credential().await.expect("token");
        assert_eq!(
            (c.name.as_str(), text(&c).as_str()),
            ("authorization", "Bearer sa-1")
        );
    }
    let g = g.lock().expect("lock");
    assert_eq!(g.assertions.len(), 1, "cached: one fetch");
    let claims = &g.assertions[0];
    assert_eq!(claims["scope"], gcp::DEFAULT_SCOPE);
    assert!(claims.get("target_audience").is_none(), "{claims}");
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(3600), "{claims}");
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch_and_a_401_fetches_again() {
    let (addr, g) = fake_google().await;
    g.lock().expect("lock").delay = Duration::from_millis(200);
    let dir = tempfile::tempdir().expect("dir");
    let file = key_file(dir.path(), &addr, EMAIL);
    let mut config = gcp(GcpTokenType::AccessToken, None, Some(&file));
    if let BackendAuthConfig::Gcp(c) = &mut config {
        c.scopes = vec!["https://www.googleapis.com/auth/a".into(), "b".into()];
    }
    let auth = build(&config, &[]).expect("gcp");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.credential().await })
        })
        .collect();
    let mut used = None;
    for t in tasks {
        let c = t.await.expect("join").expect("token");
        assert_eq!(text(&c), "Bearer sa-1");
        used = Some(c);
    }
    assert_eq!(g.lock().expect("lock").assertions.len(), 1, "single flight");
    assert_eq!(
        g.lock().expect("lock").assertions[0]["scope"],
        "https://www.googleapis.com/auth/a b"
    );
    let used = used.expect("a credential");
    assert!(auth.rejected(&used), "a refused Google token is replaced");
    assert_eq!(
        text(&auth.credential().await.expect("again")),
        "Bearer sa-2"
    );
    assert_eq!(g.lock().expect("lock").assertions.len(), 2);
}

#[tokio::test]
async fn an_id_token_names_its_audience_and_lives_until_its_exp() {
    let (addr, g) = fake_google().await;
    g.lock().expect("lock").expires_in = 1;
    let dir = tempfile::tempdir().expect("dir");
    let file = key_file(dir.path(), &addr, EMAIL);
    let audience = "https://svc-xyz.a.run.app";
    let auth = build(
        &gcp(GcpTokenType::IdToken, Some(audience), Some(&file)),
        &[],
    )
    .expect("gcp id");
    let first = text(&auth.credential().await.expect("id token"));
    assert!(
        first.starts_with("Bearer ") && first.ends_with(".sig1"),
        "{first}"
    );
    {
        let g = g.lock().expect("lock");
        let claims = &g.assertions[0];
        assert_eq!(claims["target_audience"], audience);
        assert!(claims.get("scope").is_none(), "{claims}");
    }
    // The token's `exp` is at most a second away: a new one is fetched after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = text(&auth.credential().await.expect("id token"));
    assert!(second.ends_with(".sig2"), "{second}");
}

#[tokio::test]
async fn the_metadata_server_gives_access_and_id_tokens() {
    let (addr, g) = fake_google().await;
    let home = tempfile::tempdir().expect("empty home");
    let home = home.path().to_string_lossy().into_owned();
    let env = [
        ("GCE_METADATA_HOST", addr.as_str()),
        ("HOME", home.as_str()),
    ];
    let access = build(&gcp(GcpTokenType::AccessToken, None, None), &env).expect("gcp");
    assert_eq!(
        text(&access.credential().await.expect("token")),
        "Bearer md-1"
    );
    assert_eq!(
        text(&access.credential().await.expect("cached")),
        "Bearer md-1"
    );
    let audience = "https://svc.example";
    let id = build(&gcp(GcpTokenType::IdToken, Some(audience), None), &env).expect("gcp");
    let token = text(&id.credential().await.expect("id token"));
    assert!(token.ends_with(".sig2"), "{token}");
    let g = g.lock().expect("lock");
    assert_eq!(g.metadata.len(), 2, "{:?}", g.metadata);
    assert_eq!(g.metadata[0].0, "token");
    assert_eq!(g.metadata[0].1["scopes"], gcp::DEFAULT_SCOPE);
    assert_eq!(g.metadata[1].0, "identity");
    assert_eq!(g.metadata[1].1["audience"], audience);
    assert_eq!(g.metadata[1].1["format"], "full");
}

#[tokio::test]
async fn credentials_are_found_in_adc_order() {
    let (addr, g) = fake_google().await;
    let dir = tempfile::tempdir().expect("dir");
    let explicit = key_file(dir.path(), &addr, EMAIL);
    let from_env = key_file(dir.path(), &addr, "env@project.iam.gserviceaccount.com");
    let config = gcp(GcpTokenType::AccessToken, None, Some(&explicit));
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", from_env.as_str())];
    // credentialsFile before GOOGLE_APPLICATION_CREDENTIALS (the fake only accepts EMAIL).
    let auth = build(&config, &env).expect("gcp");
    assert_eq!(
        text(&auth.credential().await.expect("token")),
        "Bearer sa-1"
    );
    // GOOGLE_APPLICATION_CREDENTIALS before gcloud's file and the metadata server.
    let auth = build(&gcp(GcpTokenType::AccessToken, None, None), &env).expect("gcp");
    let err = auth
        .credential()
        .await
        .expect_err("wrong issuer")
        .to_string();
    assert!(
        err.contains("env@project.iam.gserviceaccount.com") && err.contains("invalid_grant"),
        "{err}"
    );
    // Then gcloud's user credentials (a refresh-token grant), before the metadata server.
    let home = tempfile::tempdir().expect("home");
    let gcloud = home.path().join(".config").join("gcloud");
    std::fs::create_dir_all(&gcloud).expect("mkdir");
    let user = serde_json::json!({
        "type": "authorized_user",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
        "token_uri": format!("http://{addr}/token"),
    });
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        user.to_string(),
    )
    .expect("write");
    let home = home.path().to_string_lossy().into_owned();
    let env = [
        ("HOME", home.as_str()),
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];
    let auth = build(&gcp(GcpTokenType::AccessToken, None, None), &env).expect("gcp");
    assert_eq!(
        text(&auth.credential().await.expect("token")),
        "Bearer user-2"
    );
    {
        let g = g.lock().expect("lock");
        let form = &g.refreshes[0];
        assert_eq!(form["refresh_token"], "1//refresh");
        assert_eq!(form["client_id"], "cid.apps.googleusercontent.com");
        assert_eq!(form["client_secret"], "csecret");
        assert!(g.metadata.is_empty());
    }
    // User credentials cannot make ID tokens: said at load.
    let err = build(&gcp(GcpTokenType::IdToken, Some("https://a"), None), &env)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("service account key"), "{err}");
}

#[tokio::test]
async fn errors_name_the_source_and_what_to_do() {
    let missing = build(
        &gcp(GcpTokenType::AccessToken, None, None),
        &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
    )
    .expect_err("refused")
    .to_string();
    assert!(
        missing.contains("/nonexistent/key.json")
            && missing.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{missing}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let odd = dir.path().join("odd.json");
    std::fs::write(&odd, r#"{"type": "external_account"}"#).expect("write");
    let odd = odd.to_string_lossy().into_owned();
    let err = build(&gcp(GcpTokenType::AccessToken, None, Some(&odd)), &[])
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("external_account") && err.contains("not supported yet"),
        "{err}"
    );
    let err = build(&gcp(GcpTokenType::IdToken, None, Some(&odd)), &[])
        .expect_err("refused")
        .to_string();
    assert!(err.contains("gcp.audience"), "{err}");
    let err = build(
        &gcp(GcpTokenType::AccessToken, Some("https://a"), Some(&odd)),
        &[],
    )
    .expect_err("refused")
    .to_string();
    assert!(err.contains("idToken"), "{err}");

    // Nothing found and no metadata server: the error says what to set.
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_string_lossy().into_owned();
    let env = [
        ("HOME", home.as_str()),
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];
    let auth = build(&gcp(GcpTokenType::AccessToken, None, None), &env).expect("gcp");
    let err = auth.credential().await.expect_err("no server").to_string();
    assert!(
        err.contains("metadata server 127.0.0.1") && err.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{err}"
    );
}

/// The token reaches a real request through `send`, and a 401 gets one more try with a new one.
#[tokio::test]
async fn send_sets_the_token_and_replaces_a_refused_one() {
    let (addr, g) = fake_google().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = key_file(dir.path(), &addr, EMAIL);
    let auth = build(&gcp(GcpTokenType::AccessToken, None, Some(&file)), &[]).expect("gcp");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen_by_upstream = seen.clone();
    let upstream = axum::Router::new().route(
        "/api",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = seen_by_upstream.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut seen = seen.lock().expect("lock");
                seen.push(auth.clone());
                // The first token is refused, as if revoked.
                if auth == "Bearer sa-1" {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, upstream).await;
    });
    let http = client().expect("client");
    let request = http.post(format!("http://{up}/api")).body("{}");
    let response = send(Some(&auth), request)
        .await
        .expect("credential")
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(*seen.lock().expect("lock"), ["Bearer sa-1", "Bearer sa-2"]);
    assert_eq!(g.lock().expect("lock").assertions.len(), 2);
}
