//! OAuth 2.0 client credentials (RFC 6749 §4.4): one token per configured client, fetched on
//! first use, shared by every request, and fetched again shortly before it expires or as soon
//! as an upstream refuses it.

use netkit::error_chain;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::HeaderValue;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{ClientAuth, OAuth2Config};
use crate::AuthError;

/// Longest wait for the token endpoint.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime assumed when the server does not say (`expires_in` is only RECOMMENDED).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime believed: a token is fetched again at least daily, and an absurd
/// `expires_in` cannot overflow the clock.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A token is replaced this long before it expires (at most; a fifth of short lifetimes), so
/// a request never leaves with one that expires on the way.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// At most this much of an error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 300;

/// A token in use.
#[derive(Debug)]
pub(crate) struct Token {
    /// `Bearer <access_token>`.
    pub(crate) value: HeaderValue,
    /// Counts fetches, so a 401 for an old token does not throw away a newer one.
    pub(crate) generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The token source of one `oauth2` config.
pub(crate) struct ClientCredentials {
    config: OAuth2Config,
    token_url: url::Url,
    http: reqwest::Client,
    current: RwLock<Option<Arc<Token>>>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each
    /// sending their own.
    fetching: Mutex<Fetches>,
}

/// What the fetches so far left behind, for the requests that waited on one.
#[derive(Default)]
struct Fetches {
    /// The generation of the last token fetched.
    generation: u64,
    /// When the last fetch failed, and why.
    failed: Option<(Instant, AuthError)>,
}

impl ClientCredentials {
    pub(crate) fn new(config: OAuth2Config, http: reqwest::Client) -> Result<Self, AuthError> {
        let token_url = url::Url::parse(&config.token_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| AuthError::Config {
                message: format!(
                    "oauth2.tokenUrl {:?} is not an http or https URL",
                    config.token_url
                ),
            })?;
        Ok(Self {
            config,
            token_url,
            http,
            current: RwLock::new(None),
            fetching: Mutex::default(),
        })
    }

    fn cached(&self) -> Option<Arc<Token>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A token to send now: the cached one while it is fresh, else a new one. When the token
    /// endpoint fails, a token that has not expired yet is still used; requests that waited
    /// for that failed fetch share its error rather than each asking again (an endpoint that
    /// hangs would otherwise hold the n-th of them for n times its timeout).
    pub(crate) async fn token(&self) -> Result<Arc<Token>, AuthError> {
        if let Some(t) = self.cached().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t);
        }
        let arrived = Instant::now();
        let mut fetches = self.fetching.lock().await;
        // Another request may have fetched one while this one waited.
        let cached = self.cached();
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.clone());
        }
        let usable = |t: &Arc<Token>| Instant::now() < t.expires_at;
        if let Some((_, e)) = fetches.failed.as_ref().filter(|(at, _)| *at >= arrived) {
            return cached.filter(usable).ok_or_else(|| e.clone());
        }
        match self.fetch(fetches.generation + 1).await {
            Ok(token) => {
                fetches.generation = token.generation;
                fetches.failed = None;
                let token = Arc::new(token);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                Ok(token)
            }
            Err(e) => {
                fetches.failed = Some((Instant::now(), e.clone()));
                match cached.filter(usable) {
                    Some(still_valid) => {
                        tracing::warn!(token_url = %self.token_url, error = %e, "OAuth2 token refresh failed; using the current token until it expires");
                        Ok(still_valid)
                    }
                    None => {
                        tracing::warn!(token_url = %self.token_url, error = %e, "OAuth2 token request failed");
                        Err(e)
                    }
                }
            }
        }
    }

    /// An upstream answered 401 to `generation`'s token: forget it (unless a newer one
    /// replaced it already), so the next request fetches another.
    pub(crate) fn rejected(&self, generation: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|t| t.generation == generation) {
            tracing::info!(token_url = %self.token_url, "upstream refused the OAuth2 token; fetching a new one");
            *current = None;
        }
    }

    async fn fetch(&self, generation: u64) -> Result<Token, AuthError> {
        let c = &self.config;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = c.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(audience) = &c.audience {
            form.push(("audience", audience));
        }
        if let Some(resource) = &c.resource {
            form.push(("resource", resource));
        }
        let mut request = self
            .http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .timeout(TOKEN_REQUEST_TIMEOUT);
        match c.client_auth {
            ClientAuth::Basic => request = request.header(AUTHORIZATION, basic(c)),
            ClientAuth::Post => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", &c.client_secret));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let request = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let sent_at = Instant::now();
        let failed = |message: String| AuthError::Token {
            token_url: self.token_url.to_string(),
            message,
        };
        let response = request
            .send()
            .await
            .map_err(|e| failed(format!("request failed: {}", error_chain(&e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(format!("reading the answer failed: {}", error_chain(&e))))?;
        if !status.is_success() {
            return Err(failed(format!(
                "answered {status}: {}",
                oauth_error(&bytes)
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| failed(format!("the answer is not a token response: {e}")))?;
        if let Some(kind) = answer.token_type.as_deref() {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(failed(format!(
                    "token_type {kind:?} is not supported (only Bearer)"
                )));
            }
        }
        let mut value = HeaderValue::try_from(format!("Bearer {}", answer.access_token))
            .map_err(|_| failed("access_token is not a valid header value".into()))?;
        value.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs)
            .min(MAX_LIFETIME);
        let margin = MAX_REFRESH_MARGIN.min(lifetime / 5);
        tracing::debug!(token_url = %self.token_url, lifetime_s = lifetime.as_secs(), "fetched an OAuth2 token");
        Ok(Token {
            value,
            generation,
            refresh_at: sent_at + lifetime - margin,
            expires_at: sent_at + lifetime,
        })
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 says.
fn basic(c: &OAuth2Config) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(&c.client_id), encode(&c.client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `error` and `error_description` of an OAuth error answer (RFC 6749 §5.2), else the start
/// of the body.
fn oauth_error(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError {
            error,
            error_description: Some(d),
        }) => format!("{error} ({d})"),
        Ok(OAuthError { error, .. }) => error,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let mut end = text.len().min(MAX_QUOTED_BODY);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{:?}", &text[..end])
        }
    }
}
