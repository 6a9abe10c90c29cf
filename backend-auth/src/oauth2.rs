//! OAuth 2.0 client credentials (RFC 6749 §4.4): one token per configured client, fetched on
//! first use, shared by every request, and fetched again shortly before it expires or as soon
//! as an upstream refuses it.

use netkit::error_chain;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::time::Instant;

use crate::cache::{bearer, Fetched, Token, TokenCache};
use crate::config::{ClientAuth, OAuth2Config};
use crate::AuthError;

/// Longest wait for the token endpoint.
pub(crate) const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 300;

/// The token source of one `oauth2` config.
pub(crate) struct ClientCredentials {
    config: OAuth2Config,
    token_url: url::Url,
    http: reqwest::Client,
    cache: TokenCache,
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
            cache: TokenCache::new(format!("OAuth2 token endpoint {token_url}")),
            config,
            token_url,
            http,
        })
    }

    /// A token to send now (see [`TokenCache::token`]).
    pub(crate) async fn token(&self) -> Result<Arc<Token>, AuthError> {
        self.cache.token(|| self.fetch()).await
    }

    /// An upstream answered 401 to `generation`'s token.
    pub(crate) fn rejected(&self, generation: u64) {
        self.cache.rejected(generation);
    }

    async fn fetch(&self) -> Result<Fetched, AuthError> {
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
        let value = bearer(&answer.access_token)
            .ok_or_else(|| failed("access_token is not a valid header value".into()))?;
        tracing::debug!(token_url = %self.token_url, expires_in = ?answer.expires_in, "fetched an OAuth2 token");
        Ok(Fetched {
            value,
            lifetime: answer.expires_in.map(Duration::from_secs),
            sent_at,
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
pub(crate) fn oauth_error(body: &[u8]) -> String {
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
