//! `authorization` on HTTP and A2A routes, against the real binary: allow / deny / require
//! precedence for two API-key identities, the `403` (text, or JSON-RPC on an A2A route),
//! deny-only rules that let everyone else through, a rule that fails to evaluate denying (and
//! counted), preflights and discovery paths passing as they pass authentication, and
//! `validate` naming the line and key of a broken rule.

use e2e::{client, routes_config, run_switchboard, Gateway, Upstream};
use serde_json::Value;

use crate::get_with;

const ALICE: &str = "alice-key-0123456789";
const BOB: &str = "bob-key-0123456789ab";

/// Both routes' keys: alice (infra, level 3) and bob (web, no level).
const KEYS: &str = r#"apiKeyAuth:
      keys:
      - { name: alice, key: "alice-key-0123456789", metadata: { team: infra, level: 3 } }
      - { name: bob, key: "bob-key-0123456789ab", metadata: { team: web } }"#;

const ROUTES: &str = r#"
- name: rules
  matches: [{ path: { prefix: /rules } }]
  policies:
    cors: { allowOrigins: ["https://app.test"], allowMethods: [GET, POST], allowHeaders: [x-api-key] }
    KEYS
    authorization:
      rules:
      - allow: 'apiKey.name == "alice"'
      - allow: 'request.method == "GET" && apiKey.metadata.team == "web"'
      - deny: 'request.path == "/rules/forbidden"'
      - require: '!("x-blocked" in request.headers)'
  backends: [{ host: "{up}" }]
- name: deny-only
  matches: [{ path: { prefix: /deny-only } }]
  policies:
    KEYS
    authorization: { rules: [{ deny: 'apiKey.name == "bob"' }] }
  backends: [{ host: "{up}" }]
- name: failing
  matches: [{ path: { prefix: /failing } }]
  policies:
    KEYS
    authorization: { rules: [{ deny: 'apiKey.metadata.level < 2' }] }
  backends: [{ host: "{up}" }]
- name: source
  matches: [{ path: { prefix: /source } }]
  policies:
    authorization: { rules: [{ allow: 'request.sourceAddress == "127.0.0.1"' }] }
  backends: [{ host: "{up}" }]
- name: agent
  matches: [{ path: { prefix: /agent } }]
  policies:
    a2a: {}
    authorization: { rules: [{ allow: 'request.method == "GET"' }] }
  backends: [{ host: "{up}" }]
"#;

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start("up").await;
    let cfg = routes_config(&ROUTES.replace("KEYS", KEYS)).replace("{up}", &up.host());
    (up, Gateway::start(&cfg).await)
}

/// The status and body of a request with `key` (if any) and extra headers.
async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut rb = client().request(method, gw.url(path));
    if let Some(k) = key {
        rb = rb.header("x-api-key", k);
    }
    for (n, v) in headers {
        rb = rb.header(*n, *v);
    }
    let r = tokio::time::timeout(crate::STEP, rb.send())
        .await
        .expect("in time")
        .expect("response");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn denials(gw: &Gateway, route: &str, phase: &str) -> f64 {
    gw.metric_or_zero(
        "switchboard_authz_denials_total",
        &[("route", route), ("phase", phase)],
    )
    .await
}

