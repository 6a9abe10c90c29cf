//! Google credentials (`backendAuth.gcp`): an OAuth2 access token or an OpenID Connect ID
//! token, from the first source found in Application Default Credentials order, cached and
//! refreshed like `oauth2`'s tokens (see [`crate::cache`]).
//!
//! - a service account key (`credentialsFile`, else `GOOGLE_APPLICATION_CREDENTIALS`): a JWT
//!   signed with the key (RS256) is exchanged at the key's `token_uri` with the JWT-bearer
//!   grant (RFC 7523), for an access token (`scope` claim) or an ID token
//!   (`target_audience` claim);
//! - gcloud's user credentials (`authorized_user`, in the well-known file that
//!   `gcloud auth application-default login` writes): a refresh-token grant, access tokens
//!   only;
//! - the metadata server of a Google Cloud machine (`GCE_METADATA_HOST` overrides its
//!   address, as in Google's libraries), with `Metadata-Flavor: Google`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::header::{ACCEPT, CONTENT_TYPE};
use netkit::error_chain;
use tokio::time::Instant;

use crate::cache::{bearer, Fetched, Token, TokenCache};
use crate::config::{GcpConfig, GcpTokenType};
use crate::oauth2::{oauth_error, TOKEN_REQUEST_TIMEOUT};
use crate::AuthError;

/// The scope of access tokens when none is configured.
pub(crate) const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for credential files that do not name one.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The metadata server's name on Google Cloud.
const METADATA_HOST: &str = "metadata.google.internal";
/// The JWT-bearer grant (RFC 7523 §2.1).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of the signed assertion (Google accepts at most an hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest wait for the metadata server (it answers in milliseconds where it exists).
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The token source of one `gcp` config.
pub(crate) struct Google {
    source: Source,
    want: Want,
    http: reqwest::Client,
    cache: TokenCache,
}

/// The token asked for.
enum Want {
    /// An access token with these scopes.
    Access(Vec<String>),
    /// An ID token for this audience.
    Id(String),
}

/// Where the tokens come from.
enum Source {
    ServiceAccount {
        /// The key file, for error messages.
        file: PathBuf,
        client_email: String,
        key_id: Option<String>,
        key: jsonwebtoken::EncodingKey,
        token_uri: url::Url,
    },
    AuthorizedUser {
        file: PathBuf,
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: url::Url,
    },
    Metadata {
        /// `http://<host>/computeMetadata/v1/instance/service-accounts/default/`.
        base: url::Url,
    },
}

/// The fields of a credentials file that are used (`type` says which apply).
#[derive(serde::Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

