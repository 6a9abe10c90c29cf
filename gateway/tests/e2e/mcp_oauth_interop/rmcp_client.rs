//! `mcpAuthentication` against a real authorization server with rmcp's own OAuth client (its
//! `auth` feature), on the stack of the Python SDK's tests in the parent module (npm
//! `oidc-provider`, a guarded MCP target, the gateway). The test knows only the gateway's MCP
//! URL; rmcp does the rest:
//!
//! 1. an rmcp session without a token is refused with Switchboard's `401`, whose challenge rmcp
//!    hands back (`ClientInitializeError::auth_challenge`); its `resource_metadata` is read with
//!    rmcp's `WWWAuthenticateParams`;
//! 2. `OAuthState::start_authorization` seeded with that challenge reads the RFC 9728 document it
//!    names, the authorization server's RFC 8414 metadata, registers a client (RFC 7591) and
//!    builds the authorization URL with PKCE and the RFC 8707 `resource`;
//! 3. the oidc-provider login and consent pages are filled in over HTTP ([`sign_in`], as the
//!    Python test's script does), and rmcp exchanges the redirect's code for a token
//!    (`handle_callback_url`, which checks `state` and the RFC 9207 `iss`);
//! 4. rmcp's `AuthClient` carries the token on a new session through the gateway: tools listed,
//!    `add` called.
//!
//! Every OAuth request rmcp makes goes through a recording [`OAuthHttpClient`], so the test sees
//! where discovery went and what the metadata said. The guarded target must see only the
//! gateway's `backendAuth` token.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use rmcp::transport::auth::{
    default_oauth_http_client, AuthClient, AuthorizationRequest, OAuthHttpClient,
    OAuthHttpClientFuture, OAuthHttpRequest, OAuthState, WWWAuthenticateParams,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use url::Url;

use super::{start_stack, Stack};
use crate::mcp::{call_ok, step, text};
use crate::mcp_backend_auth::lock;

/// Where the authorization server sends the browser back; nothing listens there: [`sign_in`]
/// stops at the redirect.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// One OAuth HTTP exchange rmcp made.
struct Exchange {
    method: String,
    url: String,
    status: u16,
    body: Vec<u8>,
}

impl Exchange {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// rmcp's default OAuth HTTP client, keeping a record of every exchange.
struct Recording {
    inner: Box<dyn OAuthHttpClient>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl OAuthHttpClient for Recording {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        let method = request.request.method().to_string();
        let url = request.request.uri().to_string();
        Box::pin(async move {
            let response = self.inner.execute(request).await?;
            self.log.lock().unwrap().push(Exchange {
                method,
                url,
                status: response.status().as_u16(),
                body: response.body().clone(),
            });
            Ok(response)
        })
    }
}

/// Plays the user's browser for the authorization code grant, as
/// tests/python/mcp_oauth_client.py's `Browser` does: follows `authorization_url` through
/// oidc-provider's development login (signing in as `user`) and consent pages, posting their
/// forms and keeping their cookies, until the redirect to [`REDIRECT_URI`], which it returns.
async fn sign_in(authorization_url: &str, user: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut cookies = BTreeMap::<String, String>::new();
    let mut url = Url::parse(authorization_url).unwrap();
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..12 {
        let mut request = match &form {
            Some(form) => http.post(url.clone()).form(form),
            None => http.get(url.clone()),
        };
        if !cookies.is_empty() {
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(COOKIE, jar.join("; "));
        }
        let r = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        for c in r.headers().get_all(SET_COOKIE) {
            let pair = c.to_str().unwrap_or_default().split(';').next();
            if let Some((name, value)) = pair.and_then(|p| p.split_once('=')) {
                if value.is_empty() {
                    cookies.remove(name.trim());
                } else {
                    cookies.insert(name.trim().to_string(), value.to_string());
                }
            }
        }
        if r.status().is_redirection() {
            let location = r.headers()[LOCATION].to_str().unwrap();
            url = url.join(location).unwrap();
            form = None;
            if url.as_str().starts_with(REDIRECT_URI) {
                return url.to_string();
            }
            continue;
        }
        let status = r.status();
        let page = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{url}: {page:.300}");
        let action = between(&page, "<form", ">")
            .and_then(|tag| between(tag, "action=\"", "\""))
            .unwrap_or_else(|| panic!("no form at {url}: {page:.300}"));
        let prompt = between(&page, "name=\"prompt\" value=\"", "\"")
            .unwrap_or_else(|| panic!("no prompt at {url}: {page:.300}"))
            .to_string();
        url = url.join(action).unwrap();
        let mut fields = vec![("prompt", prompt.clone())];
        if prompt == "login" {
            fields.push(("login", user.to_string()));
            fields.push(("password", "any".to_string()));
        }
        form = Some(fields);
    }
    panic!("no redirect to {REDIRECT_URI} after 12 pages");
}

/// The text of `s` between the first `start` and the next `end`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// A JWT's claims, decoded, not verified (the gateway verified it).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_else(|e| panic!("{jwt}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn rmcp_auth_client_authorization_code_discovered_from_the_401_with_oidc_provider() {
    let Stack {
        resource,
        issuer,
        oidc,
        gw,
        idp,
    } = start_stack().await;
    // The gateway's MCP URL: all the client is told.
    let url = resource.clone();

