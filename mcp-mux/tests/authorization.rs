//! `mcpAuthorization` in the virtual server, end to end on loopback: the Streamable HTTP front
//! served by axum (which, like the gateway, puts the route's policy and the caller's identity
//! in the request's extensions), two real rmcp targets over Streamable HTTP, and JSON-RPC
//! requests from reqwest for callers with different rules.
//!
//! Checked: lists of tools, prompts and resources filtered per caller; a denied call, get or
//! read answered exactly as the gateway answers a name it does not expose; a rule on the
//! call's arguments; a failing rule denying and counted; no policy, no filtering.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{http_server, Fixture, WAIT};
use mcp_mux::http::{HttpFront, HttpFrontConfig};
use mcp_mux::{McpPolicy, Multiplexer, MuxMetrics, Target};
use serde_json::{json, Value};

const RULES: &str = r#"
rules:
# alice may use everything (but see the deny rules).
- allow: 'apiKey.name == "alice"'
# bob: alpha's tools except `secret`, alpha's prompts, beta's resources.
- allow: 'apiKey.name == "bob" && mcp.tool.target == "alpha" && mcp.tool.name != "secret"'
- allow: 'apiKey.name == "bob" && mcp.prompt.target == "alpha"'
- allow: 'apiKey.name == "bob" && mcp.resource.target == "beta"'
# Nobody pays 100 or more.
- deny: 'mcp.tool.name == "pay" && mcp.tool.arguments.amount >= 100'
# mallory has no `level` in her metadata: this rule fails for her, and so denies.
- deny: 'apiKey.name == "mallory" && apiKey.metadata.level > 1'
- allow: 'apiKey.name == "mallory"'
"#;

/// Counts what the multiplexer reports about authorization.
#[derive(Default)]
struct Counts {
    denied: AtomicU64,
    rule_errors: AtomicU64,
}

impl MuxMetrics for Counts {
    fn authorization_denied(&self, _method: &str) {
        self.denied.fetch_add(1, Ordering::SeqCst);
    }
    fn authorization_rule_error(&self) {
        self.rule_errors.fetch_add(1, Ordering::SeqCst);
    }
}

struct Front {
    url: String,
    counts: Arc<Counts>,
    client: reqwest::Client,
    session: String,
}

impl Front {
    /// Two targets, `alpha` (tools echo, secret, pay) and `beta` (tool echo), each with a
    /// prompt `greet` and a resource `memo://notes/today`. `/mcp` has the rules; `/open` has
    /// no policy. The caller is the API key named in `x-user` (none: anonymous).
    async fn start() -> Self {
        let alpha = http_server(Fixture::new("alpha", &["echo", "secret", "pay"])).await;
        let beta = http_server(Fixture::new("beta", &["echo"])).await;
        let counts = Arc::new(Counts::default());
        let mux = Multiplexer::builder()
            .target(Target::http("alpha", alpha).expect("target"))
            .target(Target::http("beta", beta).expect("target"))
            .metrics(counts.clone())
            .build()
            .expect("build");
        let front =
            Arc::new(HttpFront::new(mux, HttpFrontConfig::default()).expect("system RNG works"));
        let set: authz::RuleSet = serde_json::from_value(yaml(RULES)).expect("rules");
        let rules = authz::CompiledRules::compile(&set, authz::Phase::Mcp).expect("compile");
        let policy = Arc::new(McpPolicy {
            route: "l/tools".into(),
            authorization: Some(Arc::new(rules)),
        });
        let serve = move |with_policy: bool| {
            let front = front.clone();
            let policy = policy.clone();
            axum::routing::any(move |req: axum::extract::Request| {
                let front = front.clone();
                let policy = policy.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let bytes = axum::body::to_bytes(body, 1 << 20)
                        .await
                        .unwrap_or_default();
                    if let Some(user) = parts.headers.get("x-user").and_then(|v| v.to_str().ok()) {
                        let identity =
                            authn::Identity::new(authn::Method::ApiKey(authn::ApiKeyIdentity {
                                name: user.to_owned(),
                                metadata: serde_json::Map::new(),
                            }));
                        parts.extensions.insert(identity);
                    }
                    if with_policy {
                        parts.extensions.insert(policy);
                    }
                    front
                        .serve(http::Request::from_parts(parts, bytes))
                        .await
                        .map(axum::body::Body::new)
                }
            })
        };
        let app = axum::Router::new()
            .route("/mcp", serve(true))
            .route("/open", serve(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .expect("client");
        let mut f = Front {
            url: format!("http://{addr}"),
            counts,
            client,
            session: String::new(),
        };
        f.session = f.initialize().await;
        f
    }

    async fn initialize(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "authz-test", "version": "1"}}});
        let resp = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await
            .expect("initialize");
        assert_eq!(resp.status(), 200);
        resp.headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_owned()
    }

    /// Sends `method` with `params` as `user` to `path`; the HTTP status and the JSON-RPC
    /// answer.
    async fn rpc(
        &self,
        path: &str,
        user: Option<&str>,
        method: &str,
        params: Value,
    ) -> (u16, Value) {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(u) = user {
            req = req.header("x-user", u);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).expect("JSON answer"))
    }

    /// The names (`name`, or `uri` / `uriTemplate`) in the list answering `method`.
    async fn names(
        &self,
        path: &str,
        user: Option<&str>,
        method: &str,
        field: &str,
    ) -> Vec<String> {
        let (status, answer) = self.rpc(path, user, method, json!({})).await;
        assert_eq!(status, 200, "{answer}");
        let key = match field {
            "tools" | "prompts" => "name",
            _ => "uri",
        };
        let mut names: Vec<String> = answer["result"][field]
            .as_array()
            .unwrap_or_else(|| panic!("{method}: {answer}"))
            .iter()
            .map(|t| t[key].as_str().expect("name").to_owned())
            .collect();
        names.sort();
        names
    }
}

