//! `jwtAuth`: bearer JWTs verified against the issuers' JWKS keys by `jsonwebtoken` (its
//! pure-Rust backend).
//!
//! A token is accepted only when all of these hold: it is in `Authorization: Bearer` (never
//! the query string); its `alg` is asymmetric (`none` and HMAC are refused before any key is
//! looked at, so an HMAC "signed" with a public key gets nowhere); a key of the right family
//! (and `alg`, when the JWK pins one) verifies its signature; `iss` is the provider's; `aud`
//! names one of its audiences; `exp` is not past and `nbf` not future, each within the leeway.

mod cache;
mod jwks;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use crate::config::{JwksConfig, JwtAuthConfig, JwtProviderConfig, Mode};
use crate::failure::{quote, Failure, Reason};
use crate::identity::{Identity, JwtIdentity, Method};
use crate::{invalid, missing, BuildError, Verdict};
use jwks::{Jwks, KeySet, Lookup, Remote};
pub use jwks::{DEFAULT_REFRESH, REFETCH_DEBOUNCE};

/// The algorithms accepted: asymmetric only.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Default clock skew allowed on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Tokens longer than this are refused unread.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The built `jwtAuth` policy.
#[derive(Debug)]
pub struct JwtAuth {
    mode: Mode,
    providers: Vec<Provider>,
    leeway: u64,
    realm: String,
    verified: cache::VerifiedTokens,
}

#[derive(Debug)]
struct Provider {
    issuer: String,
    audiences: Vec<String>,
    jwks: Jwks,
}

impl JwtAuth {
    /// Builds the policy, reading JWKS files (relative to `base_dir`). Errors name the key
    /// under the policy (`providers[1].jwks.file`).
    pub fn build(config: &JwtAuthConfig, base_dir: &Path) -> Result<Self, BuildError> {
        Self::build_with(config, base_dir, REFETCH_DEBOUNCE)
    }

