//! Credentials the gateway adds to its requests to an upstream: the `backendAuth` policy.
//!
//! A [`BackendAuth`] is built once from its [`BackendAuthConfig`] and shared by every request
//! to that upstream. Each request asks it for a [`Credential`] (a header to set) or, for
//! credentials that sign the request itself (`aws`), has it signed with
//! [`BackendAuth::authorize`] just before sending; when the upstream answers 401, the caller
//! hands the credential back with [`BackendAuth::rejected`], which tells whether asking again
//! may give a different one (a new OAuth2 or Google token) and so whether the request is
//! worth sending once more.
//!
//! The caller's own credential is never forwarded by this crate: MCP forbids token
//! passthrough (a token is for the gateway, not for whatever the gateway calls), so
//! `passthrough` is refused with [`AuthError::Passthrough`] where the caller cannot honour it.

mod aws;
mod cache;
pub mod config;
mod gcp;
mod oauth2;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

pub use config::{
    AwsConfig, BackendAuthConfig, ClientAuth, GcpConfig, GcpTokenType, HeaderKeyConfig, KeyConfig,
    OAuth2Config,
};

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
    /// No Google token could be had from `origin` (a key file, gcloud's credentials or the
    /// metadata server, named with where it was found).
    #[error("gcp credentials from the {origin}: {message}")]
    Google { origin: String, message: String },
    /// The request could not be signed (`aws`).
    #[error("aws SigV4: {message}")]
    Sign { message: String },
}

/// A request about to be sent upstream, as it will leave, for [`BackendAuth::authorize`].
pub struct Outgoing<'a> {
    pub method: &'a Method,
    /// The absolute URL (scheme and authority included).
    pub uri: &'a Uri,
    /// The headers to send; the credential is set in them.
    pub headers: &'a mut HeaderMap,
    /// The body, when it is at hand (`None`: it streams). A signature over the body
    /// ([`BackendAuth::signs_body`]) needs it.
    pub body: Option<&'a [u8]>,
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
    Google(Arc<gcp::Google>),
    Aws(Arc<aws::SigV4>),
}

impl fmt::Debug for BackendAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Static(c) => f.debug_tuple("BackendAuth::Key").field(&c.name).finish(),
            Source::OAuth2(_) => f.write_str("BackendAuth::OAuth2"),
            Source::Google(_) => f.write_str("BackendAuth::Gcp"),
            Source::Aws(_) => f.write_str("BackendAuth::Aws"),
        }
    }
}

impl BackendAuth {
    /// Checks `config` and builds its credential source. `place` says where the policy sits,
    /// for the `passthrough` error ("on an MCP target: …"). `http` makes the client that
    /// sends token requests (so they get the caller's TLS roots and connect timeout); it is
    /// called only for `oauth2` and `gcp`. What `gcp` and `aws` leave out of the config is
    /// read from the process environment (and, for `gcp`, credential files) now.
    pub fn new(
        config: &BackendAuthConfig,
        place: &str,
        http: impl FnOnce() -> Result<reqwest::Client, String>,
    ) -> Result<Self, AuthError> {
        Self::with_env(config, place, http, &|name| std::env::var(name).ok())
    }

    /// [`Self::new`] with the environment given (tests).
    pub(crate) fn with_env(
        config: &BackendAuthConfig,
        place: &str,
        http: impl FnOnce() -> Result<reqwest::Client, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AuthError> {
        let http = || {
            http().map_err(|e| AuthError::Config {
                message: format!("cannot build the client for token requests: {e}"),
            })
        };
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
                Source::OAuth2(Arc::new(oauth2::ClientCredentials::new(
                    o.clone(),
                    http()?,
                )?))
            }
            BackendAuthConfig::Gcp(g) => {
                Source::Google(Arc::new(gcp::Google::new(g, http()?, env)?))
            }
            BackendAuthConfig::Aws(a) => Source::Aws(Arc::new(aws::SigV4::new(a, env)?)),
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
            Source::OAuth2(_) | Source::Google(_) | Source::Aws(_) => http::header::AUTHORIZATION,
        }
    }

    /// Whether the credential depends on the request (an `aws` signature covers its method,
    /// URL, headers and body): then [`Self::authorize`] must be called with the request as
    /// it leaves, per attempt, and [`Self::credential`] cannot be used.
    pub fn signs_requests(&self) -> bool {
        matches!(self.source, Source::Aws(_))
    }

    /// Whether [`Self::authorize`] needs the request body at hand (an `aws` signature over
    /// the body's hash; not with `unsignedPayload`), so a caller must buffer it.
    pub fn signs_body(&self) -> bool {
        match &self.source {
            Source::Aws(signer) => signer.signs_body(),
            _ => false,
        }
    }

    /// The header to set on a request now (a token may be fetched first). Not for
    /// credentials that sign requests ([`Self::signs_requests`]): use [`Self::authorize`].
    pub async fn credential(&self) -> Result<Credential, AuthError> {
        let token = match &self.source {
            Source::Static(c) => return Ok(c.clone()),
            Source::OAuth2(source) => source.token().await?,
            Source::Google(source) => source.token().await?,
            Source::Aws(_) => {
                return Err(AuthError::Sign {
                    message: "a signature is made per request (BackendAuth::authorize)".into(),
                })
            }
        };
        Ok(Credential {
            name: http::header::AUTHORIZATION,
            value: token.value.clone(),
            generation: token.generation,
        })
    }

    /// Sets the credential on `request`: signs it (`aws`, as of now), or sets the header of
    /// [`Self::credential`]. Returns the credential set, for [`Self::rejected`].
    pub async fn authorize(&self, request: Outgoing<'_>) -> Result<Credential, AuthError> {
        let Source::Aws(signer) = &self.source else {
            let credential = self.credential().await?;
            credential.set(request.headers);
            return Ok(credential);
        };
        let value = signer.sign(request, SystemTime::now())?;
        Ok(Credential {
            name: http::header::AUTHORIZATION,
            value,
            generation: 0,
        })
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
            Source::Google(source) => {
                source.rejected(used.generation);
                true
            }
            // A signature made with the same keys would be refused the same way.
            Source::Aws(_) => false,
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
    let credential = authorize_reqwest(auth, &mut request).await?;
    let response = client.execute(request).await;
    match (response, again) {
        (Ok(r), Some(mut again))
            if r.status() == http::StatusCode::UNAUTHORIZED && auth.rejected(&credential) =>
        {
            authorize_reqwest(auth, &mut again).await?;
            Ok(client.execute(again).await)
        }
        (response, _) => Ok(response),
    }
}

/// [`BackendAuth::authorize`] for a reqwest request (whose body, unless it streams, is at
/// hand).
async fn authorize_reqwest(
    auth: &BackendAuth,
    request: &mut reqwest::Request,
) -> Result<Credential, AuthError> {
    let uri = Uri::try_from(request.url().as_str()).map_err(|e| AuthError::Sign {
        message: format!("the URL {} cannot be signed: {e}", request.url()),
    })?;
    let method = request.method().clone();
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(bytes::Bytes::copy_from_slice);
    let body = match (&body, request.body().is_some()) {
        (Some(b), _) => Some(&b[..]),
        (None, true) => None,
        (None, false) => Some(&[][..]),
    };
    auth.authorize(Outgoing {
        method: &method,
        uri: &uri,
        headers: request.headers_mut(),
        body,
    })
    .await
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
mod aws_tests;
#[cfg(test)]
mod gcp_tests;
#[cfg(test)]
mod tests;