    // 1. No token: the gateway's 401, its challenge as rmcp hands it back.
    let refused = step(
        "initialize without a token",
        ().serve(StreamableHttpClientTransport::from_uri(url.clone())),
    )
    .await
    .expect_err("an MCP session without a token was let through");
    let challenge = refused
        .auth_challenge()
        .unwrap_or_else(|| panic!("no WWW-Authenticate challenge: {refused}"))
        .to_string();
    let params = WWWAuthenticateParams::parse(&challenge, &Url::parse(&url).unwrap());
    let metadata_url = params
        .resource_metadata_url
        .clone()
        .unwrap_or_else(|| panic!("the 401 names no resource_metadata: {challenge}"));
    assert_eq!(params.scope.as_deref(), Some("mcp:tools"), "{challenge}");

    // 2. rmcp: discovery from the challenge, registration, the authorization URL.
    let log = Arc::new(Mutex::new(Vec::<Exchange>::new()));
    let token_endpoint;
    let recording = Recording {
        inner: Box::new(default_oauth_http_client().unwrap()),
        log: log.clone(),
    };
    let mut oauth = OAuthState::new_with_oauth_http_client(url.as_str(), Arc::new(recording))
        .await
        .unwrap();
    step(
        "discovery and registration",
        oauth.start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name("switchboard-rmcp-test")
                .with_initial_scope_selection()
                .with_challenge(challenge.clone()),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("start_authorization: {e}\noidc: {:?}", oidc.output()));
    {
        let log = log.lock().unwrap();
        let seen: Vec<String> = log
            .iter()
            .map(|e| format!("{} {} -> {}", e.method, e.url, e.status))
            .collect();
        // The RFC 9728 document first, from where the 401 said, naming this resource and
        // the authorization server.
        let prm = &log[0];
        assert_eq!(
            (prm.method.as_str(), prm.url.as_str(), prm.status),
            ("GET", metadata_url.as_str(), 200),
            "{seen:?}"
        );
        let prm = prm.json();
        assert_eq!(prm["resource"], resource.as_str(), "{prm}");
        assert_eq!(
            prm["authorization_servers"][0]
                .as_str()
                .map(|s| s.trim_end_matches('/')),
            Some(issuer.as_str()),
            "{prm}"
        );
        // Then the RFC 8414 metadata of the server the document named.
        let as_metadata = log
            .iter()
            .find(|e| e.url == format!("{issuer}/.well-known/oauth-authorization-server"))
            .filter(|e| e.status == 200)
            .unwrap_or_else(|| panic!("no authorization server metadata read: {seen:?}"))
            .json();
        assert_eq!(as_metadata["issuer"], issuer.as_str());
        token_endpoint = as_metadata["token_endpoint"].as_str().unwrap().to_string();
        // Then dynamic client registration at the endpoint it named.
        let registration = as_metadata["registration_endpoint"].as_str().unwrap();
        assert!(
            log.iter()
                .any(|e| e.method == "POST" && e.url == registration && e.status == 201),
            "no client registered: {seen:?}"
        );
    }
    let authorization_url = oauth.get_authorization_url().await.unwrap();
    let query: BTreeMap<String, String> = Url::parse(&authorization_url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(query.contains_key("code_challenge"), "{query:?}");
    assert_eq!(query.get("resource"), Some(&resource), "{query:?}");
    assert_eq!(
        query.get("redirect_uri").map(String::as_str),
        Some(REDIRECT_URI)
    );
    assert!(
        query
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "mcp:tools")),
        "{query:?}"
    );

    // 3. The user signs in and consents; rmcp exchanges the code.
    let redirect = step("sign in", sign_in(&authorization_url, "alice")).await;
    step("exchange the code", oauth.handle_callback_url(&redirect))
        .await
        .unwrap_or_else(|e| panic!("{redirect}: {e}\noidc: {:?}", oidc.output()));
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|e| e.method == "POST" && e.url == token_endpoint && e.status == 200),
        "the code was not exchanged by rmcp at the token endpoint"
    );
    let manager = oauth
        .into_authorization_manager()
        .expect("authorized after the callback");
    let token = manager.get_access_token().await.unwrap();
    let claims = claims(&token);
    super::assert_token_for(&claims, &resource, &issuer);
    assert_eq!(claims["sub"], "alice", "{claims}");
    super::assert_token_asked(&oidc, "authorization_code", &resource);

    // 4. A session through the gateway with rmcp's AuthClient carrying the token.
    let client = AuthClient::new(reqwest_rmcp::Client::new(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url.clone()),
    );
    let session = step("initialize with the token", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\ngateway:\n{}", gw.stderr()));
    let tools = step("tools/list", session.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}"));
    assert!(tools.iter().any(|t| t.name == "add"), "{tools:?}");
    let result = call_ok(&session, "add", json!({"a": 20, "b": 22})).await;
    assert_eq!(text(&result), "42");
    let _ = step("close", session.cancel()).await;

    // The gateway refused the first attempt for a missing token and saw alice afterwards.
    super::assert_got_the_401(&gw).await;
    gw.stderr_once(|l| l.contains("access: request") && l.contains("subject=\"alice\""))
        .await;
    // The target saw only the gateway's own token, never alice's.
    let seen = lock(&idp).seen.clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|a| a == "Bearer tok-1"),
        "the target saw the client's token: {seen:?}"
    );
}
