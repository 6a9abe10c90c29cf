//! Lowering policy blocks into their compiled forms, with their checks.

use http::{HeaderName, HeaderValue, StatusCode};

use super::Lowering;
use crate::config::file;
use crate::model::host::HostPattern;
use crate::model::matcher::{PathMatcher, RequestMatch};
use crate::model::policy::{
    A2aRelay, Cors, HeaderModifier, Mirror, OriginPattern, PathRewrite, Redirect, Retry,
    UpstreamAuth, UrlRewrite,
};
use crate::model::upstream::Upstream;

impl<'a> Lowering<'a> {
    /// `jwtAuth`, `apiKeyAuth`, `basicAuth` or `mcpAuthentication` of a route (the policy
    /// block at `path`). At most one: which credential a request must carry is then never
    /// ambiguous. The RFC 9728 metadata of `mcpAuthentication` is kept for the listener's
    /// table (see [`crate::model::discovery`]).
    pub(super) fn authn(
        &mut self,
        path: &str,
        p: &file::Policies,
    ) -> Option<std::sync::Arc<authn::Authenticator>> {
        let base_dir = self.source.base_dir.clone();
        let mut built: Vec<(&str, Result<authn::Authenticator, authn::BuildError>)> = Vec::new();
        if let Some(c) = &p.jwt_auth {
            built.push(("jwtAuth", authn::Authenticator::jwt(c, &base_dir)));
        }
        if let Some(c) = &p.api_key_auth {
            built.push(("apiKeyAuth", authn::Authenticator::api_key(c)));
        }
        if let Some(c) = &p.basic_auth {
            built.push(("basicAuth", authn::Authenticator::basic(c, &base_dir)));
        }
        if let Some(c) = &p.mcp_authentication {
            built.push(("mcpAuthentication", authn::Authenticator::mcp(c, &base_dir)));
        }
        if built.len() > 1 {
            let keys: Vec<&str> = built.iter().map(|(k, _)| *k).collect();
            self.err(
                format!("{path}.{}", keys[1]),
                format!(
                    "a route takes one of jwtAuth, apiKeyAuth, basicAuth or mcpAuthentication \
                     (which checks the JWT itself); this one has {}",
                    keys.join(" and ")
                ),
            );
            return None;
        }
        let (key, result) = built.pop()?;
        match result {
            Ok(a) => {
                let a = std::sync::Arc::new(a);
                if let Some(pr) = a.protected_resource() {
                    self.protected_resources
                        .push((format!("{path}.{key}.resource"), pr.clone()));
                }
                self.authenticators.push(a.clone());
                Some(a)
            }
            Err(e) => {
                let at = if e.at.is_empty() {
                    format!("{path}.{key}")
                } else {
                    format!("{path}.{key}.{}", e.at)
                };
                self.err(at, e.message);
                None
            }
        }
    }

    /// A `backendAuth` block of a route or backend (`path` names it). A header modifier of the
    /// same block that also sets the credential's header is an error: one would silently lose.
    pub(super) fn backend_auth(&mut self, path: &str, p: &file::Policies) -> Option<UpstreamAuth> {
        let config = p.backend_auth.as_ref()?;
        if matches!(config, backend_auth::BackendAuthConfig::Passthrough(_)) {
            return Some(UpstreamAuth::Passthrough);
        }
        // `passthrough` is handled above, so the place (named only in its error) never shows.
        let place = "on a route";
        let built = mcp_mux::build_backend_auth(config, place, mcp_mux::DEFAULT_CONNECT_TIMEOUT);
        let auth = match built {
            Ok(auth) => auth,
            Err(e) => {
                self.err(path, e.to_string());
                return None;
            }
        };
        let header = auth.header_name();
        let modifier = p.request_header_modifier.as_ref();
        let clashes = modifier.is_some_and(|m| {
            m.set
                .keys()
                .chain(m.add.keys())
                .any(|name| name.eq_ignore_ascii_case(header.as_str()))
        });
        if clashes {
            self.err(
                path,
                format!(
                    "requestHeaderModifier also sets {header}, which backendAuth sets; keep one"
                ),
            );
        }
        Some(UpstreamAuth::Credential(auth))
    }

