//! The access policy of the route a virtual MCP server serves (`mcpAuthorization`), and the
//! caller it is checked against.
//!
//! The embedder (the gateway) compiles the policy once per config load and puts it, as an
//! `Arc<McpPolicy>`, in the extensions of each HTTP request it hands to the
//! [`crate::http::HttpFront`], next to the caller's [`authn::Identity`] and [`ClientAddr`]. The
//! policy belongs to the route's plan, not to the server: a reload that only changes the rules
//! keeps the server, its sessions and its stdio processes.
//!
//! The front turns these into one [`Caller`] per request, only when the policy has rules (no
//! allocation and no evaluation otherwise), and the multiplexer asks it about every item:
//!
//! - lists (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`) leave
//!   out what [`authz::CompiledRules::check_listing`] denies;
//! - `tools/call`, `prompts/get`, `resources/read`, `completion/complete` and
//!   `resources/subscribe` of a denied item fail exactly as for an item that does not exist
//!   (the caller cannot tell a hidden item from a missing one).
//!
//! Later per-tool policies (rate limits) belong in [`McpPolicy`] beside `authorization`.

use std::net::IpAddr;
use std::sync::Arc;

use authz::{CompiledRules, IdentityView, Input, McpItem, McpKind, McpView, RequestView};

use crate::metrics::MuxMetrics;

/// The policies of one route's MCP endpoint, compiled. Put it in the request's extensions
/// (as `Arc<McpPolicy>`).
#[derive(Debug)]
pub struct McpPolicy {
    /// The route's key (`listener/route`), for logs.
    pub route: Arc<str>,
    /// `mcpAuthorization`; `None` (or no rules) allows everything.
    pub authorization: Option<Arc<CompiledRules>>,
}

/// The client's address, put in the request's extensions by the embedder (rules read it as
/// `request.sourceAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The caller of one request, as the rules see it: built by the front only when the route has
/// rules.
#[derive(Debug)]
pub struct Caller {
    route: Arc<str>,
    rules: Arc<CompiledRules>,
    identity: Option<authn::Identity>,
    method: http::Method,
    path: String,
    headers: http::HeaderMap,
    source: Option<IpAddr>,
}

/// An item a caller asks about: its kind, target, name (a resource's URI) at the target, and
/// a tool call's arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    pub kind: McpKind,
    pub target: &'a str,
    pub name: &'a str,
    pub arguments: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> Item<'a> {
    /// A tool, prompt or resource without call arguments.
    pub fn new(kind: McpKind, target: &'a str, name: &'a str) -> Self {
        Item {
            kind,
            target,
            name,
            arguments: None,
        }
    }
}

impl Caller {
    /// The caller of `req`, when its route has rules; `None` (nothing built) otherwise.
    pub fn of<B>(req: &http::Request<B>) -> Option<Arc<Caller>> {
        let policy = req.extensions().get::<Arc<McpPolicy>>()?;
        let rules = policy.authorization.as_ref().filter(|r| !r.is_empty())?;
        Some(Arc::new(Caller {
            route: policy.route.clone(),
            rules: rules.clone(),
            identity: req.extensions().get::<authn::Identity>().cloned(),
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
            source: req.extensions().get::<ClientAddr>().map(|a| a.0),
        }))
    }

    /// Whether the caller may see `item` in the answer to `method` (a list method).
    pub(crate) fn lists(&self, method: &str, item: Item<'_>, metrics: &dyn MuxMetrics) -> bool {
        let outcome = self.rules.check_listing(&self.input(method, item));
        self.settle(method, item, &outcome, metrics);
        outcome.allowed
    }

    /// Whether the caller may use `item` with `method` (a call, get, read...). A denial is
    /// counted; the caller then answers as for an unknown item.
    pub(crate) fn allows(&self, method: &str, item: Item<'_>, metrics: &dyn MuxMetrics) -> bool {
        let outcome = self.rules.evaluate(&self.input(method, item));
        self.settle(method, item, &outcome, metrics);
        if !outcome.allowed {
            metrics.authorization_denied(method);
            tracing::info!(route = %self.route, method, mcp_target = item.target, name = item.name,
                caller = self.identity.as_ref().map_or("", |i| i.subject()),
                reason = ?outcome.reason, "MCP request denied by mcpAuthorization");
        }
        outcome.allowed
    }

    /// Logs and counts the rules that failed to evaluate.
    fn settle(
        &self,
        method: &str,
        item: Item<'_>,
        outcome: &authz::Outcome,
        metrics: &dyn MuxMetrics,
    ) {
        for e in &outcome.errors {
            metrics.authorization_rule_error();
            tracing::warn!(route = %self.route, method, mcp_target = item.target, name = item.name,
                rule = e.rule, kind = %e.kind, error = %e.message,
                "mcpAuthorization rule failed to evaluate (it grants nothing)");
        }
    }

