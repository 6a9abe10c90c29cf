//! [`BackendAuth`] against a real token endpoint on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;

use super::*;

/// What the token endpoint saw, and what it answers.
#[derive(Default)]
struct Endpoint {
    /// (Authorization header, form body) of each request.
    requests: Vec<(Option<String>, String)>,
    expires_in: Option<u64>,
    /// Answer with this error instead of a token.
    refuse: Option<(StatusCode, &'static str)>,
    /// Wait this long before answering.
    delay: Duration,
}

type Shared = Arc<Mutex<Endpoint>>;

async fn token(State(ep): State<Shared>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let delay = ep.lock().expect("lock").delay;
    tokio::time::sleep(delay).await;
    let mut ep = ep.lock().expect("lock");
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ep.requests.push((auth, body));
    if let Some((status, body)) = ep.refuse {
        return (status, body.to_owned()).into_response();
    }
    let mut answer = serde_json::json!({
        "access_token": format!("tok-{}", ep.requests.len()),
        "token_type": "bearer",
    });
    if let Some(s) = ep.expires_in {
        answer["expires_in"] = s.into();
    }
    axum::Json(answer).into_response()
}

async fn endpoint(expires_in: Option<u64>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Endpoint {
        expires_in,
        ..Endpoint::default()
    }));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/token"), shared)
}

fn oauth2(token_url: &str, client_auth: ClientAuth) -> BackendAuth {
    let config = BackendAuthConfig::OAuth2(OAuth2Config {
        token_url: token_url.into(),
        client_id: "gw client".into(),
        client_secret: "s3cret:&".into(),
        scopes: vec!["tools.read".into(), "tools.call".into()],
        audience: None,
        resource: Some("http://127.0.0.1:1/mcp".into()),
        client_auth,
    });
    BackendAuth::new(&config, "here", client).expect("valid oauth2")
}

fn client() -> Result<reqwest::Client, String> {
    netkit::reqwest_client(netkit::ReqwestOptions::default()).map_err(|e| e.to_string())
}

fn text(c: &Credential) -> &str {
    c.value.to_str().expect("ascii")
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn static_keys_are_a_bearer_token_or_a_named_header() {
    let bearer = BackendAuthConfig::Key(KeyConfig::Bearer("abc".into()));
    let auth = BackendAuth::new(&bearer, "here", client).expect("bearer");
    let c = auth.credential().await.expect("credential");
    assert_eq!((c.name.as_str(), text(&c)), ("authorization", "Bearer abc"));
    assert!(!auth.rejected(&c), "a static key cannot be replaced");

    let header = BackendAuthConfig::Key(KeyConfig::Header(HeaderKeyConfig {
        header: Some("X-Api-Key".into()),
        value: "k1".into(),
    }));
    let auth = BackendAuth::new(&header, "here", client).expect("header");
    let c = auth.credential().await.expect("credential");
    assert_eq!((c.name.as_str(), text(&c)), ("x-api-key", "k1"));

    let bad = BackendAuthConfig::Key(KeyConfig::Header(HeaderKeyConfig {
        header: Some("bad header".into()),
        value: "k".into(),
    }));
    let err = BackendAuth::new(&bad, "here", client).expect_err("bad name");
    assert!(err.to_string().contains("\"bad header\""), "{err}");
    let pass = BackendAuthConfig::Passthrough(config::PassthroughConfig {});
    let err = BackendAuth::new(&pass, "on an MCP target", client).expect_err("passthrough");
    assert!(err.to_string().contains("on an MCP target"), "{err}");
}

#[tokio::test]
async fn one_token_is_fetched_and_shared() {
    let (url, ep) = endpoint(Some(3600)).await;
    let auth = oauth2(&url, ClientAuth::Basic);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.credential().await })
        })
        .collect();
    for t in tasks {
        let c = t.await.expect("join").expect("credential");
        assert_eq!(text(&c), "Bearer tok-1");
    }
    let ep = ep.lock().expect("lock");
    assert_eq!(
        ep.requests.len(),
        1,
        "concurrent first uses share one fetch"
    );
    let (auth_header, body) = &ep.requests[0];
    let expected = base64::engine::general_purpose::STANDARD.encode("gw+client:s3cret%3A%26");
    assert_eq!(
        auth_header.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    let form = form(body);
    for pair in [
        ("grant_type", "client_credentials"),
        ("scope", "tools.read tools.call"),
        ("resource", "http://127.0.0.1:1/mcp"),
    ] {
        assert!(
            form.contains(&(pair.0.into(), pair.1.into())),
            "{pair:?} in {form:?}"
        );
    }
    assert!(!form.iter().any(|(k, _)| k == "client_secret"), "{form:?}");
}

#[tokio::test]
async fn client_secret_post_puts_the_secret_in_the_form() {
    let (url, ep) = endpoint(None).await;
    let auth = oauth2(&url, ClientAuth::Post);
    auth.credential().await.expect("credential");
    let ep = ep.lock().expect("lock");
    let (auth_header, body) = &ep.requests[0];
    assert_eq!(auth_header, &None);
    let form = form(body);
    assert!(
        form.contains(&("client_id".into(), "gw client".into())),
        "{form:?}"
    );
    assert!(
        form.contains(&("client_secret".into(), "s3cret:&".into())),
        "{form:?}"
    );
}