fn yaml(text: &str) -> Value {
    // A tiny rule file: `- kind: 'expr'` lines under `rules:`.
    let rules: Vec<Value> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| {
            let (kind, expr) = l.split_once(": ").expect("kind: expr");
            json!({ kind: expr.trim().trim_matches('\'') })
        })
        .collect();
    json!({ "rules": rules })
}

/// The error of a JSON-RPC answer, with `name` written as `NAME` so that the answers for two
/// names compare.
fn error_shape(status: u16, answer: &Value, name: &str) -> (u16, String) {
    assert!(
        answer.get("result").is_none(),
        "expected an error: {answer}"
    );
    (status, answer["error"].to_string().replace(name, "NAME"))
}

#[tokio::test]
async fn lists_are_filtered_per_caller() {
    let f = Front::start().await;
    let tools = |user| f.names("/mcp", user, "tools/list", "tools");
    assert_eq!(
        tools(Some("alice")).await,
        ["alpha_echo", "alpha_pay", "alpha_secret", "beta_echo"]
    );
    assert_eq!(tools(Some("bob")).await, ["alpha_echo", "alpha_pay"]);
    assert!(
        tools(None).await.is_empty(),
        "anonymous: no allow rule matches"
    );
    // mallory's failing deny rule hides everything, and each failure is counted.
    assert!(tools(Some("mallory")).await.is_empty());
    assert!(f.counts.rule_errors.load(Ordering::SeqCst) >= 4);
    // Without a policy everything is listed.
    assert_eq!(
        f.names("/open", Some("bob"), "tools/list", "tools").await,
        ["alpha_echo", "alpha_pay", "alpha_secret", "beta_echo"]
    );

    let prompts = f
        .names("/mcp", Some("bob"), "prompts/list", "prompts")
        .await;
    assert_eq!(prompts, ["alpha_greet"]);
    let prompts = f
        .names("/mcp", Some("alice"), "prompts/list", "prompts")
        .await;
    assert_eq!(prompts, ["alpha_greet", "beta_greet"]);
    let resources = f
        .names("/mcp", Some("bob"), "resources/list", "resources")
        .await;
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert!(resources[0].contains("beta"), "{resources:?}");
    let resources = f
        .names("/mcp", Some("alice"), "resources/list", "resources")
        .await;
    assert_eq!(resources.len(), 2, "{resources:?}");
}

#[tokio::test]
async fn a_denied_call_fails_exactly_as_an_unknown_tool() {
    let f = Front::start().await;
    let call = |user, name: &str| {
        f.rpc(
            "/mcp",
            user,
            "tools/call",
            json!({"name": name, "arguments": {}}),
        )
    };
    // Allowed: the target answers.
    let (status, answer) = call(Some("bob"), "alpha_echo").await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["result"]["content"][0]["text"], "alpha:echo",
        "{answer}"
    );
    // Denied, and a name the gateway does not expose (no target `gamma`).
    let (s1, denied) = call(Some("bob"), "alpha_secret").await;
    let (s2, unknown) = call(Some("bob"), "gamma_secret").await;
    assert_eq!(
        error_shape(s1, &denied, "alpha_secret"),
        error_shape(s2, &unknown, "gamma_secret"),
        "denied: {denied}\nunknown: {unknown}"
    );
    assert_eq!(denied["error"]["code"], -32602, "{denied}");
    assert_eq!(denied["error"]["message"], "Unknown tool: alpha_secret");
    let (_, other_target) = call(Some("bob"), "beta_echo").await;
    assert_eq!(other_target["error"]["message"], "Unknown tool: beta_echo");
    assert_eq!(f.counts.denied.load(Ordering::SeqCst), 2);
    // The same tool for alice, who may.
    let (_, answer) = call(Some("alice"), "alpha_secret").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "alpha:secret",
        "{answer}"
    );
}

