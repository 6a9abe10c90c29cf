//! Policies compiled for the data path: header names and values parsed, durations resolved,
//! defaults filled in. Built by [`super::lower`]; read by the proxy.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use super::upstream::Upstream;

/// Add, set and remove header lists. Applied in the order remove, set, add.
#[derive(Debug, Clone, Default)]
pub struct HeaderModifier {
    /// Appended.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Replace existing values.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Removed.
    pub remove: Vec<HeaderName>,
}

impl HeaderModifier {
    /// Applies the changes to a header map.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// A path replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRewrite {
    /// The whole path becomes this.
    Full(String),
    /// The part of the path matched by the route's prefix becomes this.
    Prefix(String),
}

/// Gateway API `RequestRedirect`.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// `http` or `https`; `None` keeps the request's.
    pub scheme: Option<String>,
    /// `None` keeps the request's host.
    pub hostname: Option<String>,
    /// `None` keeps the request's port (or drops it when the scheme changes).
    pub port: Option<u16>,
    /// `None` keeps the path.
    pub path: Option<PathRewrite>,
    /// 301, 302, 303, 307 or 308.
    pub status: StatusCode,
}

/// Gateway API `URLRewrite`.
#[derive(Debug, Clone, Default)]
pub struct UrlRewrite {
    /// New `Host` header.
    pub hostname: Option<HeaderValue>,
    /// New path.
    pub path: Option<PathRewrite>,
}

/// Copies of requests to another upstream.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// Where copies go.
    pub upstream: Upstream,
    /// Share mirrored, 0.0 to 100.0.
    pub percentage: f64,
    /// The TLS server name when copies go over `https`: a named backend's own `backendTLS`,
    /// resolved as for a route's backend (its `hostname`, else the backend's host).
    pub tls: Option<std::sync::Arc<str>>,
}

/// One allowed CORS origin.
#[derive(Debug, Clone)]
pub enum OriginPattern {
    /// `*`.
    Any,
    /// Exact origin, lower-case, e.g. `https://app.example.com`.
    Exact(String),
    /// `https://*.example.com`: scheme and host suffix (with leading dot).
    Wildcard {
        /// Scheme with `://`.
        scheme: String,
        /// Host suffix, e.g. `.example.com`, optionally with `:port`.
        suffix: String,
    },
}

impl OriginPattern {
    /// Parses an allowed origin.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "*" {
            return Ok(OriginPattern::Any);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!(
                "invalid origin {s:?}: write scheme://host[:port], e.g. https://app.example.com, or *"
            ));
        };
        if rest.is_empty() || rest.contains('/') {
            return Err(format!("invalid origin {s:?}: an origin has no path"));
        }
        match rest.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => Ok(OriginPattern::Wildcard {
                scheme: format!("{scheme}://"),
                suffix: suffix.to_string(),
            }),
            Some(_) => Err(format!(
                "invalid origin {s:?}: a wildcard must be written *.domain"
            )),
            None => Ok(OriginPattern::Exact(s)),
        }
    }

    /// Whether the request's `Origin` value is allowed.
    pub fn matches(&self, origin: &str) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o.eq_ignore_ascii_case(origin),
            OriginPattern::Wildcard { scheme, suffix } => {
                let origin = origin.to_ascii_lowercase();
                origin.strip_prefix(scheme.as_str()).is_some_and(|host| {
                    host.len() > suffix.len() && host.ends_with(suffix.as_str())
                })
            }
        }
    }
}

