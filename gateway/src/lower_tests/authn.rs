//! Lowering `jwtAuth`, `apiKeyAuth` and `basicAuth`: errors at their keys, the phases they
//! become, and the credential kept only under `backendAuth: passthrough`.

use super::*;
use crate::model::plan::{RequestPhase, RoutePhase};

fn route(policies: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: api
      policies: {policies}
      backends: [{{ host: "127.0.0.1:8" }}]
"#
    )
}

#[test]
fn each_method_becomes_the_authenticate_phase() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("users");
    std::fs::write(&htpasswd, "bob:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\n").unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"e1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    )
    .unwrap();
    for policy in [
        format!("{{ basicAuth: {{ htpasswd: {:?} }} }}", htpasswd.display()),
        "{ apiKeyAuth: { header: x-key, keys: [{ name: a, key: \"0123456789abcdef\" }] } }".into(),
        format!(
            "{{ jwtAuth: {{ issuer: i, audiences: [a], jwks: {{ file: {:?} }} }} }}",
            jwks.display()
        ),
    ] {
        let m = lowered(&route(&policy));
        assert_eq!(m.authenticators.len(), 1, "{policy}");
        let r = route_for(&m, "/");
        assert!(
            matches!(
                r.plan.request.as_slice(),
                [RoutePhase::Authenticate(_), RoutePhase::BodyLimit(_)]
            ),
            "{policy}"
        );
        match r.backends[0].plan.request.first() {
            Some(RequestPhase::StripCredentials(names)) => {
                assert!(names.contains(&http::header::AUTHORIZATION), "{policy}")
            }
            _ => panic!("{policy}: credentials not stripped"),
        }
    }
}

#[test]
fn passthrough_keeps_the_credential() {
    let m = lowered(&route(
        "{ apiKeyAuth: { keys: [{ name: a, key: \"0123456789abcdef\" }] }, backendAuth: { passthrough: {} } }",
    ));
    let r = route_for(&m, "/");
    assert!(!r.backends[0]
        .plan
        .request
        .iter()
        .any(|p| matches!(p, RequestPhase::StripCredentials(_))));
}

#[test]
fn errors_name_the_key_path() {
    let errs = errors(&route(
        "{ jwtAuth: { issuer: i, audiences: [a], jwks: { file: /nonexistent/jwks.json } } }",
    ));
    assert!(
        has_error(&errs, "routes[0].policies.jwtAuth.jwks.file", "cannot read"),
        "{errs:?}"
    );
    let errs = errors(&route(
        "{ jwtAuth: { providers: [{ issuer: i, audiences: [a], jwks: { url: \"https://idp/j\" } }, { issuer: j, audiences: [], jwks: { url: \"https://idp/j\" } }] } }",
    ));
    assert!(
        has_error(
            &errs,
            "policies.jwtAuth.providers[1].audiences",
            "audiences"
        ),
        "{errs:?}"
    );
    let errs = errors(&route("{ basicAuth: { htpasswd: /nonexistent/users } }"));
    assert!(
        has_error(&errs, "policies.basicAuth.htpasswd", "cannot read"),
        "{errs:?}"
    );
    let errs = errors(&route(
        "{ apiKeyAuth: { keys: [{ name: a, key: short }] }, basicAuth: { htpasswd: x } }",
    ));
    assert!(
        has_error(
            &errs,
            "policies.basicAuth",
            "one of jwtAuth, apiKeyAuth, basicAuth or mcpAuthentication"
        ),
        "{errs:?}"
    );
    let errs = errors(&route(
        "{ apiKeyAuth: { keys: [{ name: a, key: short }] } }",
    ));
    assert!(
        has_error(&errs, "policies.apiKeyAuth.keys[0].key", "shorter"),
        "{errs:?}"
    );
}

#[test]
fn an_htpasswd_line_error_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("users");
    std::fs::write(
        &htpasswd,
        "# users\nbob:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\ncarol\n",
    )
    .unwrap();
    let errs = errors(&route(&format!(
        "{{ basicAuth: {{ htpasswd: {:?} }} }}",
        htpasswd.display()
    )));
    assert!(
        has_error(&errs, "policies.basicAuth.htpasswd", "line 3"),
        "{errs:?}"
    );
}

#[test]
fn authentication_is_route_level_and_the_rest_still_refused() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: api
      policies:
        mcpAuthorization: { rules: [] }
        authorization: {}
      backends:
      - host: "127.0.0.1:8"
        policies: { apiKeyAuth: { keys: [{ name: a, key: "0123456789abcdef" }] } }
"#;
    let errs = errors(yaml);
    assert!(
        has_error(
            &errs,
            "backends[0].policies.apiKeyAuth",
            "applies to a whole route"
        ),
        "{errs:?}"
    );
    // Rules are built: `mcpAuthorization` is refused only because this route is not MCP.
    assert!(
        has_error(
            &errs,
            "policies.mcpAuthorization",
            "does not apply to host backend"
        ),
        "{errs:?}"
    );
    assert!(!has_error(&errs, "policies.authorization", ""), "{errs:?}");
    assert!(!has_error(&errs, "", "not supported yet"), "{errs:?}");
}

#[test]
fn api_keys_are_redacted_from_the_effective_config() {
    let s = source(&route(
        "{ apiKeyAuth: { header: x-key, keys: [{ name: ci, key: \"0123456789abcdef-secret\", metadata: { team: infra } }] } }",
    ));
    let shown = s.redacted().to_string();
    assert!(!shown.contains("0123456789abcdef-secret"), "{shown}");
    assert!(shown.contains("apiKeyAuth"), "{shown}");
}