#[tokio::test]
async fn allow_deny_and_require_decide_in_order_for_two_identities() {
    let (up, gw) = setup().await;
    use reqwest::Method as M;
    // alice: her allow rule.
    assert_eq!(send(&gw, M::GET, "/rules/x", Some(ALICE), &[]).await.0, 200);
    assert_eq!(
        send(&gw, M::POST, "/rules/x", Some(ALICE), &[]).await.0,
        200
    );
    // bob: only GET, through the metadata rule.
    assert_eq!(send(&gw, M::GET, "/rules/x", Some(BOB), &[]).await.0, 200);
    let before = up.hits();
    let (status, body) = send(&gw, M::POST, "/rules/x", Some(BOB), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "Forbidden: the route's authorization rules deny this request\n"
    );
    assert_eq!(
        up.hits(),
        before,
        "a denied request never reaches the upstream"
    );
    // A matching deny wins over alice's allow; a false require denies her too.
    assert_eq!(
        send(&gw, M::GET, "/rules/forbidden", Some(ALICE), &[])
            .await
            .0,
        403
    );
    let blocked = [("x-blocked", "1")];
    assert_eq!(
        send(&gw, M::GET, "/rules/x", Some(ALICE), &blocked).await.0,
        403
    );
    // No key: authentication answers first.
    assert_eq!(send(&gw, M::GET, "/rules/x", None, &[]).await.0, 401);
    assert_eq!(denials(&gw, "main/rules", "http").await, 3.0);
    // The denied cross-origin call's 403 is readable by the browser.
    let r = get_with(
        &client(),
        &gw.url("/rules/forbidden"),
        &[("origin", "https://app.test"), ("x-api-key", ALICE)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.test")
    );
    // The client's address: the route allows loopback callers.
    assert_eq!(send(&gw, M::GET, "/source/x", None, &[]).await.0, 200);
}

/// Regression (other gateways): a set of only deny rules denied everyone.
#[tokio::test]
async fn deny_only_rules_let_everyone_else_through() {
    let (_up, gw) = setup().await;
    use reqwest::Method as M;
    assert_eq!(
        send(&gw, M::GET, "/deny-only/x", Some(ALICE), &[]).await.0,
        200
    );
    assert_eq!(
        send(&gw, M::POST, "/deny-only/x", Some(ALICE), &[]).await.0,
        200
    );
    assert_eq!(
        send(&gw, M::GET, "/deny-only/x", Some(BOB), &[]).await.0,
        403
    );
}

#[tokio::test]
async fn a_rule_that_fails_to_evaluate_denies_and_is_counted() {
    let (_up, gw) = setup().await;
    use reqwest::Method as M;
    // alice has a level: the deny rule is false.
    assert_eq!(
        send(&gw, M::GET, "/failing/x", Some(ALICE), &[]).await.0,
        200
    );
    // bob has none: the rule fails, which denies.
    assert_eq!(send(&gw, M::GET, "/failing/x", Some(BOB), &[]).await.0, 403);
    let errors = gw
        .metric_or_zero(
            "switchboard_authz_rule_errors_total",
            &[("route", "main/failing")],
        )
        .await;
    assert_eq!(errors, 1.0);
    let log = gw
        .stderr_once(|s| s.contains("authorization rule failed to evaluate"))
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("authorization rule failed to evaluate"))
        .expect("the warning");
    assert!(
        line.contains("main/failing") && line.contains("rule=0") && line.contains("kind=deny"),
        "{line}"
    );
}

#[tokio::test]
async fn preflights_and_discovery_paths_are_not_refused() {
    let (_up, gw) = setup().await;
    let r = client()
        .request(reqwest::Method::OPTIONS, gw.url("/rules/x"))
        .header("origin", "https://app.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(r.status().is_success(), "{}", r.status());
    // No credential and no rule that matches: an agent card is still served, as
    // authentication lets it by...
    let (status, _) = send(
        &gw,
        reqwest::Method::GET,
        "/rules/.well-known/agent-card.json",
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    // ...but a `/.well-known/` segment below the root is the route's own content: the
    // route's authentication (strict) challenges a request without a key.
    let (status, _) = send(
        &gw,
        reqwest::Method::GET,
        "/rules/.well-known/oauth-protected-resource",
        None,
        &[],
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_a2a_route_refuses_a_call_in_json_rpc() {
    let (_up, gw) = setup().await;
    let r = client()
        .post(gw.url("/agent"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"message/send","params":{}}"#)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("JSON-RPC body");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("authorization rules")),
        "{body}"
    );
    assert_eq!(denials(&gw, "main/agent", "a2a").await, 1.0);
}

#[test]
fn validate_names_the_line_and_key_of_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = routes_config(
        "
- name: r
  policies:
    authorization:
      rules:
      - allow: 'request.method == \"GET\"'
      - allow: 'request.method =='
      - deny: 'jwt.sub == mcp.tool.name'
  backends: [{ host: \"127.0.0.1:1\" }]
",
    )
    .replace("{port}", "1");
    let line_of = |needle: &str| cfg.lines().position(|l| l.contains(needle)).unwrap() + 1;
    std::fs::write(dir.path().join("rules.yaml"), &cfg).unwrap();
    let out = run_switchboard(&["validate", "-c", "rules.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let syntax = format!("rules.yaml:{}:", line_of("- allow: 'request.method =='"));
    let key = "binds[0].listeners[0].routes[0].policies.authorization.rules[1].allow: invalid CEL";
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains(&syntax) && l.contains(key)),
        "{syntax} {key}\n{}",
        out.stderr
    );
    let phase = format!("rules.yaml:{}:", line_of("- deny: 'jwt.sub"));
    assert!(
        out.stderr.lines().any(|l| l.contains(&phase)
            && l.contains("policies.authorization.rules[2].deny")
            && l.contains("only in `mcpAuthorization`")),
        "{}",
        out.stderr
    );
}
