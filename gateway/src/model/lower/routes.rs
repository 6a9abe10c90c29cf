//! Lowering routes: matches, weighted backends and the merge of backend-level policies.

use std::collections::HashSet;
use std::sync::Arc;

use http::HeaderName;

use super::plan::{backend_plan, route_plan, BackendTarget};
use super::{anchored, suggest, timeouts, Level, Lowering};
use crate::config::file;
use crate::model::host::HostPattern;
use crate::model::matcher::{MatchEntry, PathMatcher, RequestMatch, RouteTable, ValueMatcher};
use crate::model::plan::McpBackendSpec;
use crate::model::policy::{BackendPolicies, RoutePolicies};
use crate::model::route::{Route, RouteBackend};
use crate::model::upstream::Upstream;

/// A route's backend entry, lowered, before its plan is compiled.
struct LoweredBackend {
    name: Arc<str>,
    weight: u32,
    target: BackendTarget,
    policies: BackendPolicies,
}

impl<'a> Lowering<'a> {
    pub(super) fn routes(
        &mut self,
        lpath: &str,
        l: &'a file::Listener,
        default_body: u64,
    ) -> RouteTable {
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

    pub(super) fn request_match(
        &mut self,
        path: &str,
        m: &file::RouteMatch,
    ) -> Option<RequestMatch> {
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

    pub(super) fn value_match(&mut self, path: &str, v: &file::ValueMatch) -> Option<ValueMatcher> {
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

    pub(super) fn route(
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
        self.policy_placement(&ppath, p, Level::Route);
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
        policies.authn = self.authn(&ppath, p);
        let route_key = format!("{listener}/{}", r.name);
        policies.authorization = self.authorization(&ppath, p);
        policies.mcp = self.mcp_policy(&ppath, p, &route_key);
        policies.timeouts = timeouts(p.timeout.as_ref());
        policies.retry = p
            .retry
            .as_ref()
            .map(|rt| self.retry(&format!("{ppath}.retry"), rt));
        policies.a2a = p.a2a.as_ref().map(|a| self.a2a(&format!("{ppath}.a2a"), a));
        policies.backend_auth = self.backend_auth(&format!("{ppath}.backendAuth"), p);
        policies.backend_tls = p
            .backend_tls
            .as_ref()
            .and_then(|t| self.backend_tls(&format!("{ppath}.backendTLS"), t));
        if let Some(b) = p.max_request_body {
            policies.max_request_body = b.0;
        }
        if policies.redirect.is_some() && policies.rewrite.is_some() {
            self.err(
                format!("{ppath}.urlRewrite"),
                "requestRedirect and urlRewrite cannot be used together",
            );
        }

        let route_key = format!("{listener}/{}", r.name);
        let limits = self.rate_limits(&ppath, &route_key, p);
        policies.rate_limits = limits.route;
        policies.tool_limits = limits.tools;
        policies.token_budgets = self.token_budgets(&ppath, &route_key, p);
        policies.prompt_guard = p
            .prompt_guard
            .as_ref()
            .and_then(|g| self.prompt_guard(&format!("{ppath}.promptGuard"), g));
        let mut backends = Vec::new();
        for (b, entry) in r.backends.iter().enumerate() {
            let bpath = format!("{rpath}.backends[{b}]");
            let Some(lowered) = self.route_backend(&bpath, &route_key, entry, matchers) else {
                continue;
            };
            self.policy_applies(&ppath, p, lowered.target.kind(), &lowered.name);
            if matches!(lowered.target, BackendTarget::Pool(_))
                && (lowered.policies.backend_tls.is_some() || policies.backend_tls.is_some())
            {
                self.err(
                    &bpath,
                    format!(
                        "backendTLS is not supported on inferencePool backend {:?} yet (its \
                         model servers are reached over plain HTTP)",
                        lowered.name
                    ),
                );
            }
            backends.push(RouteBackend {
                plan: backend_plan(&policies, lowered.policies, lowered.target),
                name: lowered.name,
                weight: lowered.weight,
                health: Default::default(),
            });
        }
        let not_mcp = backends
            .iter()
            .find(|b| !matches!(b.plan.terminal, crate::model::plan::Terminal::Mcp { .. }));
        if let Some(b) = not_mcp {
            for path in &limits.tool_paths {
                self.err(
                    path,
                    format!(
                        "per: tool limits the calls of MCP tools; backend {:?} of this route is \
                         not an mcp backend (use per: route or per: identity)",
                        b.name
                    ),
                );
            }
        }
        if r.backends.is_empty() && policies.redirect.is_none() {
            self.err(
                format!("{rpath}.backends"),
                "a route needs at least one backend (or a requestRedirect policy)",
            );
        }
        let total_weight = backends.iter().map(|b| u64::from(b.weight)).sum();
        let llm_route = !backends.is_empty()
            && backends
                .iter()
                .all(|b| matches!(b.plan.terminal, crate::model::plan::Terminal::Ai(_)));
        Route {
            key: route_key.into(),
            plan: route_plan(&policies, llm_route),
            backends,
            total_weight,
            metrics: Default::default(),
        }
    }

    fn route_backend(
        &mut self,
        path: &str,
        route_key: &str,
        e: &'a file::RouteBackend,
        matchers: &[RequestMatch],
    ) -> Option<LoweredBackend> {
        if let Some(code) = e.status {
            if e.backend.is_some() || e.host.is_some() {
                self.err(path, "write exactly one of backend, host or status");
                return None;
            }
            if e.policies.is_some() {
                self.err(
                    format!("{path}.policies"),
                    "an entry with status sends nothing upstream: its policies would never apply",
                );
                return None;
            }
            let Ok(status) = http::StatusCode::from_u16(code) else {
                self.err(
                    format!("{path}.status"),
                    format!("{code} is not an HTTP status"),
                );
                return None;
            };
            return Some(LoweredBackend {
                name: format!("status/{code}").into(),
                weight: e.weight.unwrap_or(1),
                target: BackendTarget::Status(status),
                policies: BackendPolicies::default(),
            });
        }
        let (name, target, named_policies): (Arc<str>, BackendTarget, Option<&file::Policies>) =
            match (&e.backend, &e.host) {
                (Some(name), None) => match self.named.get(name.as_str()).copied() {
                    Some((i, nb)) => {
                        let target = match (&nb.host, &nb.mcp, &nb.ai) {
                            (Some(h), _, _) => BackendTarget::Host(Upstream::parse(h).ok()?),
                            (None, None, Some(ai)) => BackendTarget::Ai(self.named_ai(i, nb, ai)?),
                            (None, None, None) => match &nb.inference_pool {
                                Some(pool) => {
                                    BackendTarget::Pool(self.named_pool(i, &nb.name, pool)?)
                                }
                                None => return None,
                            },
                            (None, Some(mcp), _) => {
                                let built = (self.build_mcp)(McpBackendSpec {
                                    route: route_key,
                                    name,
                                    config: mcp,
                                    base_dir: &self.source.base_dir,
                                    session_key: self.session_key,
                                });
                                match built {
                                    Ok(b) => BackendTarget::Mcp(b),
                                    Err(e) => {
                                        let at = match e.at {
                                            Some(at) => format!("backends[{i}].mcp.{at}"),
                                            None => format!("backends[{i}].mcp"),
                                        };
                                        self.err(at, e.message);
                                        return None;
                                    }
                                }
                            }
                        };
                        (name.as_str().into(), target, nb.policies.as_ref())
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
                        "write exactly one of backend (a name), host (host:port) or status",
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
            self.policy_placement(&lpath, p, Level::Backend);
            self.policy_applies(&lpath, p, target.kind(), &name);
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
            if let Some(auth) = self.backend_auth(&format!("{lpath}.backendAuth"), p) {
                policies.backend_auth = Some(auth);
            }
            if let Some(t) = &p.backend_tls {
                policies.backend_tls = self.backend_tls(&format!("{lpath}.backendTLS"), t);
            }
        }
        Some(LoweredBackend {
            name,
            weight: e.weight.unwrap_or(1),
            target,
            policies,
        })
    }
}
