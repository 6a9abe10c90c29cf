//! Lowering the config file into the runtime model, with every semantic check.
//!
//! Each check that fails records a diagnostic at its key path and lowering goes on, so one run
//! reports every problem in the file.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;

use super::host::HostPattern;
use super::matcher::{MatchEntry, PathMatcher, RequestMatch, RouteTable, ValueMatcher};
use super::policy::{
    BackendPolicies, Cors, HeaderModifier, Mirror, OriginPattern, PathRewrite, Redirect, Retry,
    RoutePolicies, Timeouts, UrlRewrite,
};
use super::route::{BackendTarget, Route, RouteBackend};
use super::upstream::Upstream;
use super::{
    Bind, Listener, Model, Settings, TracingSettings, DEFAULT_ADMIN_ADDR, DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_MAX_REQUEST_BODY,
};
use crate::config::file::{self, ListenerProtocol};
use crate::config::{ConfigErrors, Diagnostic, Source};

/// Lowers a loaded config into the runtime model, or returns every problem found.
pub fn lower(source: &Source) -> Result<Model, ConfigErrors> {
    let mut cx = Lowering {
        source,
        errors: Vec::new(),
        named: HashMap::new(),
    };
    let model = cx.model();
    if cx.errors.is_empty() {
        Ok(model)
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

struct Lowering<'a> {
    source: &'a Source,
    errors: Vec<Diagnostic>,
    named: HashMap<&'a str, (usize, &'a file::NamedBackend)>,
}

/// Where a policy block sits; some policies are only meaningful at route level.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Route,
    Backend,
}

impl<'a> Lowering<'a> {
    fn err(&mut self, path: impl AsRef<str>, msg: impl Into<String>) {
        let d = self.source.diagnostic(path.as_ref(), msg);
        self.errors.push(d);
    }