    /// `backendTLS`; a `hostname` that cannot be a TLS server name is an error at its key.
    pub(super) fn backend_tls(
        &mut self,
        path: &str,
        t: &file::BackendTls,
    ) -> Option<crate::model::policy::BackendTls> {
        let hostname = match &t.hostname {
            None => None,
            Some(h) => match rustls::pki_types::ServerName::try_from(h.as_str()) {
                Ok(_) => Some(std::sync::Arc::from(h.as_str())),
                Err(e) => {
                    self.err(
                        format!("{path}.hostname"),
                        format!("{h:?} is not a DNS name or IP address: {e}"),
                    );
                    return None;
                }
            },
        };
        Some(crate::model::policy::BackendTls { hostname })
    }

    pub(super) fn header_modifier(
        &mut self,
        path: &str,
        m: Option<&file::HeaderModifier>,
    ) -> Option<HeaderModifier> {
        let m = m?;
        let mut out = HeaderModifier::default();
        for (list, src, key) in [(&mut out.add, &m.add, "add"), (&mut out.set, &m.set, "set")] {
            for (name, value) in src {
                let hpath = format!("{path}.{key}.{name}");
                let n = HeaderName::from_bytes(name.as_bytes());
                let v = HeaderValue::from_str(value);
                match (n, v) {
                    (Ok(n), Ok(v)) => list.push((n, v)),
                    (Err(_), _) => self.errors.push(
                        self.source
                            .diagnostic(&hpath, format!("invalid header name {name:?}")),
                    ),
                    (_, Err(_)) => self.errors.push(self.source.diagnostic(
                        &hpath,
                        format!(
                            "invalid header value for {name:?}: control characters are not allowed"
                        ),
                    )),
                }
            }
        }
        for (i, name) in m.remove.iter().enumerate() {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => out.remove.push(n),
                Err(_) => self.err(
                    format!("{path}.remove[{i}]"),
                    format!("invalid header name {name:?}"),
                ),
            }
        }
        Some(out)
    }

    pub(super) fn path_rewrite(
        &mut self,
        path: &str,
        p: &file::PathRewrite,
        matchers: &[RequestMatch],
    ) -> PathRewrite {
        match p {
            file::PathRewrite::Full(f) => {
                if !f.starts_with('/') {
                    self.err(format!("{path}.full"), "the path must start with /");
                }
                PathRewrite::Full(f.clone())
            }
            file::PathRewrite::Prefix(f) => {
                if !f.starts_with('/') {
                    self.err(format!("{path}.prefix"), "the prefix must start with /");
                }
                if matchers
                    .iter()
                    .any(|m| !matches!(m.path, PathMatcher::Prefix(_)))
                {
                    self.err(format!("{path}.prefix"), "a prefix replacement needs every match of the route to be a path prefix match");
                }
                PathRewrite::Prefix(f.clone())
            }
        }
    }

    pub(super) fn url_rewrite(
        &mut self,
        path: &str,
        u: &file::UrlRewrite,
        matchers: &[RequestMatch],
    ) -> UrlRewrite {
        let hostname = u
            .hostname
            .as_ref()
            .and_then(|h| match HostPattern::parse(h) {
                Ok(HostPattern::Exact(_)) => HeaderValue::from_str(h).ok(),
                _ => {
                    self.err(
                        format!("{path}.hostname"),
                        format!("invalid hostname {h:?}: write a plain host name"),
                    );
                    None
                }
            });
        let rewrite = u
            .path
            .as_ref()
            .map(|p| self.path_rewrite(&format!("{path}.path"), p, matchers));
        UrlRewrite {
            hostname,
            path: rewrite,
        }
    }

    pub(super) fn redirect(
        &mut self,
        path: &str,
        r: &file::RequestRedirect,
        matchers: &[RequestMatch],
    ) -> Redirect {
        let code = r.status_code.unwrap_or(302);
        let status = match code {
            301 | 302 | 303 | 307 | 308 => StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND),
            _ => {
                self.err(
                    format!("{path}.statusCode"),
                    format!("status {code} is not a redirect: use 301, 302, 303, 307 or 308"),
                );
                StatusCode::FOUND
            }
        };
        if let Some(s) = &r.scheme {
            if s != "http" && s != "https" {
                self.err(
                    format!("{path}.scheme"),
                    format!("scheme {s:?} must be http or https"),
                );
            }
        }
        if let Some(h) = &r.hostname {
            if !matches!(HostPattern::parse(h), Ok(HostPattern::Exact(_))) {
                self.err(
                    format!("{path}.hostname"),
                    format!("invalid hostname {h:?}: write a plain host name"),
                );
            }
        }
        let rewrite = r
            .path
            .as_ref()
            .map(|p| self.path_rewrite(&format!("{path}.path"), p, matchers));
        Redirect {
            scheme: r.scheme.clone(),
            hostname: r.hostname.clone(),
            port: r.port,
            path: rewrite,
            status,
        }
    }

    pub(super) fn mirror(&mut self, path: &str, m: &file::RequestMirror) -> Option<Mirror> {
        let pct = m.percentage.unwrap_or(100.0);
        if !(0.0..=100.0).contains(&pct) {
            self.err(format!("{path}.percentage"), "must be between 0 and 100");
        }
        let mut backend_tls = None;
        let upstream = match (&m.backend.host, &m.backend.backend) {
            (Some(h), None) => Upstream::parse(h)
                .map_err(|e| self.err(format!("{path}.backend.host"), e))
                .ok(),
            (None, Some(name)) => match self.named.get(name.as_str()).copied() {
                Some((i, nb)) if nb.host.is_some() => {
                    if let Some(t) = nb.policies.as_ref().and_then(|p| p.backend_tls.as_ref()) {
                        let at = format!("backends[{i}].policies.backendTLS");
                        backend_tls = self.backend_tls(&at, t);
                    }
                    nb.host.as_deref().and_then(|h| Upstream::parse(h).ok())
                }
                Some(_) => {
                    self.err(
                        format!("{path}.backend.backend"),
                        format!("backend {name:?} is not a host backend"),
                    );
                    None
                }
                None => {
                    self.err(
                        format!("{path}.backend.backend"),
                        format!("no backend named {name:?}"),
                    );
                    None
                }
            },
            _ => {
                self.err(
                    format!("{path}.backend"),
                    "write exactly one of host or backend",
                );
                None
            }
        }?;
        Some(Mirror {
            tls: backend_tls.map(|t| t.server_name(&upstream)),
            upstream,
            percentage: pct.clamp(0.0, 100.0),
        })
    }

    pub(super) fn cors(&mut self, path: &str, c: &file::Cors) -> Cors {
        let mut out = Cors {
            allow_credentials: c.allow_credentials.unwrap_or(false),
            max_age: c.max_age,
            ..Default::default()
        };
        for (i, o) in c.allow_origins.iter().enumerate() {
            match OriginPattern::parse(o) {
                Ok(p) => out.allow_origins.push(p),
                Err(e) => self.err(format!("{path}.allowOrigins[{i}]"), e),
            }
        }
        for (i, m) in c.allow_methods.iter().enumerate() {
            if m == "*" {
                out.any_method = true;
            } else if http::Method::from_bytes(m.as_bytes()).is_err() {
                self.err(
                    format!("{path}.allowMethods[{i}]"),
                    format!("invalid method {m:?}"),
                );
            } else {
                out.allow_methods.push(m.to_ascii_uppercase());
            }
        }
        for (i, h) in c.allow_headers.iter().enumerate() {
            if h == "*" {
                out.any_header = true;
            } else if HeaderName::from_bytes(h.as_bytes()).is_err() {
                self.err(
                    format!("{path}.allowHeaders[{i}]"),
                    format!("invalid header name {h:?}"),
                );
            } else {
                out.allow_headers.push(h.to_ascii_lowercase());
            }
        }
        for (i, h) in c.expose_headers.iter().enumerate() {
            if h != "*" && HeaderName::from_bytes(h.as_bytes()).is_err() {
                self.err(
                    format!("{path}.exposeHeaders[{i}]"),
                    format!("invalid header name {h:?}"),
                );
            }
        }
        if !c.expose_headers.is_empty() {
            out.expose_headers = HeaderValue::from_str(&c.expose_headers.join(", ")).ok();
        }
        out
    }

    pub(super) fn retry(&mut self, path: &str, r: &file::Retry) -> Retry {
        let attempts = r.attempts.unwrap_or(1);
        if attempts > 10 {
            self.err(format!("{path}.attempts"), "at most 10 retries");
        }
        for (i, c) in r.codes.iter().enumerate() {
            if !(100..=599).contains(c) {
                self.err(
                    format!("{path}.codes[{i}]"),
                    format!("{c} is not an HTTP status"),
                );
            }
        }
        Retry {
            attempts: attempts.min(10),
            backoff: r.backoff.map_or(std::time::Duration::ZERO, |d| d.0),
            codes: if r.codes.is_empty() {
                vec![503]
            } else {
                r.codes.clone()
            },
        }
    }

    pub(super) fn a2a(&mut self, path: &str, p: &file::A2aPolicy) -> std::sync::Arc<A2aRelay> {
        if let Some(url) = &p.public_url {
            if let Err(e) = a2a::public_url::parse_public_base(url) {
                self.err(
                    format!("{path}.publicUrl"),
                    format!("invalid public URL {url:?}: {e}"),
                );
            }
        }
        let caller_header =
            p.caller_header
                .as_ref()
                .and_then(|h| match HeaderName::from_bytes(h.as_bytes()) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.err(
                            format!("{path}.callerHeader"),
                            format!("invalid header name {h:?}"),
                        );
                        None
                    }
                });
        let push = p.push_notifications.clone().unwrap_or_default();
        let mut guard = a2a::PushGuardConfig {
            require_https: push.require_https.unwrap_or(true),
            allow_hosts: push.allow_hosts.clone(),
            ..Default::default()
        };
        for (i, cidr) in push.allow_cidrs.iter().enumerate() {
            match cidr.parse() {
                Ok(net) => guard.allow_cidrs.push(net),
                Err(_) => self.err(
                    format!("{path}.pushNotifications.allowCidrs[{i}]"),
                    format!("invalid address range {cidr:?}: write e.g. 10.20.0.0/16"),
                ),
            }
        }
        std::sync::Arc::new(A2aRelay {
            public_url: p.public_url.clone(),
            signed_cards: match p.signed_cards {
                Some(file::SignedCardsMode::PassUnmodified) => a2a::SignedCards::PassUnmodified,
                _ => a2a::SignedCards::Strip,
            },
            caller_header,
            push_guard: a2a::PushGuard::new(guard),
            owners: a2a::OwnershipStore::new(OWNED_TASKS, OWNERSHIP_TTL, a2a::UnknownTasks::Allow),
            stream_idle_timeout: p.stream_idle_timeout.map_or(DEFAULT_STREAM_IDLE, |d| d.0),
        })
    }
}

/// Default idle limit of A2A streams.
const DEFAULT_STREAM_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
/// Tasks whose owner one A2A route remembers.
const OWNED_TASKS: usize = 100_000;
/// How long a task's owner is remembered.
const OWNERSHIP_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
