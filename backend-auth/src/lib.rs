//! Credentials the gateway adds to its requests to an upstream: the `backendAuth` policy.
//!
//! A [`BackendAuth`] is built once from its [`BackendAuthConfig`] and shared by every request
//! to that upstream. Each request asks it for a [`Credential`] (a header to set); when the
//! upstream answers 401, the caller hands the credential back with
//! [`BackendAuth::rejected`], which tells whether asking again may give a different one
//! (a new OAuth2 token) and so whether the request is worth sending once more.
//!
//! The caller's own credential is never forwarded by this crate: MCP forbids token
//! passthrough (a token is for the gateway, not for whatever the gateway calls), so
//! `passthrough` is refused with [`AuthError::Passthrough`] where the caller cannot honour it.

pub mod config;
mod oauth2;

use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

pub use config::{BackendAuthConfig, ClientAuth, HeaderKeyConfig, KeyConfig, OAuth2Config};

/// Why a credential could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The config cannot work (found when building, before any request).
    #[error("backendAuth: {message}")]
    Config { message: String },
    /// `passthrough` where it is not supported.
    #[error("backendAuth.passthrough is not supported {place}")]
    Passthrough { place: String },
    /// The token endpoint did not give a token.
    #[error("OAuth2 client credentials: the token endpoint {token_url} {message}")]
    Token { token_url: String, message: String },
}

/// A header to set on one request.
#[derive(Clone)]
pub struct Credential {
    pub name: HeaderName,
    pub value: HeaderValue,
    /// Which OAuth2 token this is (0 for static keys).
    generation: u64,
}

impl fmt::Debug for Credential {
    /// The value is a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The credentials of one upstream, ready to use.
#[derive(Clone)]
pub struct BackendAuth {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Static(Credential),
    OAuth2(Arc<oauth2::ClientCredentials>),
}

impl fmt::Debug for BackendAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Static(c) => f.debug_tuple("BackendAuth::Key").field(&c.name).finish(),
            Source::OAuth2(_) => f.write_str("BackendAuth::OAuth2"),
        }
    }
}

impl BackendAuth {
    /// Checks `config` and builds its credential source. `place` says where the policy sits,
    /// for the `passthrough` error ("on an MCP target: …"). `http` makes the client that
    /// sends OAuth2 token requests (so they get the caller's TLS roots and connect timeout);
    /// it is called only for `oauth2`.
    pub fn new(
        config: &BackendAuthConfig,
        place: &str,
        http: impl FnOnce() -> Result<reqwest::Client, String>,
    ) -> Result<Self, AuthError> {
        let source = match config {
            BackendAuthConfig::Key(key) => Source::Static(static_credential(key)?),
            BackendAuthConfig::OAuth2(o) => {
                for (field, value) in [("clientId", &o.client_id), ("tokenUrl", &o.token_url)] {
                    if value.trim().is_empty() {
                        return Err(AuthError::Config {
                            message: format!("oauth2.{field} is empty"),
                        });
                    }
                }
                let http = http().map_err(|e| AuthError::Config {
                    message: format!("cannot build the client for token requests: {e}"),
                })?;
                Source::OAuth2(Arc::new(oauth2::ClientCredentials::new(o.clone(), http)?))
            }
            BackendAuthConfig::Passthrough(_) => {
                return Err(AuthError::Passthrough {
                    place: place.to_owned(),
                })
            }
        };
        Ok(Self { source })
    }

    /// The header this policy sets (so a caller can refuse a second value for it).
    pub fn header_name(&self) -> HeaderName {
        match &self.source {
            Source::Static(c) => c.name.clone(),
            Source::OAuth2(_) => http::header::AUTHORIZATION,
        }
    }

    /// The header to set on a request now (an OAuth2 token may be fetched first).
    pub async fn credential(&self) -> Result<Credential, AuthError> {
        match &self.source {
            Source::Static(c) => Ok(c.clone()),
            Source::OAuth2(source) => {
                let token = source.token().await?;
                Ok(Credential {
                    name: http::header::AUTHORIZATION,
                    value: token.value.clone(),
                    generation: token.generation,
                })
            }
        }
    }

    /// The upstream answered 401 to a request that carried `used`. Returns whether
    /// [`Self::credential`] will now give another one, so that sending the request again
    /// may succeed (an OAuth2 token, not a static key).
    pub fn rejected(&self, used: &Credential) -> bool {
        match &self.source {
            Source::Static(_) => false,
            Source::OAuth2(source) => {
                source.rejected(used.generation);
                true
            }
        }
    }
}

/// Sends `request` with `auth`'s credential, if any (replacing a header of the same name);
/// an OAuth2 token the upstream answers 401 to is replaced and the request sent once more
/// (unless its body is a stream, which cannot be sent twice). The outer error is a
/// credential that could not be had: the request was not sent.
pub async fn send(
    auth: Option<&BackendAuth>,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Result<reqwest::Response>, AuthError> {
    let (client, request) = request.build_split();
    let mut request = match request {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let Some(auth) = auth else {
        return Ok(client.execute(request).await);
    };
    let again = request.try_clone();
    let credential = auth.credential().await?;
    credential.set(request.headers_mut());
    let response = client.execute(request).await;
    match (response, again) {
        (Ok(r), Some(mut again))
            if r.status() == http::StatusCode::UNAUTHORIZED && auth.rejected(&credential) =>
        {
            auth.credential().await?.set(again.headers_mut());
            Ok(client.execute(again).await)
        }
        (response, _) => Ok(response),
    }
}

impl Credential {
    /// Sets this credential in `headers`, replacing any value the header had.
    pub fn set(&self, headers: &mut http::HeaderMap) {
        headers.insert(self.name.clone(), self.value.clone());
    }
}

fn static_credential(key: &KeyConfig) -> Result<Credential, AuthError> {
    let value = match key {
        KeyConfig::Bearer(token) => format!("Bearer {token}"),
        KeyConfig::Header(h) => h.value.clone(),
    };
    let name =
        HeaderName::from_bytes(key.header_name().as_bytes()).map_err(|_| AuthError::Config {
            message: format!(
                "key.header {:?} is not a valid header name",
                key.header_name()
            ),
        })?;
    let mut value = HeaderValue::try_from(value).map_err(|_| AuthError::Config {
        message: "key.value is not a valid header value (control characters or newlines)".into(),
    })?;
    value.set_sensitive(true);
    Ok(Credential {
        name,
        value,
        generation: 0,
    })
}

#[cfg(test)]
mod tests;
