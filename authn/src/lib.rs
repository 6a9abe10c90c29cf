//! Caller authentication for Switchboard routes.
//!
//! Three policies, each turning a request's credential into one [`Identity`] that every later
//! phase reads (rules, rate limits, the MCP layer, A2A task ownership, the access log):
//!
//! - [`jwt`]: bearer JWTs from one or several issuers, verified against JWKS keys (a file, or
//!   a URL cached, refreshed on a schedule and refetched once on an unknown `kid`). Only
//!   asymmetric algorithms: `alg: none` and HMAC are refused, since an HMAC "signed" with a
//!   public key is the classic confusion attack.
//! - [`apikey`]: keys from the config, kept only as SHA-256 hashes and compared in constant time.
//! - [`basic`]: an htpasswd file (bcrypt, apr1, `{SHA}`).
//! - [`mcp`]: `mcpAuthentication`, MCP authorization discovery: a JWT whose audience is the
//!   route's resource URL, with RFC 9728 metadata and discovery challenges.
//!
//! The crate knows HTTP headers and nothing else of the gateway: the gateway asks an
//! [`Authenticator`] for a [`Verdict`] and turns a rejection into its `401`.

pub mod apikey;
mod apr1;
pub mod basic;
pub mod config;
mod failure;
pub mod htpasswd;
mod identity;
pub mod jwt;
pub mod mcp;

use std::path::Path;

use http::{HeaderMap, HeaderName};

pub use config::{ApiKeyAuthConfig, BasicAuthConfig, JwtAuthConfig, McpAuthenticationConfig, Mode};
pub use failure::{Failure, Reason};
pub use identity::{ApiKeyIdentity, BasicIdentity, Identity, JwtIdentity, Method};

/// Why a policy could not be built from its config: the key path under the policy
/// (`providers[1].jwks.file`, empty for the policy itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// Key path relative to the policy block, e.g. `jwks.file`; empty for the block itself.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl BuildError {
    pub(crate) fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        BuildError {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// What an authentication policy decided about a request.
#[derive(Debug)]
pub enum Verdict {
    /// A valid credential: the caller.
    Authenticated(Identity),
    /// No identity, and the request goes on: no credential in `optional` or `permissive`
    /// mode, or (in `permissive` mode only) an invalid one, whose failure is kept for the log.
    Anonymous(Option<Failure>),
    /// The request is refused with the failure's status and challenge.
    Rejected(Failure),
}

/// One route's authentication policy, built once per config load.
#[derive(Debug)]
pub enum Authenticator {
    /// `jwtAuth`.
    Jwt(jwt::JwtAuth),
    /// `apiKeyAuth`.
    ApiKey(apikey::ApiKeyAuth),
    /// `basicAuth`.
    Basic(basic::BasicAuth),
    /// `mcpAuthentication`.
    Mcp(mcp::McpAuth),
}

impl Authenticator {
    /// Builds `jwtAuth`; relative JWKS file paths are relative to `base_dir`.
    pub fn jwt(config: &JwtAuthConfig, base_dir: &Path) -> Result<Self, BuildError> {
        jwt::JwtAuth::build(config, base_dir).map(Authenticator::Jwt)
    }

    /// Builds `apiKeyAuth`.
    pub fn api_key(config: &ApiKeyAuthConfig) -> Result<Self, BuildError> {
        apikey::ApiKeyAuth::build(config).map(Authenticator::ApiKey)
    }

    /// Builds `basicAuth`; a relative htpasswd path is relative to `base_dir`.
    pub fn basic(config: &BasicAuthConfig, base_dir: &Path) -> Result<Self, BuildError> {
        basic::BasicAuth::build(config, base_dir).map(Authenticator::Basic)
    }

    /// Builds `mcpAuthentication`; a relative JWKS file path is relative to `base_dir`.
    pub fn mcp(config: &McpAuthenticationConfig, base_dir: &Path) -> Result<Self, BuildError> {
        mcp::McpAuth::build(config, base_dir).map(Authenticator::Mcp)
    }

    /// The method's name as metrics and logs label it: `jwt`, `apiKey`, `basic` or `mcp`.
    pub fn method(&self) -> &'static str {
        match self {
            Authenticator::Jwt(_) => "jwt",
            Authenticator::ApiKey(_) => "apiKey",
            Authenticator::Basic(_) => "basic",
            Authenticator::Mcp(_) => "mcp",
        }
    }

    /// The RFC 9728 metadata the gateway serves for this policy (`mcpAuthentication` only).
    pub fn protected_resource(&self) -> Option<&mcp::ProtectedResource> {
        match self {
            Authenticator::Mcp(a) => Some(a.metadata()),
            Authenticator::Jwt(_) | Authenticator::ApiKey(_) | Authenticator::Basic(_) => None,
        }
    }

    /// Decides about a request from its headers. Credentials are read from headers only,
    /// never from the query string.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Verdict {
        match self {
            Authenticator::Jwt(a) => a.authenticate(headers).await,
            Authenticator::ApiKey(a) => a.authenticate(headers),
            Authenticator::Basic(a) => a.authenticate(headers).await,
            Authenticator::Mcp(a) => a.authenticate(headers).await,
        }
    }

    /// The headers that carry this policy's credential, removed before the request goes
    /// upstream (unless the route passes the caller's credential on).
    pub fn credential_headers(&self) -> Vec<HeaderName> {
        match self {
            Authenticator::Jwt(_) | Authenticator::Basic(_) | Authenticator::Mcp(_) => {
                vec![http::header::AUTHORIZATION]
            }
            Authenticator::ApiKey(a) => a.credential_headers(),
        }
    }

    /// Starts background work (the first JWKS fetch and its refresh schedule) on the current
    /// tokio runtime. Idempotent; without it keys are fetched on first use.
    pub fn start(self: &std::sync::Arc<Self>) {
        match &**self {
            Authenticator::Jwt(a) => a.start(),
            Authenticator::Mcp(a) => a.start(),
            Authenticator::ApiKey(_) | Authenticator::Basic(_) => {}
        }
    }
}

/// The value of `Authorization: <scheme> <rest>` when its scheme is `scheme`
/// (case-insensitive), trimmed.
pub(crate) fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (s, rest) = value.trim_start().split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Applies `mode` to a failure: only `permissive` lets an invalid credential through.
pub(crate) fn invalid(mode: Mode, failure: Failure) -> Verdict {
    match mode {
        Mode::Permissive => Verdict::Anonymous(Some(failure)),
        Mode::Strict | Mode::Optional => Verdict::Rejected(failure),
    }
}

/// Applies `mode` to a request without a credential.
pub(crate) fn missing(mode: Mode, failure: Failure) -> Verdict {
    match mode {
        Mode::Strict => Verdict::Rejected(failure),
        Mode::Optional | Mode::Permissive => Verdict::Anonymous(None),
    }
}
