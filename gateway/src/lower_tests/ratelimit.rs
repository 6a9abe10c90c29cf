//! Lowering `localRateLimit` and `rateLimit`: mistakes at their key paths, the phase placed
//! after authentication, `per: tool` only on MCP routes, nothing added without limits, and
//! limiter state taken over by a reload that did not change it.

use std::sync::Arc;

use super::*;
use crate::model::plan::{ResponsePhase, RoutePhase, Terminal};

const MCP_BACKEND: &str = r#"
backends:
- name: tools
  mcp:
    targets:
    - { name: remote, mcp: { url: "http://127.0.0.1:3001/mcp" } }
"#;

fn route(policies: &str, backend: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: api
      policies:
{policies}
      backends: [{backend}]
{MCP_BACKEND}"#
    )
}

const HOST: &str = r#"{ host: "127.0.0.1:8" }"#;
const MCP: &str = "{ backend: tools }";

#[test]
fn mistakes_are_reported_at_their_key_paths_and_lines() {
    let yaml = route(
        r#"        localRateLimit:
        - { maxTokens: 1, tokensPerFill: 1, fillInterval: 1s }
        - { maxTokens: 0, tokensPerFill: 1, fillInterval: 1s }
        rateLimit:
          store: { redis: { url: "rediss://h:1" } }
          limits: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 0ms }]"#,
        HOST,
    );
    let errs = errors(&yaml);
    let at = |path: &str| {
        errs.iter()
            .find(|(_, p, _)| p == &format!("binds[0].listeners[0].routes[0].policies.{path}"))
            .unwrap_or_else(|| panic!("no error at {path}: {errs:#?}"))
    };
    let (line, _, msg) = at("localRateLimit[1].maxTokens");
    assert_eq!(*line, Some(10), "{msg}");
    assert!(msg.contains("at least 1"), "{msg}");
    assert!(at("rateLimit.store.redis.url")
        .2
        .contains("not supported yet"));
    let (line, _, msg) = at("rateLimit.limits[0].fillInterval");
    assert_eq!(*line, Some(13), "{msg}");
}

#[test]
fn per_tool_is_refused_on_a_route_without_an_mcp_backend() {
    let yaml = route(
        "        localRateLimit: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1s, per: tool }]",
        HOST,
    );
    let errs = errors(&yaml);
    assert!(
        has_error(&errs, "localRateLimit[0].per", "not an mcp backend"),
        "{errs:#?}"
    );
}

#[test]
fn the_phase_follows_authentication_and_tool_limits_go_to_the_mcp_server() {
    let yaml = route(
        r#"        cors: { allowOrigins: ["*"] }
        apiKeyAuth: { keys: [{ name: ci, key: "0123456789abcdef" }] }
        localRateLimit:
        - { maxTokens: 5, tokensPerFill: 5, fillInterval: 1s, per: identity }
        - { maxTokens: 2, tokensPerFill: 1, fillInterval: 1s, per: tool }"#,
        MCP,
    );
    let m = lowered(&yaml);
    let route = route_for(&m, "/");
    assert!(
        matches!(
            route.plan.request.as_slice(),
            [
                RoutePhase::Cors(_),
                RoutePhase::Authenticate(_),
                RoutePhase::RateLimit(l),
                RoutePhase::BodyLimit(_)
            ] if l.local.len() == 1 && l.needs_identity()
        ),
        "{:?}",
        route.plan.request
    );
    let plan = &route.backends[0].plan;
    assert!(matches!(
        plan.terminal,
        Terminal::Mcp {
            tool_limit: Some(_),
            ..
        }
    ));
    assert!(matches!(
        plan.response.as_slice(),
        [ResponsePhase::Cors, ResponsePhase::RateLimitHeaders]
    ));
}

#[test]
fn without_limits_nothing_is_added() {
    let m = lowered(&route("        timeout: { request: 5s }", MCP));
    let route = route_for(&m, "/");
    assert!(matches!(
        route.plan.request.as_slice(),
        [RoutePhase::BodyLimit(_)]
    ));
    let plan = &route.backends[0].plan;
    assert!(matches!(
        plan.terminal,
        Terminal::Mcp {
            tool_limit: None,
            ..
        }
    ));
    assert!(plan.response.is_empty());
}

fn limits(m: &Model) -> Arc<crate::model::ratelimit::Limits> {
    match route_for(m, "/").plan.request.as_slice() {
        [RoutePhase::RateLimit(l), ..] => l.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reload_keeps_unchanged_buckets_and_shares_stores() {
    let policies = |max: u64| {
        format!(
            r#"        localRateLimit: [{{ maxTokens: {max}, tokensPerFill: 1, fillInterval: 1h }}]
        rateLimit:
          store: {{ redis: {{ url: "redis://127.0.0.1:1" }} }}
          limits: [{{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1s }}]"#
        )
    };
    let first = lowered(&route(&policies(3), HOST));
    let a = limits(&first);
    assert!(a.local[0].limiter.check("").allowed);
    let again = lowered(&route(&policies(3), HOST));
    let b = limits(&again);
    assert!(Arc::ptr_eq(&a.local[0].limiter, &b.local[0].limiter));
    assert_eq!(
        b.local[0].limiter.check("").remaining,
        1,
        "the count went on"
    );
    let global = |l: &crate::model::ratelimit::Limits| l.global.as_ref().unwrap().store.clone();
    assert!(Arc::ptr_eq(&global(&a), &global(&b)), "one store per URL");
    let changed = lowered(&route(&policies(4), HOST));
    let c = limits(&changed);
    assert!(!Arc::ptr_eq(&a.local[0].limiter, &c.local[0].limiter));
    assert_eq!(
        c.local[0].limiter.check("").remaining,
        3,
        "a changed bucket starts full"
    );
}