#[tokio::test]
async fn a_rule_on_the_arguments_decides_the_call() {
    let f = Front::start().await;
    let pay = |amount: Value| {
        f.rpc(
            "/mcp",
            Some("alice"),
            "tools/call",
            json!({"name": "alpha_pay", "arguments": {"amount": amount}}),
        )
    };
    let (_, small) = pay(json!(50)).await;
    assert_eq!(
        small["result"]["content"][0]["text"], "alpha:pay",
        "{small}"
    );
    let (_, large) = pay(json!(500)).await;
    assert_eq!(
        large["error"]["message"], "Unknown tool: alpha_pay",
        "{large}"
    );
    // Listed all the same: some arguments make it callable.
    let tools = f.names("/mcp", Some("alice"), "tools/list", "tools").await;
    assert!(tools.contains(&"alpha_pay".to_owned()), "{tools:?}");
}

#[tokio::test]
async fn denied_prompts_and_resources_fail_as_unknown_ones() {
    let f = Front::start().await;
    let get = |name: &str| f.rpc("/mcp", Some("bob"), "prompts/get", json!({"name": name}));
    let (_, ok) = get("alpha_greet").await;
    assert!(ok["result"]["messages"].is_array(), "{ok}");
    let (s1, denied) = get("beta_greet").await;
    let (s2, unknown) = get("gamma_greet").await;
    assert_eq!(
        error_shape(s1, &denied, "beta_greet"),
        error_shape(s2, &unknown, "gamma_greet"),
        "denied: {denied}\nunknown: {unknown}"
    );

    let resources = f
        .names("/mcp", Some("alice"), "resources/list", "resources")
        .await;
    let alpha = resources
        .iter()
        .find(|u| u.contains("alpha"))
        .expect("alpha's resource")
        .clone();
    let beta = resources
        .iter()
        .find(|u| u.contains("beta"))
        .expect("beta's resource")
        .clone();
    let read = |uri: &str| f.rpc("/mcp", Some("bob"), "resources/read", json!({"uri": uri}));
    let (_, ok) = read(&beta).await;
    assert!(ok["result"]["contents"].is_array(), "{ok}");
    let (s1, denied) = read(&alpha).await;
    let unknown_uri = alpha.replace("alpha", "gamma");
    let (s2, unknown) = read(&unknown_uri).await;
    assert_eq!(
        error_shape(s1, &denied, &alpha),
        error_shape(s2, &unknown, &unknown_uri),
        "denied: {denied}\nunknown: {unknown}"
    );
}

#[tokio::test]
async fn completions_and_subscriptions_of_denied_items_look_unknown() {
    let f = Front::start().await;
    // bob may not see beta's prompt: completing its argument fails as for a missing prompt.
    let complete = |name: &str| {
        f.rpc(
            "/mcp",
            Some("bob"),
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": name},
                   "argument": {"name": "x", "value": ""}}),
        )
    };
    let (s1, denied) = complete("beta_greet").await;
    let (s2, unknown) = complete("gamma_greet").await;
    assert_eq!(
        error_shape(s1, &denied, "beta_greet"),
        error_shape(s2, &unknown, "gamma_greet"),
        "denied: {denied}\nunknown: {unknown}"
    );
    // bob may not see alpha's resource: subscribing to it fails as for a missing one.
    let resources = f
        .names("/mcp", Some("alice"), "resources/list", "resources")
        .await;
    let alpha = resources
        .iter()
        .find(|u| u.contains("alpha"))
        .expect("alpha's resource")
        .clone();
    let nowhere = alpha.replace("alpha", "gamma");
    let subscribe = |uri: &str| {
        f.rpc(
            "/mcp",
            Some("bob"),
            "resources/subscribe",
            json!({ "uri": uri }),
        )
    };
    let (s1, denied) = subscribe(&alpha).await;
    let (s2, unknown) = subscribe(&nowhere).await;
    assert_eq!(
        error_shape(s1, &denied, &alpha),
        error_shape(s2, &unknown, &nowhere),
        "denied: {denied}\nunknown: {unknown}"
    );
    assert_eq!(denied["error"]["code"], -32002, "{denied}");
}