#[tokio::test]
async fn a_token_is_replaced_before_it_expires() {
    let (url, ep) = endpoint(Some(1)).await;
    let auth = oauth2(&url, ClientAuth::Basic);
    assert_eq!(
        text(&auth.credential().await.expect("first")),
        "Bearer tok-1"
    );
    assert_eq!(
        text(&auth.credential().await.expect("again")),
        "Bearer tok-1"
    );
    // A 1 s token is replaced after 0.8 s.
    tokio::time::sleep(Duration::from_millis(850)).await;
    assert_eq!(
        text(&auth.credential().await.expect("later")),
        "Bearer tok-2"
    );
    assert_eq!(ep.lock().expect("lock").requests.len(), 2);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let (url, ep) = endpoint(Some(3600)).await;
    let auth = oauth2(&url, ClientAuth::Basic);
    let first = auth.credential().await.expect("first");
    assert!(auth.rejected(&first), "an OAuth2 token can be replaced");
    let second = auth.credential().await.expect("second");
    assert_eq!(text(&second), "Bearer tok-2");
    // A late 401 for the first token does not throw the second away.
    auth.rejected(&first);
    assert_eq!(
        text(&auth.credential().await.expect("third")),
        "Bearer tok-2"
    );
    assert_eq!(ep.lock().expect("lock").requests.len(), 2);
}

#[tokio::test]
async fn token_endpoint_errors_say_what_the_server_said() {
    let (url, ep) = endpoint(Some(3600)).await;
    ep.lock().expect("lock").refuse = Some((
        StatusCode::UNAUTHORIZED,
        r#"{"error":"invalid_client","error_description":"bad secret"}"#,
    ));
    let auth = oauth2(&url, ClientAuth::Basic);
    let err = auth.credential().await.expect_err("refused").to_string();
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("invalid_client (bad secret)"), "{err}");
    assert!(err.contains(&url), "{err}");

    let dead = oauth2("http://127.0.0.1:9/token", ClientAuth::Basic);
    let err = dead
        .credential()
        .await
        .expect_err("nothing listens")
        .to_string();
    assert!(err.contains("request failed"), "{err}");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_token_until_it_expires() {
    let (url, ep) = endpoint(Some(2)).await;
    let auth = oauth2(&url, ClientAuth::Basic);
    assert_eq!(
        text(&auth.credential().await.expect("first")),
        "Bearer tok-1"
    );
    ep.lock().expect("lock").refuse = Some((StatusCode::SERVICE_UNAVAILABLE, "down"));
    // Past the refresh point (1.6 s), before expiry (2 s).
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(
        text(&auth.credential().await.expect("kept")),
        "Bearer tok-1"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = auth.credential().await.expect_err("expired").to_string();
    assert!(err.contains("503") && err.contains("\"down\""), "{err}");
}

/// Requests that waited for a fetch that failed get its error; only a later request asks the
/// endpoint again (a slow or hanging endpoint would otherwise be asked once per waiter, in turn).
#[tokio::test]
async fn requests_waiting_on_a_failed_fetch_share_its_error() {
    let (url, ep) = endpoint(Some(3600)).await;
    {
        let mut ep = ep.lock().expect("lock");
        ep.refuse = Some((StatusCode::SERVICE_UNAVAILABLE, "down"));
        ep.delay = Duration::from_millis(300);
    }
    let auth = oauth2(&url, ClientAuth::Basic);
    let waiters: Vec<_> = (0..16)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.credential().await })
        })
        .collect();
    for w in waiters {
        let err = w.await.expect("task").expect_err("refused").to_string();
        assert!(err.contains("503"), "{err}");
    }
    assert_eq!(
        ep.lock().expect("lock").requests.len(),
        1,
        "one fetch for all"
    );

    {
        let mut ep = ep.lock().expect("lock");
        ep.refuse = None;
        ep.delay = Duration::ZERO;
    }
    assert_eq!(
        text(&auth.credential().await.expect("a later request asks again")),
        "Bearer tok-2"
    );
}

/// An `expires_in` far beyond any clock is believed for a day, not added to the clock.
#[tokio::test]
async fn an_absurd_lifetime_does_not_overflow_the_clock() {
    let (url, _ep) = endpoint(Some(u64::MAX)).await;
    let auth = oauth2(&url, ClientAuth::Basic);
    assert_eq!(
        text(&auth.credential().await.expect("token")),
        "Bearer tok-1"
    );
}

#[test]
fn bad_token_urls_are_config_errors() {
    let config = BackendAuthConfig::OAuth2(OAuth2Config {
        token_url: "idp.example.com/token".into(),
        client_id: "c".into(),
        client_secret: "s".into(),
        scopes: vec![],
        audience: None,
        resource: None,
        client_auth: ClientAuth::Basic,
    });
    let err = BackendAuth::new(&config, "here", client).expect_err("no scheme");
    assert!(err.to_string().contains("tokenUrl"), "{err}");
}