    pub(crate) fn build_with(
        config: &JwtAuthConfig,
        base_dir: &Path,
        debounce: Duration,
    ) -> Result<Self, BuildError> {
        let JwtAuthConfig {
            mode,
            issuer,
            audiences,
            jwks,
            providers,
            leeway,
            realm,
        } = config;
        let inline = issuer.is_some() || !audiences.is_empty() || jwks.is_some();
        let listed: Vec<(String, JwtProviderConfig)> = match (inline, providers.is_empty()) {
            (true, false) => {
                return Err(BuildError::new(
                    "providers",
                    "write one provider inline (issuer, audiences, jwks) or a list under providers, not both",
                ))
            }
            (false, true) => {
                return Err(BuildError::new(
                    "",
                    "jwtAuth needs issuer, audiences and jwks (or a list of providers)",
                ))
            }
            (true, true) => {
                let issuer = issuer
                    .clone()
                    .ok_or_else(|| BuildError::new("issuer", "missing issuer"))?;
                let jwks = jwks
                    .clone()
                    .ok_or_else(|| BuildError::new("jwks", "missing jwks: write { file } or { url }"))?;
                vec![(
                    String::new(),
                    JwtProviderConfig {
                        issuer,
                        audiences: audiences.clone(),
                        jwks,
                    },
                )]
            }
            (false, false) => providers
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("providers[{i}]."), p.clone()))
                .collect(),
        };
        let mut built: Vec<Provider> = Vec::with_capacity(listed.len());
        for (at, p) in listed {
            if p.issuer.is_empty() {
                return Err(BuildError::new(format!("{at}issuer"), "empty issuer"));
            }
            if built.iter().any(|b| b.issuer == p.issuer) {
                return Err(BuildError::new(
                    format!("{at}issuer"),
                    format!("issuer {:?} is listed twice", p.issuer),
                ));
            }
            if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
                return Err(BuildError::new(
                    format!("{at}audiences"),
                    "list the audiences accepted (the token must be issued for this gateway)",
                ));
            }
            let jwks = build_jwks(&format!("{at}jwks"), &p.jwks, base_dir, debounce)?;
            built.push(Provider {
                issuer: p.issuer,
                audiences: p.audiences,
                jwks,
            });
        }
        let leeway = leeway.map_or(DEFAULT_LEEWAY, |d| d.0);
        if leeway > MAX_LEEWAY {
            return Err(BuildError::new("leeway", "at most 5m"));
        }
        Ok(JwtAuth {
            mode: mode.unwrap_or_default(),
            providers: built,
            leeway: leeway.as_secs(),
            realm: quote(realm.as_deref().unwrap_or("switchboard")),
            verified: cache::VerifiedTokens::default(),
        })
    }

    /// Starts fetching the JWKS URLs (see [`crate::Authenticator::start`]).
    pub fn start(&self) {
        for p in &self.providers {
            if let Jwks::Remote(r) = &p.jwks {
                r.start();
            }
        }
    }

    /// Checks the bearer token of a request.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Verdict {
        let Some(token) = crate::authorization(headers, "bearer") else {
            let failure = Failure {
                reason: Reason::Missing,
                detail: "no bearer token".into(),
                status: http::StatusCode::UNAUTHORIZED,
                challenge: format!("Bearer realm={}", self.realm),
            };
            return missing(self.mode, failure);
        };
        match self.verify(token).await {
            Ok(identity) => Verdict::Authenticated(identity),
            Err((reason, detail)) => {
                let failure = self.failure(reason, detail);
                if reason == Reason::KeysUnavailable {
                    // The caller's token may be fine: no mode turns this into anonymous access.
                    return Verdict::Rejected(failure);
                }
                invalid(self.mode, failure)
            }
        }
    }

    fn failure(&self, reason: Reason, detail: String) -> Failure {
        let status = match reason {
            Reason::KeysUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::UNAUTHORIZED,
        };
        let description = description(reason);
        Failure {
            reason,
            detail,
            status,
            challenge: format!(
                "Bearer realm={}, error=\"invalid_token\", error_description=\"{description}\"",
                self.realm
            ),
        }
    }

    /// The token's identity, or why not: from the cache of verified tokens when it was
    /// verified before under the provider's current keys (see [`cache`]).
    pub(crate) async fn verify(&self, token: &str) -> Result<Identity, (Reason, String)> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err((Reason::Malformed, "token too long".into()));
        }
        let digest = cache::digest(token);
        let now = jsonwebtoken::get_current_timestamp();
        let current = |i: usize| self.providers.get(i).and_then(|p| p.jwks.current());
        if let Some(identity) = self.verified.get(&digest, now, self.leeway, current) {
            return Ok(identity);
        }
        let (identity, provider, keys) = self.verify_signature(token).await?;
        self.verified
            .insert(digest, &identity, provider, &keys, now);
        Ok(identity)
    }

    /// Requests whose token was found verified already (see [`cache`]).
    pub fn cache_hits(&self) -> u64 {
        self.verified.hits()
    }

    /// The full check of a token: its identity, the index of the provider that verified it and
    /// the key set used.
    async fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(Identity, usize, Arc<KeySet>), (Reason, String)> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match header_alg(token) {
            Some(alg) => (
                Reason::Algorithm,
                format!("algorithm {alg:?} is not accepted"),
            ),
            None => (Reason::Malformed, format!("malformed token: {e}")),
        })?;
        let alg = header.alg;
        if !ACCEPTED.contains(&alg) {
            return Err((
                Reason::Algorithm,
                format!("algorithm {alg:?} is not accepted (asymmetric algorithms only)"),
            ));
        }
        let (index, provider) = self.provider(token)?;
        let kid = header.kid.as_deref();
        let keys: Arc<KeySet> = match provider.jwks.lookup(kid).await {
            Lookup::Keys(k) => k,
            Lookup::UnknownKid => {
                return Err((
                    Reason::UnknownKey,
                    format!(
                        "no key with kid {:?} in the JWKS of {}",
                        kid.unwrap_or(""),
                        provider.issuer
                    ),
                ))
            }
            Lookup::Unavailable => {
                return Err((
                    Reason::KeysUnavailable,
                    format!("the JWKS of {} could not be fetched yet", provider.issuer),
                ))
            }
        };
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_audience(&provider.audiences);
        validation.set_issuer(&[&provider.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = (Reason::Algorithm, format!("no {alg:?} key in the JWKS"));
        for key in keys.candidates(kid, alg) {
            match jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation) {
                Ok(data) => {
                    let claims = data.claims;
                    let subject = claims
                        .get("sub")
                        .and_then(|s| s.as_str())
                        .map(str::to_string);
                    let identity = Identity::new(Method::Jwt(JwtIdentity {
                        issuer: provider.issuer.clone(),
                        subject,
                        claims,
                    }));
                    return Ok((identity, index, keys.clone()));
                }
                Err(e) => {
                    last = classify(e.kind());
                    if last.0 != Reason::Signature {
                        // The signature verified; the claims are what is wrong.
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// The provider for a token: the only one, else the one whose issuer is the token's `iss`
    /// (read before verification only to choose; the chosen provider verifies it).
    fn provider(&self, token: &str) -> Result<(usize, &Provider), (Reason, String)> {
        if let [only] = self.providers.as_slice() {
            return Ok((0, only));
        }
        let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| (Reason::Malformed, format!("malformed token: {e}")))?;
        let iss = claims.get("iss").and_then(|i| i.as_str()).unwrap_or("");
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.issuer == iss)
            .ok_or_else(|| (Reason::Issuer, format!("issuer {iss:?} is not configured")))
    }
}

/// The `error_description` of an `invalid_token` challenge.
pub(crate) fn description(reason: Reason) -> &'static str {
    match reason {
        Reason::Expired => "the token has expired",
        Reason::NotYetValid => "the token is not valid yet",
        Reason::Audience => "the token is not for this audience",
        Reason::Issuer => "the token's issuer is not accepted",
        Reason::KeysUnavailable => "the signing keys are not available",
        _ => "the token is invalid",
    }
}

/// The `alg` of a token whose header `jsonwebtoken` refused, when it is one that is refused on
/// purpose (`none`, or a name it does not know), so that the reason says "algorithm".
fn header_alg(token: &str) -> Option<String> {
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = v.get("alg")?.as_str()?;
    (!ACCEPTED.iter().any(|a| format!("{a:?}") == alg)).then(|| alg.to_string())
}

fn classify(kind: &ErrorKind) -> (Reason, String) {
    let reason = match kind {
        ErrorKind::ExpiredSignature => Reason::Expired,
        ErrorKind::ImmatureSignature => Reason::NotYetValid,
        ErrorKind::InvalidAudience => Reason::Audience,
        ErrorKind::InvalidIssuer => Reason::Issuer,
        ErrorKind::InvalidSignature => Reason::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Reason::Algorithm,
        _ => Reason::Malformed,
    };
    (reason, format!("token refused: {kind:?}"))
}

fn build_jwks(
    at: &str,
    c: &JwksConfig,
    base_dir: &Path,
    debounce: Duration,
) -> Result<Jwks, BuildError> {
    let JwksConfig {
        file,
        url,
        refresh_interval,
    } = c;
    match (file, url) {
        (Some(file), None) => {
            if refresh_interval.is_some() {
                return Err(BuildError::new(
                    format!("{at}.refreshInterval"),
                    "refreshInterval applies to a url; a file is read again when the config is reloaded",
                ));
            }
            let path = base_dir.join(file);
            let bytes = std::fs::read(&path).map_err(|e| {
                BuildError::new(
                    format!("{at}.file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let (set, notes) = KeySet::parse(&bytes).map_err(|e| {
                BuildError::new(format!("{at}.file"), format!("{}: {e}", path.display()))
            })?;
            for note in notes {
                tracing::debug!(file = %path.display(), "JWKS {note}");
            }
            Ok(Jwks::Static(Arc::new(set)))
        }
        (None, Some(url)) => {
            check_url(url).map_err(|e| BuildError::new(format!("{at}.url"), e))?;
            let refresh = refresh_interval.map_or(DEFAULT_REFRESH, |d| d.0);
            if refresh < MIN_REFRESH {
                return Err(BuildError::new(
                    format!("{at}.refreshInterval"),
                    "at least 10s",
                ));
            }
            let remote = Remote::new(url.clone(), refresh, debounce)
                .map_err(|e| BuildError::new(format!("{at}.url"), e))?;
            Ok(Jwks::Remote(Arc::new(remote)))
        }
        _ => Err(BuildError::new(at, "write exactly one of file or url")),
    }
}

/// A JWKS URL must be `https`, or `http` on a loopback address (keys fetched in the clear
/// could be replaced on the way, and with them every identity).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "{url:?}: use https (plain http is accepted only on a loopback address)"
        )),
        _ => Err(format!("{url:?} is not an https URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
