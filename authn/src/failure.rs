//! Why a request was not authenticated, and how the `401` (or `503`) says so.

use http::StatusCode;

/// Why a credential was refused; the label of `switchboard_authn_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No credential.
    Missing,
    /// Not a token / header the method can read.
    Malformed,
    /// An algorithm that is not accepted (`none`, HMAC, or one the key is not for).
    Algorithm,
    /// The signature does not verify.
    Signature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `aud` names none of the accepted audiences.
    Audience,
    /// `iss` is not a configured issuer.
    Issuer,
    /// No key with the token's `kid`, even after refetching the JWKS.
    UnknownKey,
    /// The JWKS could not be fetched and no keys are known yet.
    KeysUnavailable,
    /// Unknown API key, or wrong user name or password.
    BadCredentials,
    /// A valid token without a scope the route requires (`403`, `mcpAuthentication`).
    InsufficientScope,
}

impl Reason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::Algorithm => "algorithm",
            Reason::Signature => "signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Audience => "audience",
            Reason::Issuer => "issuer",
            Reason::UnknownKey => "unknown_key",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::BadCredentials => "bad_credentials",
            Reason::InsufficientScope => "insufficient_scope",
        }
    }
}

/// A refused credential: what to count, log and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Why, for the metric.
    pub reason: Reason,
    /// The cause in words, for the log (never the credential itself).
    pub detail: String,
    /// `401`, or `503` while a JWKS is not available.
    pub status: StatusCode,
    /// The `WWW-Authenticate` value of the answer.
    pub challenge: String,
}

impl Failure {
    /// The short body of the answer.
    pub fn body(&self) -> &'static str {
        match self.reason {
            Reason::KeysUnavailable => {
                "authentication is not available yet: the token signing keys could not be fetched"
            }
            Reason::Missing => "authentication required",
            Reason::InsufficientScope => "insufficient scope",
            _ => "invalid credentials",
        }
    }
}

/// Quotes a value for an auth-param (`realm="..."`): quotes and backslashes escaped, control
/// characters dropped so the header stays valid.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || !c.is_ascii() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