impl Google {
    /// Checks `config` and finds its credentials, reading what it leaves out from `env`
    /// (the process environment, or a test's). Files are read now, so that a missing or
    /// broken one fails the config load; the metadata server is asked only when a token is
    /// needed.
    pub(crate) fn new(
        config: &GcpConfig,
        http: reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AuthError> {
        let GcpConfig {
            kind,
            audience,
            credentials_file,
            scopes,
        } = config;
        let bad = |message: String| AuthError::Config { message };
        let want = match (kind, audience) {
            (GcpTokenType::AccessToken, Some(_)) => {
                return Err(bad(
                    "gcp.audience is for ID tokens: set gcp.type: idToken, or remove it".into(),
                ))
            }
            (GcpTokenType::AccessToken, None) if scopes.iter().any(|s| s.trim().is_empty()) => {
                return Err(bad("gcp.scopes has an empty scope".into()))
            }
            (GcpTokenType::AccessToken, None) if scopes.is_empty() => {
                Want::Access(vec![DEFAULT_SCOPE.to_owned()])
            }
            (GcpTokenType::AccessToken, None) => Want::Access(scopes.clone()),
            (GcpTokenType::IdToken, _) if !scopes.is_empty() => {
                return Err(bad(
                    "gcp.scopes is for access tokens; an ID token has an audience instead".into(),
                ))
            }
            (GcpTokenType::IdToken, Some(a)) if !a.trim().is_empty() => Want::Id(a.clone()),
            (GcpTokenType::IdToken, _) => {
                return Err(bad(
                    "gcp.type idToken needs gcp.audience (the service's URL, usually)".into(),
                ))
            }
        };
        let source = find_source(credentials_file.as_deref(), env)?;
        if let (Source::AuthorizedUser { file, .. }, Want::Id(_)) = (&source, &want) {
            return Err(bad(format!(
                "gcp.type idToken: the gcloud user credentials in {} cannot make ID tokens \
                 for an audience; set gcp.credentialsFile (or GOOGLE_APPLICATION_CREDENTIALS) \
                 to a service account key, or run on Google Cloud",
                file.display()
            )));
        }
        let what = format!("gcp {}", source.describe());
        Ok(Self {
            source,
            want,
            http,
            cache: TokenCache::new(what),
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
        let sent_at = Instant::now();
        let failed = |message: String| AuthError::Google {
            origin: self.source.describe(),
            message,
        };
        let (token, lifetime) = match &self.source {
            Source::ServiceAccount {
                client_email,
                key_id,
                key,
                token_uri,
                ..
            } => {
                let assertion = self.assertion(client_email, key_id, key, token_uri)?;
                let form = [("grant_type", JWT_BEARER), ("assertion", &assertion)];
                let answer = self.post_form(token_uri, &form, &failed).await?;
                self.token_of(answer, &failed)?
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("refresh_token", refresh_token),
                ];
                let answer = self.post_form(token_uri, &form, &failed).await?;
                self.token_of(answer, &failed)?
            }
            Source::Metadata { base } => self.ask_metadata(base, &failed).await?,
        };
        let value =
            bearer(&token).ok_or_else(|| failed("the token is not a header value".into()))?;
        tracing::debug!(source = %self.source.describe(), lifetime = ?lifetime, "fetched a Google token");
        Ok(Fetched {
            value,
            lifetime,
            sent_at,
        })
    }

    /// The JWT-bearer assertion of a service account: RS256 with its key.
    fn assertion(
        &self,
        client_email: &str,
        key_id: &Option<String>,
        key: &jsonwebtoken::EncodingKey,
        token_uri: &url::Url,
    ) -> Result<String, AuthError> {
        let now = unix_now();
        let mut claims = serde_json::json!({
            "iss": client_email,
            "aud": token_uri.as_str(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
        });
        match &self.want {
            Want::Access(scopes) => claims["scope"] = scopes.join(" ").into(),
            Want::Id(audience) => claims["target_audience"] = audience.as_str().into(),
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = key_id.clone();
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| AuthError::Google {
            origin: self.source.describe(),
            message: format!("cannot sign the token request with the private_key: {e}"),
        })
    }

    async fn post_form(
        &self,
        token_uri: &url::Url,
        form: &[(&str, &str)],
        failed: &(dyn Fn(String) -> AuthError + Sync),
    ) -> Result<TokenAnswer, AuthError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(token_uri.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|e| failed(format!("{token_uri} failed: {}", error_chain(&e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(format!("reading {token_uri}'s answer: {}", error_chain(&e))))?;
        if !status.is_success() {
            return Err(failed(format!(
                "{token_uri} answered {status}: {}",
                oauth_error(&bytes)
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| failed(format!("{token_uri}'s answer is not a token response: {e}")))
    }

    /// The token asked for out of a token endpoint's answer, with its lifetime.
    fn token_of(
        &self,
        answer: TokenAnswer,
        failed: &(dyn Fn(String) -> AuthError + Sync),
    ) -> Result<(String, Option<Duration>), AuthError> {
        match &self.want {
            Want::Access(_) => answer
                .access_token
                .map(|t| (t, answer.expires_in.map(Duration::from_secs)))
                .ok_or_else(|| failed("the answer has no access_token".into())),
            Want::Id(_) => {
                let token = answer
                    .id_token
                    .ok_or_else(|| failed("the answer has no id_token".into()))?;
                let lifetime = id_token_lifetime(&token);
                Ok((token, lifetime))
            }
        }
    }

    async fn ask_metadata(
        &self,
        base: &url::Url,
        failed: &(dyn Fn(String) -> AuthError + Sync),
    ) -> Result<(String, Option<Duration>), AuthError> {
        let mut url = base.clone();
        match &self.want {
            Want::Access(scopes) => {
                url.set_path(&format!("{}token", base.path()));
                url.query_pairs_mut()
                    .append_pair("scopes", &scopes.join(","));
            }
            Want::Id(audience) => {
                url.set_path(&format!("{}identity", base.path()));
                url.query_pairs_mut()
                    .append_pair("audience", audience)
                    .append_pair("format", "full");
            }
        }
        let unreachable = |e: reqwest::Error| {
            failed(format!(
                "{url} failed: {}. No credentialsFile, GOOGLE_APPLICATION_CREDENTIALS or gcloud \
                 application default credentials were found, so the metadata server of a \
                 Google Cloud machine was asked: set one of them when the gateway runs \
                 elsewhere",
                error_chain(&e)
            ))
        };
        let response = self
            .http
            .get(url.clone())
            .header("metadata-flavor", "Google")
            .timeout(METADATA_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(300).collect();
            return Err(failed(format!("{url} answered {status}: {text:?}")));
        }
        match &self.want {
            Want::Access(_) => {
                let answer: TokenAnswer = serde_json::from_slice(&bytes)
                    .map_err(|e| failed(format!("{url}'s answer is not a token response: {e}")))?;
                self.token_of(answer, failed)
            }
            Want::Id(_) => {
                let token = String::from_utf8_lossy(&bytes).trim().to_owned();
                if token.is_empty() {
                    return Err(failed(format!("{url} answered an empty ID token")));
                }
                let lifetime = id_token_lifetime(&token);
                Ok((token, lifetime))
            }
        }
    }
}

impl Source {
    /// Names the source in errors and logs (never a secret).
    fn describe(&self) -> String {
        match self {
            Self::ServiceAccount {
                file, client_email, ..
            } => format!("service account {client_email} (key {})", file.display()),
            Self::AuthorizedUser { file, .. } => {
                format!("gcloud user credentials ({})", file.display())
            }
            Self::Metadata { base } => format!(
                "metadata server {}",
                base.host_str().unwrap_or(METADATA_HOST)
            ),
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The first credentials in Application Default Credentials order.
fn find_source(
    credentials_file: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, AuthError> {
    if let Some(file) = credentials_file {
        return read_file(Path::new(file), "gcp.credentialsFile");
    }
    if let Some(file) = env("GOOGLE_APPLICATION_CREDENTIALS").filter(|f| !f.is_empty()) {
        return read_file(Path::new(&file), "GOOGLE_APPLICATION_CREDENTIALS");
    }
    let gcloud_dir = env("CLOUDSDK_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".config").join("gcloud"))
        });
    if let Some(dir) = gcloud_dir {
        let well_known = dir.join("application_default_credentials.json");
        if well_known.is_file() {
            return read_file(&well_known, "gcloud's application default credentials");
        }
    }
    let host = env("GCE_METADATA_HOST")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| METADATA_HOST.to_owned());
    let base = url::Url::parse(&format!(
        "http://{host}/computeMetadata/v1/instance/service-accounts/default/"
    ))
    .map_err(|e| AuthError::Config {
        message: format!("GCE_METADATA_HOST {host:?} is not a host[:port]: {e}"),
    })?;
    Ok(Source::Metadata { base })
}

/// Reads a credentials file; `named_by` says where its name came from.
fn read_file(file: &Path, named_by: &str) -> Result<Source, AuthError> {
    let bad = |what: String| AuthError::Config {
        message: format!("gcp: {} (from {named_by}) {what}", file.display()),
    };
    let text = std::fs::read(file).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let creds: CredentialsFile = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("is not a Google credentials file: {e}")))?;
    let missing = |field: &str| bad(format!("has no {field}"));
    let token_uri = |uri: Option<String>| {
        let uri = uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
        url::Url::parse(&uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                bad(format!(
                    "has a token_uri {uri:?} that is not an http(s) URL"
                ))
            })
    };
    match creds.kind.as_str() {
        "service_account" => {
            let pem = creds.private_key.ok_or_else(|| missing("private_key"))?;
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| bad(format!("has a private_key that is not an RSA key: {e}")))?;
            Ok(Source::ServiceAccount {
                file: file.to_owned(),
                client_email: creds.client_email.ok_or_else(|| missing("client_email"))?,
                key_id: creds.private_key_id,
                key,
                token_uri: token_uri(creds.token_uri)?,
            })
        }
        "authorized_user" => Ok(Source::AuthorizedUser {
            file: file.to_owned(),
            client_id: creds.client_id.ok_or_else(|| missing("client_id"))?,
            client_secret: creds
                .client_secret
                .ok_or_else(|| missing("client_secret"))?,
            refresh_token: creds
                .refresh_token
                .ok_or_else(|| missing("refresh_token"))?,
            token_uri: token_uri(creds.token_uri)?,
        }),
        other => Err(bad(format!(
            "has type {other:?}, which is not supported yet (service_account and \
             authorized_user are)"
        ))),
    }
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long an ID token is valid, from its `exp` claim (read, not verified: the gateway
/// only needs to know when to fetch another; the upstream verifies it).
fn id_token_lifetime(token: &str) -> Option<Duration> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let Exp { exp } = serde_json::from_slice(&json).ok()?;
    Some(Duration::from_secs(exp.saturating_sub(unix_now())))
}