    fn model(&mut self) -> Model {
        let file = &self.source.file;
        let settings = self.settings(file.config.as_ref());
        for (i, b) in file.backends.iter().enumerate() {
            let path = format!("backends[{i}]");
            if self.named.insert(b.name.as_str(), (i, b)).is_some() {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate backend name {:?}", b.name),
                );
            }
            self.named_backend_kind(&path, b);
        }
        let default_body = file
            .config
            .as_ref()
            .and_then(|c| c.max_request_body)
            .map_or(DEFAULT_MAX_REQUEST_BODY, |b| b.0);
        let mut seen_addrs: HashMap<SocketAddr, usize> = HashMap::new();
        let mut binds = Vec::new();
        for (i, b) in file.binds.iter().enumerate() {
            let path = format!("binds[{i}]");
            if let Some(bind) = self.bind(&path, b, default_body) {
                if bind.addr.port() != 0 {
                    if let Some(prev) = seen_addrs.insert(bind.addr, i) {
                        self.err(
                            format!("{path}.port"),
                            format!("{} is already used by binds[{prev}]", bind.addr),
                        );
                    }
                }
                binds.push(Arc::new(bind));
            }
        }
        Model { settings, binds }
    }

    fn settings(&mut self, c: Option<&file::ProcessConfig>) -> Settings {
        let default = file::ProcessConfig::default();
        let c = c.unwrap_or(&default);
        let admin = c.admin_addr.as_deref().unwrap_or(DEFAULT_ADMIN_ADDR);
        let admin_addr = admin.parse().unwrap_or_else(|_| {
            self.err(
                "config.adminAddr",
                format!("invalid address {admin:?}: write ip:port, e.g. 127.0.0.1:15000"),
            );
            SocketAddr::from(([127, 0, 0, 1], 15000))
        });
        let session_key = c.session_key.as_deref().and_then(|k| match decode_key(k) {
            Ok(k) => Some(k),
            Err(msg) => {
                self.err("config.sessionKey", msg);
                None
            }
        });
        let tracing = c.tracing.as_ref().map(|t| {
            if !(t.otlp_endpoint.starts_with("http://") || t.otlp_endpoint.starts_with("https://"))
            {
                self.err(
                    "config.tracing.otlpEndpoint",
                    "the OTLP endpoint must be an http:// or https:// URL",
                );
            }
            let ratio = t.sampling_ratio.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&ratio) {
                self.err(
                    "config.tracing.samplingRatio",
                    "must be between 0.0 and 1.0",
                );
            }
            TracingSettings {
                otlp_endpoint: t.otlp_endpoint.clone(),
                sampling_ratio: ratio.clamp(0.0, 1.0),
            }
        });
        let logging = c.logging.clone().unwrap_or_default();
        if let Some(level) = &logging.level {
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
                self.err(
                    "config.logging.level",
                    format!("invalid log filter {level:?}: {e}"),
                );
            }
        }
        Settings {
            admin_addr,
            drain_timeout: c.drain_timeout.map_or(DEFAULT_DRAIN_TIMEOUT, |d| d.0),
            log_format: logging.format.unwrap_or_default(),
            log_level: logging.level,
            tracing,
            session_key,
            workers: c.workers.filter(|w| *w > 0).map(usize::from),
        }
    }

    fn named_backend_kind(&mut self, path: &str, b: &file::NamedBackend) {
        let kinds = [b.host.is_some(), b.mcp.is_some(), b.ai.is_some()];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => self.err(path, "a backend needs exactly one of host, mcp or ai"),
            _ => self.err(path, "a backend takes only one of host, mcp or ai"),
        }
        if b.mcp.is_some() {
            self.err(format!("{path}.mcp"), "not supported yet: mcp backends");
        }
        if b.ai.is_some() {
            self.err(format!("{path}.ai"), "not supported yet: ai backends");
        }
        if let Some(h) = &b.host {
            if let Err(e) = Upstream::parse(h) {
                self.err(format!("{path}.host"), e);
            }
        }
    }

    fn bind(&mut self, path: &str, b: &'a file::Bind, default_body: u64) -> Option<Bind> {
        let ip: IpAddr = match b.address.as_deref().unwrap_or("0.0.0.0").parse() {
            Ok(ip) => ip,
            Err(_) => {
                self.err(
                    format!("{path}.address"),
                    "invalid address: write an IP address such as 0.0.0.0, 127.0.0.1 or ::",
                );
                return None;
            }
        };
        if b.listeners.is_empty() {
            self.err(
                format!("{path}.listeners"),
                "a bind needs at least one listener",
            );
        }
        let mut names = HashSet::new();
        let mut hosts = HashMap::new();
        let mut listeners = Vec::new();
        let mut certs = Vec::new();
        let mut protocols = HashSet::new();
        for (j, l) in b.listeners.iter().enumerate() {
            let lpath = format!("{path}.listeners[{j}]");
            if !names.insert(l.name.as_str()) {
                self.err(
                    format!("{lpath}.name"),
                    format!("duplicate listener name {:?} in this bind", l.name),
                );
            }
            let hostname = match HostPattern::parse(l.hostname.as_deref().unwrap_or("*")) {
                Ok(h) => h,
                Err(e) => {
                    self.err(format!("{lpath}.hostname"), e);
                    HostPattern::Any
                }
            };
            if let Some(prev) = hosts.insert(hostname.to_string(), j) {
                self.err(
                    format!("{lpath}.hostname"),
                    format!(
                        "hostname {hostname} is already served by listeners[{prev}] of this bind"
                    ),
                );
            }
            protocols.insert(l.protocol);
            match (l.protocol, &l.tls) {
                (ListenerProtocol::Tcp | ListenerProtocol::Tls, _) => {
                    self.err(
                        format!("{lpath}.protocol"),
                        "not supported yet: protocol TCP and TLS (use HTTP or HTTPS)",
                    );
                }
                (ListenerProtocol::Https, None) => {
                    self.err(
                        format!("{lpath}.tls"),
                        "protocol HTTPS needs tls: {cert, key}",
                    );
                }
                (ListenerProtocol::Http, Some(_)) => {
                    self.err(
                        format!("{lpath}.tls"),
                        "tls is set but the protocol is HTTP; use protocol: HTTPS",
                    );
                }
                (ListenerProtocol::Https, Some(t)) => {
                    let cert = self.source.base_dir.join(&t.cert);
                    let key = self.source.base_dir.join(&t.key);
                    match super::tls::load_certified_key(&cert, &key) {
                        Ok(ck) => certs.push((hostname.clone(), ck)),
                        Err(e) => self.err(format!("{lpath}.tls"), e),
                    }
                }
                (ListenerProtocol::Http, None) => {}
            }
            let routes = self.routes(&lpath, l, default_body);
            listeners.push(Listener {
                name: l.name.as_str().into(),
                hostname,
                routes,
            });
        }
        if protocols.contains(&ListenerProtocol::Http)
            && protocols.contains(&ListenerProtocol::Https)
        {
            self.err(
                format!("{path}.listeners"),
                "HTTP and HTTPS listeners cannot share a port; use two binds",
            );
        }
        listeners.sort_by(|a, b| a.hostname.specificity_cmp(&b.hostname));
        let tls = if protocols.contains(&ListenerProtocol::Https) && !certs.is_empty() {
            match super::tls::server_config(certs) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.err(format!("{path}.listeners"), e);
                    None
                }
            }
        } else {
            None
        };
        Some(Bind {
            addr: SocketAddr::new(ip, b.port),
            tls,
            listeners,
        })
    }

    fn routes(&mut self, lpath: &str, l: &'a file::Listener, default_body: u64) -> RouteTable {
        let mut names = HashSet::new();
        let mut entries = Vec::new();
        for (k, r) in l.routes.iter().enumerate() {
            let rpath = format!("{lpath}.routes[{k}]");
            if !names.insert(r.name.as_str()) {
                self.err(
                    format!("{rpath}.name"),
                    format!("duplicate route name {:?} in this listener", r.name),
                );
            }
            let hostnames: Vec<HostPattern> = r
                .hostnames
                .iter()
                .enumerate()
                .filter_map(|(h, name)| match HostPattern::parse(name) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.err(format!("{rpath}.hostnames[{h}]"), e);
                        None
                    }
                })
                .collect();
            let matchers: Vec<RequestMatch> = if r.matches.is_empty() {
                vec![RequestMatch {
                    path: PathMatcher::prefix("/"),
                    method: None,
                    headers: vec![],
                    query: vec![],
                }]
            } else {
                r.matches
                    .iter()
                    .enumerate()
                    .filter_map(|(m, rm)| self.request_match(&format!("{rpath}.matches[{m}]"), rm))
                    .collect()
            };
            let route = self.route(&rpath, &l.name, r, &matchers, default_body);
            let route = Arc::new(route);
            let hostnames: Arc<[HostPattern]> = hostnames.into();
            for matcher in matchers {
                let order = entries.len();
                entries.push(MatchEntry {
                    hostnames: hostnames.clone(),
                    matcher,
                    route: route.clone(),
                    order,
                });
            }
        }
        RouteTable::new(entries)
    }

    fn request_match(&mut self, path: &str, m: &file::RouteMatch) -> Option<RequestMatch> {
        let mut ok = true;
        let path_matcher = match &m.path {
            None => PathMatcher::prefix("/"),
            Some(file::PathMatch::Exact(p)) | Some(file::PathMatch::Prefix(p))
                if !p.starts_with('/') =>
            {
                self.err(
                    format!("{path}.path"),
                    format!("path {p:?} must start with /"),
                );
                ok = false;
                PathMatcher::prefix("/")
            }
            Some(file::PathMatch::Exact(p)) => PathMatcher::Exact(p.clone()),
            Some(file::PathMatch::Prefix(p)) => PathMatcher::prefix(p),
            Some(file::PathMatch::Regex(r)) => match anchored(r) {
                Ok(re) => PathMatcher::Regex(re),
                Err(e) => {
                    self.err(format!("{path}.path.regex"), e);
                    ok = false;
                    PathMatcher::prefix("/")
                }
            },
        };
        let method = m.method.as_ref().and_then(|s| {
            match http::Method::from_bytes(s.to_ascii_uppercase().as_bytes()) {
                Ok(m) => Some(m),
                Err(_) => {
                    self.err(format!("{path}.method"), format!("invalid method {s:?}"));
                    ok = false;
                    None
                }
            }
        });
        let mut headers = Vec::new();
        for (h, v) in m.headers.iter().enumerate() {
            let hpath = format!("{path}.headers[{h}]");
            let name = match HeaderName::from_bytes(v.name.as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    self.err(
                        format!("{hpath}.name"),
                        format!("invalid header name {:?}", v.name),
                    );
                    ok = false;
                    continue;
                }
            };
            match self.value_match(&hpath, v) {
                Some(cond) => headers.push((name, cond)),
                None => ok = false,
            }
        }
        let mut query = Vec::new();
        for (q, v) in m.query.iter().enumerate() {
            match self.value_match(&format!("{path}.query[{q}]"), v) {
                Some(cond) => query.push((v.name.clone(), cond)),
                None => ok = false,
            }
        }
        ok.then_some(RequestMatch {
            path: path_matcher,
            method,
            headers,
            query,
        })
    }

    fn value_match(&mut self, path: &str, v: &file::ValueMatch) -> Option<ValueMatcher> {
        match (&v.value, &v.regex) {
            (Some(value), None) => Some(ValueMatcher::Exact(value.clone())),
            (None, Some(r)) => match anchored(r) {
                Ok(re) => Some(ValueMatcher::Regex(re)),
                Err(e) => {
                    self.err(format!("{path}.regex"), e);
                    None
                }
            },
            _ => {
                self.err(path, "write exactly one of value or regex");
                None
            }
        }
    }

    fn route(
        &mut self,
        rpath: &str,
        listener: &str,
        r: &'a file::Route,
        matchers: &[RequestMatch],
        default_body: u64,
    ) -> Route {
        let empty = file::Policies::default();
        let p = r.policies.as_ref().unwrap_or(&empty);
        let ppath = format!("{rpath}.policies");
        let mut policies = RoutePolicies {
            max_request_body: default_body,
            ..Default::default()
        };
        self.shared_policies(&ppath, p, Level::Route);
        policies.request_headers = self.header_modifier(
            &format!("{ppath}.requestHeaderModifier"),
            p.request_header_modifier.as_ref(),
        );
        policies.response_headers = self.header_modifier(
            &format!("{ppath}.responseHeaderModifier"),
            p.response_header_modifier.as_ref(),
        );
        policies.rewrite = p
            .url_rewrite
            .as_ref()
            .map(|u| self.url_rewrite(&format!("{ppath}.urlRewrite"), u, matchers));
        policies.redirect = p
            .request_redirect
            .as_ref()
            .map(|rd| self.redirect(&format!("{ppath}.requestRedirect"), rd, matchers));
        policies.mirror = p
            .request_mirror
            .as_ref()
            .and_then(|m| self.mirror(&format!("{ppath}.requestMirror"), m));
        policies.cors = p
            .cors
            .as_ref()
            .map(|c| self.cors(&format!("{ppath}.cors"), c));
        policies.timeouts = timeouts(p.timeout.as_ref());
        policies.retry = p
            .retry
            .as_ref()
            .map(|rt| self.retry(&format!("{ppath}.retry"), rt));
        if let Some(b) = p.max_request_body {
            policies.max_request_body = b.0;
        }
        if policies.redirect.is_some() && policies.rewrite.is_some() {
            self.err(
                format!("{ppath}.urlRewrite"),
                "requestRedirect and urlRewrite cannot be used together",
            );
        }

        let mut backends = Vec::new();
        for (b, entry) in r.backends.iter().enumerate() {
            if let Some(rb) = self.route_backend(&format!("{rpath}.backends[{b}]"), entry, matchers)
            {
                backends.push(rb);
            }
        }
        if r.backends.is_empty() && policies.redirect.is_none() {
            self.err(
                format!("{rpath}.backends"),
                "a route needs at least one backend (or a requestRedirect policy)",
            );
        }
        let total_weight = backends.iter().map(|b| u64::from(b.weight)).sum();
        Route {
            key: format!("{listener}/{}", r.name).into(),
            policies,
            backends,
            total_weight,
            metrics: Default::default(),
        }
    }

    fn route_backend(
        &mut self,
        path: &str,
        e: &'a file::RouteBackend,
        matchers: &[RequestMatch],
    ) -> Option<RouteBackend> {
        let (name, target, named_policies): (Arc<str>, BackendTarget, Option<&file::Policies>) =
            match (&e.backend, &e.host) {
                (Some(name), None) => match self.named.get(name.as_str()) {
                    Some((_, nb)) => {
                        let host = nb.host.as_deref().and_then(|h| Upstream::parse(h).ok())?;
                        (
                            name.as_str().into(),
                            BackendTarget::Host(host),
                            nb.policies.as_ref(),
                        )
                    }
                    None => {
                        let known: Vec<&str> = self.named.keys().copied().collect();
                        self.err(
                            format!("{path}.backend"),
                            format!("no backend named {name:?}{}", suggest(name, &known)),
                        );
                        return None;
                    }
                },
                (None, Some(host)) => match Upstream::parse(host) {
                    Ok(u) => (host.as_str().into(), BackendTarget::Host(u), None),
                    Err(msg) => {
                        self.err(format!("{path}.host"), msg);
                        return None;
                    }
                },
                _ => {
                    self.err(
                        path,
                        "write exactly one of backend (a name) or host (host:port)",
                    );
                    return None;
                }
            };
        let mut policies = BackendPolicies::default();
        // The named backend's policies first, then the entry's, which win.
        let named_path = e
            .backend
            .as_ref()
            .and_then(|n| self.named.get(n.as_str()))
            .map(|(i, _)| format!("backends[{i}].policies"));
        let layers = [
            (named_path, named_policies),
            (Some(format!("{path}.policies")), e.policies.as_ref()),
        ];
        for (lpath, p) in layers {
            let (Some(lpath), Some(p)) = (lpath, p) else {
                continue;
            };
            self.shared_policies(&lpath, p, Level::Backend);
            if let Some(m) = self.header_modifier(
                &format!("{lpath}.requestHeaderModifier"),
                p.request_header_modifier.as_ref(),
            ) {
                policies.request_headers = Some(m);
            }
            if let Some(m) = self.header_modifier(
                &format!("{lpath}.responseHeaderModifier"),
                p.response_header_modifier.as_ref(),
            ) {
                policies.response_headers = Some(m);
            }
            if let Some(u) = &p.url_rewrite {
                policies.rewrite =
                    Some(self.url_rewrite(&format!("{lpath}.urlRewrite"), u, matchers));
            }
            if let Some(m) = &p.request_mirror {
                policies.mirror = self.mirror(&format!("{lpath}.requestMirror"), m);
            }
            let t = timeouts(p.timeout.as_ref());
            policies.timeouts.request = t.request.or(policies.timeouts.request);
            policies.timeouts.backend_request =
                t.backend_request.or(policies.timeouts.backend_request);
            if let Some(r) = &p.retry {
                policies.retry = Some(self.retry(&format!("{lpath}.retry"), r));
            }
        }
        Some(RouteBackend {
            name,
            weight: e.weight.unwrap_or(1),
            target,
            policies,
            health: Default::default(),
        })
    }

    /// Checks that apply to a policy block wherever it sits.
    fn shared_policies(&mut self, path: &str, p: &file::Policies, level: Level) {
        let unsupported = [
            ("a2a", p.a2a.is_some()),
            ("backendAuth", p.backend_auth.is_some()),
            ("jwtAuth", p.jwt_auth.is_some()),
            ("apiKeyAuth", p.api_key_auth.is_some()),
            ("basicAuth", p.basic_auth.is_some()),
            ("mcpAuthentication", p.mcp_authentication.is_some()),
            ("mcpAuthorization", p.mcp_authorization.is_some()),
            ("authorization", p.authorization.is_some()),
            ("localRateLimit", p.local_rate_limit.is_some()),
        ];
        for (key, present) in unsupported {
            if present {
                self.err(format!("{path}.{key}"), format!("not supported yet: {key}"));
            }
        }
        if level == Level::Backend {
            let route_only = [
                ("requestRedirect", p.request_redirect.is_some()),
                ("cors", p.cors.is_some()),
                ("maxRequestBody", p.max_request_body.is_some()),
            ];
            for (key, present) in route_only {
                if present {
                    self.err(
                        format!("{path}.{key}"),
                        format!("{key} applies to a whole route; move it to the route's policies"),
                    );
                }
            }
        }
    }

    fn header_modifier(
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

    fn path_rewrite(
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

    fn url_rewrite(
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

    fn redirect(
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

    fn mirror(&mut self, path: &str, m: &file::RequestMirror) -> Option<Mirror> {
        let pct = m.percentage.unwrap_or(100.0);
        if !(0.0..=100.0).contains(&pct) {
            self.err(format!("{path}.percentage"), "must be between 0 and 100");
        }
        let upstream = match (&m.backend.host, &m.backend.backend) {
            (Some(h), None) => Upstream::parse(h)
                .map_err(|e| self.err(format!("{path}.backend.host"), e))
                .ok(),
            (None, Some(name)) => {
                match self.named.get(name.as_str()).map(|(_, b)| b.host.clone()) {
                    Some(Some(h)) => Upstream::parse(&h).ok(),
                    Some(None) => {
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
                }
            }
            _ => {
                self.err(
                    format!("{path}.backend"),
                    "write exactly one of host or backend",
                );
                None
            }
        }?;
        Some(Mirror {
            upstream,
            percentage: pct.clamp(0.0, 100.0),
        })
    }

    fn cors(&mut self, path: &str, c: &file::Cors) -> Cors {
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

    fn retry(&mut self, path: &str, r: &file::Retry) -> Retry {
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
}

fn timeouts(t: Option<&file::Timeout>) -> Timeouts {
    Timeouts {
        request: t
            .and_then(|t| t.request)
            .map(|d| d.0)
            .filter(|d| !d.is_zero()),
        backend_request: t
            .and_then(|t| t.backend_request)
            .map(|d| d.0)
            .filter(|d| !d.is_zero()),
    }
}

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regular expression: {e}"))
}

fn decode_key(k: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(k.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k.trim()))
        .map_err(|_| "sessionKey must be base64 (try: openssl rand -base64 32)".to_string())?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "sessionKey must be 32 bytes, got {} (try: openssl rand -base64 32)",
            b.len()
        )
    })
}

/// ` (did you mean "x"?)` when a known name is close.
fn suggest(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
#[path = "lower_tests.rs"]
mod tests;
