//! Lowering `authorization` and `mcpAuthorization`: rules compiled at load, each broken rule
//! an error at its own key and line, where each may be written, and the phases they become.

use super::*;
use crate::model::plan::{RoutePhase, Terminal};

/// A route to a host backend with `policies`, written as YAML lines under `policies:`.
fn host_route(policies: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: api
      policies:
{policies}
      backends: [{{ host: "127.0.0.1:8" }}]
"#
    )
}

/// A route to an mcp backend with `policies`, written as YAML lines under `policies:`.
fn mcp_route(policies: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: tools
      policies:
{policies}
      backends: [{{ backend: tools }}]
backends:
- name: tools
  mcp:
    targets:
    - {{ name: remote, mcp: {{ url: "http://127.0.0.1:3001/mcp" }} }}
"#
    )
}

#[test]
fn an_expression_that_does_not_parse_is_an_error_at_its_rule_and_line() {
    let yaml = host_route(
        r#"        authorization:
          rules:
          - allow: 'request.method == "GET"'
          - allow: 'request.method == '"#,
    );
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (line, path, message) = &errs[0];
    assert_eq!(
        path,
        "binds[0].listeners[0].routes[0].policies.authorization.rules[1].allow"
    );
    assert_eq!(*line, Some(11), "{errs:?}");
    assert!(message.contains("invalid CEL expression"), "{message}");
}

#[test]
fn every_broken_mcp_rule_is_reported_with_its_kind() {
    let yaml = mcp_route(
        r#"        mcpAuthorization:
          rules:
          - allow: 'jwt.sub == "alice"'
          - require: 'jtw.sub != ""'
          - deny: 'mcp.tool.args.x == 1'"#,
    );
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        has_error(
            &errs,
            "policies.mcpAuthorization.rules[1].require",
            "unknown variable `jtw`"
        ),
        "{errs:?}"
    );
    assert!(
        has_error(
            &errs,
            "policies.mcpAuthorization.rules[2].deny",
            "unknown field `mcp.tool.args`"
        ),
        "{errs:?}"
    );
    let line = |suffix: &str| {
        errs.iter()
            .find(|(_, p, _)| p.ends_with(suffix))
            .and_then(|(l, _, _)| *l)
    };
    assert_eq!(line("rules[1].require"), Some(11));
    assert_eq!(line("rules[2].deny"), Some(12));
}

#[test]
fn http_rules_cannot_read_mcp() {
    let yaml = host_route(
        r#"        authorization:
          rules: [{ deny: 'mcp.tool.name == "x"' }]"#,
    );
    let errs = errors(&yaml);
    assert!(
        has_error(
            &errs,
            "policies.authorization.rules[0].deny",
            "only in `mcpAuthorization`"
        ),
        "{errs:?}"
    );
}

#[test]
fn mcp_authorization_is_for_mcp_routes_and_both_are_route_level() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: api
      policies:
        mcpAuthorization: { rules: [{ allow: 'jwt.sub == "a"' }] }
      backends:
      - host: "127.0.0.1:8"
        policies: { authorization: { rules: [{ allow: 'true' }] } }
"#;
    let errs = errors(yaml);
    assert!(
        has_error(
            &errs,
            "routes[0].policies.mcpAuthorization",
            "does not apply to host backend \"127.0.0.1:8\": it decides MCP tools"
        ),
        "{errs:?}"
    );
    assert!(
        has_error(
            &errs,
            "backends[0].policies.authorization",
            "applies to a whole route"
        ),
        "{errs:?}"
    );
}

#[test]
fn unknown_keys_in_a_rule_are_refused_by_the_schema() {
    let yaml =
        host_route(r#"        authorization: { rules: [{ allow: 'true', deny: 'false' }] }"#);
    assert!(Source::from_str(&yaml, Path::new("test.yaml"), &|_| None).is_err());
    let yaml = host_route(r#"        authorization: { rules: [{ permit: 'true' }] }"#);
    assert!(Source::from_str(&yaml, Path::new("test.yaml"), &|_| None).is_err());
}

#[test]
fn authorize_runs_after_authenticate_and_empty_rules_are_no_phase() {
    let yaml = host_route(
        r#"        cors: { allowOrigins: ["*"] }
        apiKeyAuth: { keys: [{ name: ci, key: "0123456789abcdef" }] }
        authorization: { rules: [{ allow: 'apiKey.name == "ci"' }] }"#,
    );
    let m = lowered(&yaml);
    let route = route_for(&m, "/");
    assert!(
        matches!(
            route.plan.request.as_slice(),
            [
                RoutePhase::Cors(_),
                RoutePhase::Authenticate(_),
                RoutePhase::Authorize(a),
                RoutePhase::BodyLimit(_)
            ] if a.phase == ::authz::Phase::Http
        ),
        "{:?}",
        route.plan.request
    );
    let m = lowered(&host_route("        authorization: { rules: [] }"));
    let route = route_for(&m, "/");
    assert!(matches!(
        route.plan.request.as_slice(),
        [RoutePhase::BodyLimit(_)]
    ));
}

#[test]
fn an_mcp_route_hands_its_rules_to_the_server_and_may_gate_http_too() {
    let yaml = mcp_route(
        r#"        authorization: { rules: [{ allow: 'request.method != "DELETE"' }] }
        mcpAuthorization: { rules: [{ deny: 'mcp.tool.name == "x"' }] }"#,
    );
    let m = lowered(&yaml);
    let route = route_for(&m, "/");
    assert!(matches!(
        route.plan.request.as_slice(),
        [RoutePhase::Authorize(_), RoutePhase::BodyLimit(_)]
    ));
    match &route.backends[0].plan.terminal {
        Terminal::Mcp {
            policy: Some(p), ..
        } => {
            assert_eq!(&*p.route, "l/tools");
            assert!(p.authorization.as_ref().is_some_and(|r| !r.is_empty()));
        }
        other => panic!("{other:?}"),
    }
    // Without rules the server gets no policy: nothing is checked per request.
    let m = lowered(&mcp_route("        mcpAuthorization: { rules: [] }"));
    let route = route_for(&m, "/");
    assert!(matches!(
        route.backends[0].plan.terminal,
        Terminal::Mcp { policy: None, .. }
    ));
}

#[test]
fn an_a2a_route_compiles_its_rules_as_a2a() {
    let yaml = host_route(
        r#"        a2a: {}
        authorization: { rules: [{ allow: 'request.method == "GET"' }] }"#,
    );
    let m = lowered(&yaml);
    let route = route_for(&m, "/");
    assert!(route
        .plan
        .request
        .iter()
        .any(|p| matches!(p, RoutePhase::Authorize(a) if a.phase == ::authz::Phase::A2a)));
}
