//! Lowering `mcpAuthentication`: the `Authenticate` phase with the token stripped before the
//! targets, the listener's metadata table, and errors at their keys.

use super::*;
use crate::model::plan::{RequestPhase, RoutePhase};

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"e1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

/// A config with the given routes (YAML list items at 4 spaces), its JWKS file in `dir`.
fn config(dir: &std::path::Path, routes: &str) -> String {
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, JWKS).unwrap();
    format!(
        "binds:\n- port: 0\n  listeners:\n  - name: l\n    routes:\n{}",
        routes.replace("{jwks}", &jwks.display().to_string())
    )
}

const MCP_ROUTE: &str = r#"    - name: mcp
      matches: [{ path: { prefix: /mcp } }]
      policies:
        mcpAuthentication:
          resource: https://gw.example.com/mcp
          authorizationServers: [https://idp.example.com]
          scopes: [mcp:tools]
          jwks: { file: "{jwks}" }
      backends: [{ host: "127.0.0.1:8" }]
"#;

#[test]
fn becomes_the_authenticate_phase_and_the_listener_serves_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let m = lowered(&config(dir.path(), MCP_ROUTE));
    assert_eq!(m.authenticators.len(), 1);
    let r = route_for(&m, "/mcp");
    assert!(matches!(
        r.plan.request.as_slice(),
        [RoutePhase::Authenticate(_), RoutePhase::BodyLimit(_)]
    ));
    match r.backends[0].plan.request.first() {
        Some(RequestPhase::StripCredentials(names)) => {
            assert!(names.contains(&http::header::AUTHORIZATION))
        }
        _ => panic!("the token is not stripped"),
    }
    let table = &m.binds[0].listeners[0].discovery;
    let doc: serde_json::Value = serde_json::from_str(
        table
            .get("/.well-known/oauth-protected-resource/mcp")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["resource"], "https://gw.example.com/mcp");
    assert!(table.get("/.well-known/oauth-protected-resource").is_some());
}

#[test]
fn refused_with_another_authentication_policy() {
    let dir = tempfile::tempdir().unwrap();
    let routes = MCP_ROUTE.replace(
        "      policies:\n",
        "      policies:\n        jwtAuth: { issuer: i, audiences: [a], jwks: { file: \"{jwks}\" } }\n",
    );
    let errs = errors(&config(dir.path(), &routes));
    assert!(
        has_error(&errs, "policies.mcpAuthentication", "one of jwtAuth"),
        "{errs:?}"
    );
}

#[test]
fn errors_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let errs = errors(&config(
        dir.path(),
        &MCP_ROUTE.replace("https://gw.example.com/mcp", "http://gw.example.com/mcp"),
    ));
    assert!(
        has_error(&errs, "policies.mcpAuthentication.resource", "https"),
        "{errs:?}"
    );
    let errs = errors(&config(
        dir.path(),
        &MCP_ROUTE.replace("[https://idp.example.com]", "[]"),
    ));
    assert!(
        has_error(
            &errs,
            "policies.mcpAuthentication.authorizationServers",
            "at least one"
        ),
        "{errs:?}"
    );
}

#[test]
fn two_routes_with_different_metadata_at_one_path_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let second = MCP_ROUTE
        .replace("name: mcp", "name: mcp2")
        .replace("prefix: /mcp", "prefix: /other")
        .replace("[mcp:tools]", "[mcp:other]");
    let errs = errors(&config(dir.path(), &format!("{MCP_ROUTE}{second}")));
    assert!(
        has_error(
            &errs,
            "routes[1].policies.mcpAuthentication.resource",
            "different metadata"
        ),
        "{errs:?}"
    );
    // Two resources: each at its path, no root document.
    let second = second.replace("gw.example.com/mcp", "gw.example.com/other");
    let m = lowered(&config(dir.path(), &format!("{MCP_ROUTE}{second}")));
    let table = &m.binds[0].listeners[0].discovery;
    assert!(table
        .get("/.well-known/oauth-protected-resource/mcp")
        .is_some());
    assert!(table
        .get("/.well-known/oauth-protected-resource/other")
        .is_some());
    assert!(table.get("/.well-known/oauth-protected-resource").is_none());
}