    fn input<'a>(&'a self, method: &'a str, item: Item<'a>) -> Input<'a> {
        Input {
            identity: self
                .identity
                .as_ref()
                .map(identity_view)
                .unwrap_or_default(),
            request: RequestView {
                method: self.method.as_str(),
                path: &self.path,
                headers: &self.headers,
                source_address: self.source,
            },
            mcp: Some(McpView {
                method,
                item: Some(McpItem {
                    kind: item.kind,
                    target: item.target,
                    name: item.name,
                    arguments: item.arguments,
                }),
            }),
        }
    }
}

/// The caller identity as rules see it. Shared with the gateway's HTTP `authorization` phase,
/// so both read an identity the same way.
pub fn identity_view(identity: &authn::Identity) -> IdentityView<'_> {
    match identity.method() {
        authn::Method::Jwt(j) => IdentityView {
            jwt: j.claims.as_object(),
            ..IdentityView::default()
        },
        authn::Method::ApiKey(k) => IdentityView {
            api_key: Some(authz::ApiKeyView {
                name: &k.name,
                metadata: Some(&k.metadata),
            }),
            ..IdentityView::default()
        },
        authn::Method::Basic(b) => IdentityView {
            basic_auth: Some(authz::BasicAuthView {
                username: &b.username,
            }),
            ..IdentityView::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(set: serde_json::Value) -> Arc<CompiledRules> {
        let set: authz::RuleSet = serde_json::from_value(set).unwrap();
        Arc::new(CompiledRules::compile(&set, authz::Phase::Mcp).unwrap())
    }

    fn request(policy: Option<Arc<McpPolicy>>) -> http::Request<()> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/mcp?x=1")
            .header("x-team", "infra")
            .body(())
            .unwrap();
        if let Some(p) = policy {
            req.extensions_mut().insert(p);
        }
        req
    }

    /// The hot path: without a policy, or with one without rules, nothing is built.
    #[test]
    fn no_rules_no_caller() {
        assert!(Caller::of(&request(None)).is_none());
        let empty = Arc::new(McpPolicy {
            route: "l/r".into(),
            authorization: Some(rules(serde_json::json!({"rules": []}))),
        });
        assert!(Caller::of(&request(Some(empty))).is_none());
        let none = Arc::new(McpPolicy {
            route: "l/r".into(),
            authorization: None,
        });
        assert!(Caller::of(&request(Some(none))).is_none());
    }

    /// The caller carries what rules read: identity, method, path without the query,
    /// headers and the client's address.
    #[test]
    fn the_caller_is_what_rules_see() {
        let policy = Arc::new(McpPolicy {
            route: "l/r".into(),
            authorization: Some(rules(serde_json::json!({"rules": [{"allow":
                "apiKey.name == 'ci' && apiKey.metadata.team == 'infra' \
                 && request.path == '/mcp' && request.method == 'POST' \
                 && request.headers['x-team'] == 'infra' \
                 && request.sourceAddress == '10.1.2.3' && mcp.tool.name == 'echo'"}]}))),
        });
        let mut req = request(Some(policy));
        let mut metadata = serde_json::Map::new();
        metadata.insert("team".into(), "infra".into());
        req.extensions_mut()
            .insert(authn::Identity::new(authn::Method::ApiKey(
                authn::ApiKeyIdentity {
                    name: "ci".into(),
                    metadata,
                },
            )));
        req.extensions_mut()
            .insert(ClientAddr("10.1.2.3".parse().unwrap()));
        let caller = Caller::of(&req).expect("rules: a caller");
        let metrics = crate::NoMetrics;
        let echo = Item::new(McpKind::Tool, "t", "echo");
        let other = Item::new(McpKind::Tool, "t", "other");
        assert!(caller.allows("tools/call", echo, &metrics));
        assert!(!caller.allows("tools/call", other, &metrics));
        assert!(caller.lists("tools/list", echo, &metrics));
        assert!(!caller.lists("tools/list", other, &metrics));
    }

    #[test]
    fn identity_views_of_each_method() {
        let jwt = authn::Identity::new(authn::Method::Jwt(authn::JwtIdentity {
            issuer: "i".into(),
            subject: Some("s".into()),
            claims: serde_json::json!({"sub": "s"}),
        }));
        let v = identity_view(&jwt);
        assert_eq!(v.jwt.and_then(|c| c.get("sub")), Some(&"s".into()));
        assert!(v.api_key.is_none() && v.basic_auth.is_none());
        let basic = authn::Identity::new(authn::Method::Basic(authn::BasicIdentity {
            username: "bob".into(),
        }));
        let v = identity_view(&basic);
        assert_eq!(v.basic_auth.map(|b| b.username), Some("bob"));
        assert!(v.jwt.is_none() && v.api_key.is_none());
    }
}