/// CORS policy.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Allowed origins.
    pub allow_origins: Vec<OriginPattern>,
    /// Allowed methods; empty means the CORS-safelisted methods only.
    pub allow_methods: Vec<String>,
    /// `*` was given for methods.
    pub any_method: bool,
    /// Allowed request headers, lower-case.
    pub allow_headers: Vec<String>,
    /// `*` was given for headers.
    pub any_header: bool,
    /// `Access-Control-Expose-Headers` value, if any.
    pub expose_headers: Option<HeaderValue>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age` in seconds.
    pub max_age: Option<u32>,
}

/// Time limits; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request until response headers, retries included.
    pub request: Option<Duration>,
    /// One upstream attempt until response headers.
    pub backend_request: Option<Duration>,
}

impl Timeouts {
    /// Each limit of `self`, or `fallback`'s where `self` has none.
    pub fn or(self, fallback: Timeouts) -> Timeouts {
        Timeouts {
            request: self.request.or(fallback.request),
            backend_request: self.backend_request.or(fallback.backend_request),
        }
    }
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Fixed wait between attempts.
    pub backoff: Duration,
    /// Statuses retried.
    pub codes: Vec<u16>,
}

/// Route-level policies.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicies {
    /// Request headers changed before forwarding.
    pub request_headers: Option<HeaderModifier>,
    /// Response headers changed before answering.
    pub response_headers: Option<HeaderModifier>,
    /// Answer with a redirect.
    pub redirect: Option<Redirect>,
    /// Rewrite host and path.
    pub rewrite: Option<UrlRewrite>,
    /// Mirror a share of requests.
    pub mirror: Option<Mirror>,
    /// CORS.
    pub cors: Option<Cors>,
    /// `jwtAuth`, `apiKeyAuth` or `basicAuth`: who the caller is.
    pub authn: Option<std::sync::Arc<authn::Authenticator>>,
    /// `authorization`: whether the request may pass (`None`: no rules).
    pub authorization: Option<std::sync::Arc<Authorize>>,
    /// `mcpAuthorization`, for the virtual MCP server of the route's `mcp` backends.
    pub mcp: Option<std::sync::Arc<mcp_mux::McpPolicy>>,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: Option<Retry>,
    /// Largest request body accepted.
    pub max_request_body: u64,
    /// A2A relay.
    pub a2a: Option<std::sync::Arc<A2aRelay>>,
    /// Credentials added to upstream requests.
    pub backend_auth: Option<UpstreamAuth>,
    /// `backendTLS`: reach the backends over TLS.
    pub backend_tls: Option<BackendTls>,
    /// `localRateLimit` and `rateLimit` entries with `per: route` or `per: identity`.
    pub rate_limits: Option<std::sync::Arc<super::ratelimit::Limits>>,
    /// Those with `per: tool` (routes to `mcp` backends only).
    pub tool_limits: Option<std::sync::Arc<super::ratelimit::Limits>>,
    /// `tokenRateLimit` (routes to `ai` backends only).
    pub token_budgets: Option<std::sync::Arc<super::ai::TokenBudgets>>,
    /// `promptGuard` (routes to `ai` backends only).
    pub prompt_guard: Option<std::sync::Arc<super::guard::PromptGuard>>,
}

/// The `authorization` policy, compiled: the rules and where they run (an HTTP or an A2A
/// route), which the metrics and the form of the `403` follow.
#[derive(Debug)]
pub struct Authorize {
    /// The rules; never empty (an empty set is no phase at all).
    pub rules: authz::CompiledRules,
    /// `Http` or `A2a`.
    pub phase: authz::Phase,
}

/// The `backendTLS` policy, lowered: the name checked is resolved per backend in the plan
/// (its default is the backend's own host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendTls {
    /// `hostname`, when set: the TLS server name instead of the backend's host.
    pub hostname: Option<std::sync::Arc<str>>,
}

impl BackendTls {
    /// The TLS server name for `upstream`: `hostname`, else the upstream's host (`[::1]`
    /// without brackets).
    pub fn server_name(self, upstream: &Upstream) -> std::sync::Arc<str> {
        self.hostname.unwrap_or_else(|| {
            let host = upstream.authority.host();
            std::sync::Arc::from(host.trim_start_matches('[').trim_end_matches(']'))
        })
    }
}

/// The `backendAuth` policy of a route or backend, ready to use.
#[derive(Debug, Clone)]
pub enum UpstreamAuth {
    /// `passthrough`: nothing added; the client's `Authorization` header goes on as it came
    /// (also what happens without the policy; written on a backend, it undoes the route's).
    Passthrough,
    /// `key` or `oauth2`: the credential set on every request, replacing the client's header
    /// of the same name.
    Credential(backend_auth::BackendAuth),
}

/// The `a2a` policy, ready to use: its settings and the state it keeps across requests.
pub struct A2aRelay {
    /// Configured public base URL.
    pub public_url: Option<String>,
    /// Signed-card handling.
    pub signed_cards: a2a::SignedCards,
    /// Header naming the caller, when ownership is enforced.
    pub caller_header: Option<http::HeaderName>,
    /// Webhook URL checks.
    pub push_guard: a2a::PushGuard,
    /// Task owners.
    pub owners: a2a::OwnershipStore,
    /// A stream with no frame (keep-alive comments count) for this long is closed.
    pub stream_idle_timeout: std::time::Duration,
}

impl std::fmt::Debug for A2aRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A2aRelay")
            .field("public_url", &self.public_url)
            .field("caller_header", &self.caller_header)
            .finish_non_exhaustive()
    }
}

/// Policies of a route's backend entry, merged from the named backend and the entry (the
/// entry's win). Header modifiers apply after the route's; the others replace the route's.
#[derive(Debug, Clone, Default)]
pub struct BackendPolicies {
    /// Request headers changed after the route's changes.
    pub request_headers: Option<HeaderModifier>,
    /// Response headers changed before the route's changes.
    pub response_headers: Option<HeaderModifier>,
    /// Replaces the route's rewrite.
    pub rewrite: Option<UrlRewrite>,
    /// Replaces the route's mirror.
    pub mirror: Option<Mirror>,
    /// Each set field replaces the route's.
    pub timeouts: Timeouts,
    /// Replaces the route's retry.
    pub retry: Option<Retry>,
    /// Replaces the route's backendAuth.
    pub backend_auth: Option<UpstreamAuth>,
    /// Replaces the route's backendTLS.
    pub backend_tls: Option<BackendTls>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let any = OriginPattern::parse("*").unwrap();
        assert!(any.matches("https://x.test"));
        let exact = OriginPattern::parse("https://App.example.com").unwrap();
        assert!(exact.matches("https://app.example.com"));
        assert!(!exact.matches("http://app.example.com"));
        let wild = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(wild.matches("https://a.example.com"));
        assert!(!wild.matches("https://example.com"));
        assert!(!wild.matches("http://a.example.com"));
        assert!(OriginPattern::parse("example.com").is_err());
        assert!(OriginPattern::parse("https://a.com/path").is_err());
    }

    #[test]
    fn header_modifier_order() {
        let m = HeaderModifier {
            add: vec![(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("2"),
            )],
            set: vec![(
                HeaderName::from_static("x-b"),
                HeaderValue::from_static("s"),
            )],
            remove: vec![HeaderName::from_static("x-c")],
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert("x-b", HeaderValue::from_static("old"));
        h.append("x-b", HeaderValue::from_static("old2"));
        h.insert("x-c", HeaderValue::from_static("gone"));
        m.apply(&mut h);
        assert_eq!(h.get_all("x-a").iter().count(), 2);
        assert_eq!(h.get_all("x-b").iter().collect::<Vec<_>>(), ["s"]);
        assert!(h.get("x-c").is_none());
    }
}
