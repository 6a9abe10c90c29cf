//! Tests of lowering: semantic checks with their key paths and lines, and the model built.

use std::path::Path;

use crate::config::Source;
use crate::model::Model;

mod ai;
mod authn;
mod authz;
mod guard;
mod mcp_authn;
mod pool;
mod ratelimit;

/// The config lowered as the binary does, with real `mcp` backends.
fn lower(source: &Source) -> Result<Model, crate::config::ConfigErrors> {
    crate::model::lower(source, crate::mcp::build)
}

fn source(yaml: &str) -> Source {
    match Source::from_str(yaml, Path::new("test.yaml"), &|_| None) {
        Ok(s) => s,
        Err(e) => panic!("schema stage failed:\n{e}"),
    }
}

fn lowered(yaml: &str) -> Model {
    match lower(&source(yaml)) {
        Ok(m) => m,
        Err(e) => panic!("lowering failed:\n{e}"),
    }
}

fn errors(yaml: &str) -> Vec<(Option<usize>, String, String)> {
    match lower(&source(yaml)) {
        Ok(_) => panic!("expected errors"),
        Err(e) => {
            e.0.into_iter()
                .map(|d| (d.line, d.path, d.message))
                .collect()
        }
    }
}

/// Whether `errs` has an error at a key path ending in `path_suffix` whose message contains
/// `needle`.
fn has_error(errs: &[(Option<usize>, String, String)], path_suffix: &str, needle: &str) -> bool {
    errs.iter()
        .any(|(_, p, m)| p.ends_with(path_suffix) && m.contains(needle))
}

/// The route of the first listener that a GET of `uri` selects.
fn route_for(m: &Model, uri: &str) -> std::sync::Arc<crate::model::route::Route> {
    let parts = http::Request::builder()
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    m.binds[0].listeners[0]
        .routes
        .select(None, &parts)
        .map(|s| s.route.clone())
        .unwrap_or_else(|| panic!("no route for {uri}"))
}

fn select<'m>(
    m: &'m Model,
    host: &str,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Option<&'m str> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let parts = b.body(()).unwrap().into_parts().0;
    let bind = &m.binds[0];
    let listener = bind.listener_for(Some(host))?;
    listener
        .routes
        .select(Some(host), &parts)
        .map(|s| &*s.route.key)
}

const PRECEDENCE: &str = r#"
binds:
- port: 0
  listeners:
  - name: l
    routes:
    - { name: root, backends: [{ host: "127.0.0.1:1" }] }
    - { name: api, matches: [{ path: { prefix: /api } }], backends: [{ host: "127.0.0.1:1" }] }
    - { name: api-v1, matches: [{ path: { prefix: /api/v1 } }], backends: [{ host: "127.0.0.1:1" }] }
    - { name: exact, matches: [{ path: { exact: /api/v1/special } }], backends: [{ host: "127.0.0.1:1" }] }
    - { name: regex, matches: [{ path: { regex: "/items/[0-9]+" } }], backends: [{ host: "127.0.0.1:1" }] }
    - { name: post, matches: [{ path: { prefix: /api }, method: POST }], backends: [{ host: "127.0.0.1:1" }] }
    - name: header
      matches: [{ path: { prefix: /api }, headers: [{ name: x-env, value: prod }] }]
      backends: [{ host: "127.0.0.1:1" }]
    - name: query
      matches: [{ path: { prefix: /api }, query: [{ name: v, regex: "[2-3]" }] }]
      backends: [{ host: "127.0.0.1:1" }]
    - name: host
      hostnames: ["*.example.com"]
      matches: [{ path: { prefix: /api } }]
      backends: [{ host: "127.0.0.1:1" }]
    - name: host-exact
      hostnames: ["a.example.com"]
      backends: [{ host: "127.0.0.1:1" }]
"#;

#[test]
fn gateway_api_precedence() {
    let m = lowered(PRECEDENCE);
    let h = "gw.test";
    assert_eq!(select(&m, h, "GET", "/", &[]), Some("l/root"));
    assert_eq!(
        select(&m, h, "GET", "/apix", &[]),
        Some("l/root"),
        "prefix is segment-aware"
    );
    assert_eq!(select(&m, h, "GET", "/api/x", &[]), Some("l/api"));
    assert_eq!(
        select(&m, h, "GET", "/api/v1/x", &[]),
        Some("l/api-v1"),
        "longer prefix wins"
    );
    assert_eq!(
        select(&m, h, "GET", "/api/v1/special", &[]),
        Some("l/exact"),
        "exact wins"
    );
    assert_eq!(select(&m, h, "GET", "/items/42", &[]), Some("l/regex"));
    assert_eq!(
        select(&m, h, "GET", "/items/4x", &[]),
        Some("l/root"),
        "regex is anchored"
    );
    assert_eq!(
        select(&m, h, "POST", "/api/x", &[("x-env", "prod")]),
        Some("l/post"),
        "method beats headers"
    );
    assert_eq!(
        select(&m, h, "GET", "/api/x", &[("x-env", "prod")]),
        Some("l/header")
    );
    assert_eq!(select(&m, h, "GET", "/api/x?v=3", &[]), Some("l/query"));
    assert_eq!(select(&m, h, "GET", "/api/x?v=4", &[]), Some("l/api"));
    assert_eq!(
        select(&m, "b.example.com", "GET", "/api/x", &[]),
        Some("l/host"),
        "hostname beats path"
    );
    assert_eq!(
        select(&m, "a.example.com", "GET", "/api/x", &[]),
        Some("l/host-exact"),
        "exact host beats wildcard"
    );
}

#[test]
fn semantic_errors_are_all_reported_with_lines() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      matches: [{ path: { regex: "(" } }]
      backends: [{ backend: tols }]
    - name: a
      matches: [{ path: { exact: /x } }]
      policies:
        urlRewrite: { path: { prefix: /y } }
        requestHeaderModifier: { set: { "bad header": "1" } }
        localRateLimit: []
        jwtAuth: { issuer: x }
      backends: [{ host: "nope" }]
backends:
- { name: tools, host: "127.0.0.1:1" }
"#;
    let errs = errors(yaml);
    let find = |path: &str| {
        errs.iter()
            .find(|(_, p, _)| p == path)
            .unwrap_or_else(|| panic!("no error at {path}: {errs:#?}"))
    };
    assert_eq!(
        find("binds[0].listeners[0].routes[0].matches[0].path.regex").0,
        Some(7)
    );
    let (line, _, msg) = find("binds[0].listeners[0].routes[0].backends[0].backend");
    assert_eq!(*line, Some(8));
    assert!(msg.contains("did you mean \"tools\""), "{msg}");
    assert_eq!(find("binds[0].listeners[0].routes[1].name").0, Some(9));
    assert!(
        find("binds[0].listeners[0].routes[1].policies.urlRewrite.path.prefix")
            .2
            .contains("prefix match")
    );
    assert!(
        find("binds[0].listeners[0].routes[1].policies.localRateLimit")
            .2
            .contains("an empty list limits nothing")
    );
    let (line, _, msg) = find("binds[0].listeners[0].routes[1].policies.jwtAuth.jwks");
    assert_eq!(*line, Some(15));
    assert!(msg.contains("missing jwks"), "{msg}");
    assert!(find("binds[0].listeners[0].routes[1].backends[0].host")
        .2
        .contains("host:port"));
    assert!(
        errs.iter()
            .any(|(_, p, m)| p.contains("requestHeaderModifier.set")
                && m.contains("invalid header name")),
        "{errs:#?}"
    );
}

#[test]
fn route_only_policies_rejected_at_backend_level() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      backends:
      - host: "127.0.0.1:1"
        policies: { cors: { allowOrigins: ["*"] } }
"#;
    let errs = errors(yaml);
    assert!(
        has_error(&errs, "backends[0].policies.cors", "whole route"),
        "{errs:#?}"
    );
}

#[test]
fn listener_problems() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - { name: a, protocol: HTTPS }
  - { name: a, protocol: TCP }
  - { name: c, hostname: "bad host" }
"#;
    let errs = errors(yaml);
    let paths: Vec<&str> = errs.iter().map(|(_, p, _)| p.as_str()).collect();
    assert!(paths.contains(&"binds[0].listeners[0].tls"), "{paths:?}");
    assert!(paths.contains(&"binds[0].listeners[1].name"), "{paths:?}");
    assert!(
        paths.contains(&"binds[0].listeners[1].protocol"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"binds[0].listeners[2].hostname"),
        "{paths:?}"
    );
}

#[test]
fn backend_policies_merge_named_then_entry() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      policies: { timeout: { request: 5s } }
      backends:
      - backend: up
        policies: { timeout: { backendRequest: 1s }, retry: { attempts: 3 } }
backends:
- name: up
  host: "127.0.0.1:1"
  policies: { timeout: { backendRequest: 2s, request: 9s }, retry: { attempts: 1 } }
"#;
    let m = lowered(yaml);
    let route = route_for(&m, "/");
    // Merged once, at load: the entry's backendRequest and retry over the named backend's,
    // the named backend's request limit over the route's.
    let b = &route.backends[0];
    let crate::model::plan::Terminal::Forward(forward) = &b.plan.terminal else {
        panic!("a host backend ends in the reverse proxy");
    };
    assert_eq!(
        forward.timeouts.backend_request,
        Some(std::time::Duration::from_secs(1))
    );
    assert_eq!(
        forward.timeouts.request,
        Some(std::time::Duration::from_secs(9))
    );
    assert_eq!(forward.retry.as_ref().map(|r| r.attempts), Some(3));
    assert!(
        b.plan
            .request
            .iter()
            .any(|p| matches!(p, crate::model::plan::RequestPhase::BufferBody)),
        "a retried request keeps its body"
    );
}

#[test]
fn mcp_target_backend_auth_is_checked_at_load() {
    let config = |auth: &str| {
        format!(
            r#"
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: mcp
      backends: [{{ backend: tools }}]
backends:
- name: tools
  mcp:
    targets:
    - name: remote
      mcp: {{ url: "http://127.0.0.1:3001/mcp" }}
      policies: {{ backendAuth: {auth} }}
"#
        )
    };
    lowered(&config("{ key: { header: x-api-key, value: secret } }"));
    lowered(&config(
        "{ oauth2: { tokenUrl: 'http://127.0.0.1:1/t', clientId: c, clientSecret: s } }",
    ));

    let errs = errors(&config("{ passthrough: {} }"));
    let (_, _, msg) = errs
        .iter()
        .find(|(_, p, _)| p == "backends[0].mcp")
        .unwrap_or_else(|| panic!("no error for passthrough: {errs:#?}"));
    assert!(
        msg.contains("remote") && msg.contains("passthrough"),
        "{msg}"
    );
    let errs = errors(&config("{ key: { header: 'bad name', value: s } }"));
    assert!(
        errs.iter().any(|(_, _, m)| m.contains("\"bad name\"")),
        "{errs:#?}"
    );
    lowered(&config(
        "{ aws: { region: us-east-1, accessKeyId: AKID, secretAccessKey: s } }",
    ));
    let schema = Source::from_str(&config("{ azure: {} }"), Path::new("test.yaml"), &|_| None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(schema.contains("unknown key `azure`"), "{schema}");
    assert!(schema.contains("policies.backendAuth"), "{schema}");
}

#[test]
fn route_backend_auth_is_checked_at_load() {
    let config = |route_policies: &str, backend_policies: &str| {
        format!(
            r#"
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: api
      policies: {route_policies}
      backends: [{{ host: "127.0.0.1:9001", policies: {backend_policies} }}]
    - name: mcp
      matches: [{{ path: {{ prefix: /mcp }} }}]
      policies: {{ backendAuth: {{ key: k }} }}
      backends: [{{ backend: tools }}]
backends:
- name: tools
  mcp:
    targets:
    - {{ name: remote, mcp: {{ url: "http://127.0.0.1:3001/mcp" }} }}
"#
        )
    };
    let errs = errors(&config(
        "{ backendAuth: { key: { header: x-api-key, value: s } } }",
        "{ backendAuth: { passthrough: {} } }",
    ));
    assert_eq!(errs.len(), 1, "only the mcp route is refused: {errs:#?}");
    let (_, path, msg) = &errs[0];
    assert_eq!(path, "binds[0].listeners[0].routes[1].policies.backendAuth");
    assert!(msg.contains("set backendAuth on each target"), "{msg}");

    let errs = errors(&config(
        "{ backendAuth: { key: tok }, requestHeaderModifier: { set: { Authorization: x } } }",
        "{}",
    ));
    assert!(
        has_error(
            &errs,
            "routes[0].policies.backendAuth",
            "requestHeaderModifier also sets authorization"
        ),
        "{errs:#?}"
    );
    let errs = errors(&config(
        "{}",
        "{ backendAuth: { oauth2: { tokenUrl: '', clientId: c, clientSecret: s } } }",
    ));
    assert!(
        has_error(
            &errs,
            "backends[0].policies.backendAuth",
            "oauth2.tokenUrl is empty"
        ),
        "{errs:#?}"
    );
}

/// `aws` signs in the terminal, per attempt, over a buffered body (unless `unsignedPayload`);
/// `gcp` is a credential phase like `oauth2`; their mistakes are errors at their key.
#[test]
fn cloud_backend_auth_lowers_to_a_signer_or_a_credential() {
    let config = |auth: &str| {
        format!(
            r#"
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: api
      policies: {{ backendAuth: {auth} }}
      backends: [{{ host: "127.0.0.1:9001" }}]
"#
        )
    };
    use crate::model::plan::{RequestPhase as Q, Terminal};
    let plan_of = |auth: &str| {
        let m = lowered(&config(auth));
        let route = route_for(&m, "/");
        let plan = &route.backends[0].plan;
        let Terminal::Forward(forward) = &plan.terminal else {
            panic!("a host backend ends in the reverse proxy");
        };
        let buffers = plan.request.iter().any(|p| matches!(p, Q::BufferBody));
        let credential = plan
            .request
            .iter()
            .any(|p| matches!(p, Q::Credential { .. }));
        (buffers, credential, forward.sign.is_some())
    };
    let keys = "region: us-east-1, accessKeyId: AKID, secretAccessKey: s";
    assert_eq!(
        plan_of(&format!("{{ aws: {{ {keys} }} }}")),
        (true, false, true),
        "signed body: buffered, signed by the terminal"
    );
    assert_eq!(
        plan_of(&format!("{{ aws: {{ {keys}, unsignedPayload: true }} }}")),
        (false, false, true),
        "unsigned payload: streamed"
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("user.json");
    std::fs::write(
        &file,
        r#"{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}"#,
    )
    .expect("write");
    assert_eq!(
        plan_of(&format!(
            "{{ gcp: {{ credentialsFile: {} }} }}",
            file.display()
        )),
        (false, true, false)
    );

    let errs = errors(&config("{ aws: { region: us-east-1, accessKeyId: AKID } }"));
    assert!(
        has_error(&errs, "routes[0].policies.backendAuth", "go together"),
        "{errs:#?}"
    );
    let errs = errors(&config("{ gcp: { type: idToken } }"));
    assert!(
        has_error(&errs, "routes[0].policies.backendAuth", "gcp.audience"),
        "{errs:#?}"
    );
    let errs = errors(&config(
        "{ gcp: { credentialsFile: /nonexistent/sa.json } }",
    ));
    assert!(
        has_error(
            &errs,
            "routes[0].policies.backendAuth",
            "/nonexistent/sa.json"
        ),
        "{errs:#?}"
    );
}

#[test]
fn a_policy_that_cannot_apply_to_an_mcp_backend_is_refused_at_its_line() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: tools
      policies:
        retry: { attempts: 2 }
        urlRewrite: { path: { prefix: / } }
        timeout: { request: 5s, backendRequest: 1s }
        requestMirror: { backend: { host: "127.0.0.1:9" } }
        a2a: {}
        requestHeaderModifier: { set: { x-a: "1" } }
      backends: [{ backend: tools }]
backends:
- name: tools
  mcp:
    targets:
    - { name: remote, mcp: { url: "http://127.0.0.1:3001/mcp" } }
"#;
    let errs = errors(yaml);
    let line_of = |key: &str| {
        yaml.lines()
            .position(|l| l.trim_start().starts_with(&format!("{key}:")))
            .map(|i| i + 1)
    };
    for key in ["retry", "urlRewrite", "requestMirror", "a2a"] {
        let path = format!("binds[0].listeners[0].routes[0].policies.{key}");
        let found = errs.iter().find(|(_, p, _)| *p == path);
        let (line, _, msg) = found.unwrap_or_else(|| panic!("no error at {path}: {errs:#?}"));
        assert!(
            msg.contains(&format!("{key} does not apply to mcp backend \"tools\"")),
            "{msg}"
        );
        assert_eq!(*line, line_of(key), "{key}: {msg}");
    }
    assert!(
        has_error(
            &errs,
            "routes[0].policies.timeout.backendRequest",
            "use timeout.request"
        ),
        "{errs:#?}"
    );
    // Header modifiers and the whole-request time limit do apply.
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn a_route_to_an_mcp_backend_gets_header_modifiers_and_its_time_limit() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: tools
      policies:
        timeout: { request: 5s }
        requestHeaderModifier: { set: { x-a: "1" } }
        responseHeaderModifier: { set: { x-b: "2" } }
        cors: { allowOrigins: ["*"] }
        apiKeyAuth: { keys: [{ name: ci, key: "0123456789abcdef" }] }
      backends: [{ backend: tools }]
backends:
- name: tools
  mcp:
    targets:
    - { name: remote, mcp: { url: "http://127.0.0.1:3001/mcp" } }
"#;
    use crate::model::plan::{RequestPhase, ResponsePhase, RoutePhase, Terminal};
    let m = lowered(yaml);
    let route = route_for(&m, "/");
    assert!(matches!(
        route.plan.request.as_slice(),
        [
            RoutePhase::Cors(_),
            RoutePhase::Authenticate(_),
            RoutePhase::BodyLimit(_)
        ]
    ));
    let plan = &route.backends[0].plan;
    assert!(matches!(
        plan.request.as_slice(),
        [
            RequestPhase::StripCredentials(_),
            RequestPhase::RequestHeaders(_)
        ]
    ));
    assert!(matches!(
        plan.terminal,
        Terminal::Mcp { timeout: Some(t), .. } if t == std::time::Duration::from_secs(5)
    ));
    assert!(matches!(
        plan.response.as_slice(),
        [ResponsePhase::ResponseHeaders(_), ResponsePhase::Cors]
    ));
}

#[test]
fn a_backend_plan_orders_its_phases() {
    let yaml = r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      matches: [{ path: { prefix: /agents } }]
      policies:
        a2a: {}
        urlRewrite: { path: { prefix: / } }
        requestHeaderModifier: { set: { x-route: "1" } }
        responseHeaderModifier: { set: { x-route: "1" } }
        requestMirror: { backend: { host: "127.0.0.1:9" } }
        backendAuth: { key: secret }
        retry: { attempts: 1 }
        jwtAuth: { issuer: "https://idp", audiences: [gw], jwks: { url: "https://idp/jwks" } }
      backends:
      - host: "127.0.0.1:8"
        policies:
          requestHeaderModifier: { set: { x-backend: "1" } }
          responseHeaderModifier: { set: { x-backend: "1" } }
"#;
    use crate::model::plan::{RequestPhase as Q, ResponsePhase as R};
    let m = lowered(yaml);
    let route = route_for(&m, "/agents/x");
    let plan = &route.backends[0].plan;
    let request: Vec<&str> = plan
        .request
        .iter()
        .map(|p| match p {
            Q::StripCredentials(_) => "strip",
            Q::RewritePath(_) => "rewrite",
            Q::A2a { .. } => "a2a",
            Q::ForwardingHeaders { .. } => "forwarding",
            Q::RequestHeaders(m) if m.set[0].0 == "x-route" => "route headers",
            Q::RequestHeaders(_) => "backend headers",
            Q::BufferBody => "buffer",
            Q::Mirror(_) => "mirror",
            Q::Credential { .. } => "credential",
        })
        .collect();
    assert_eq!(
        request,
        [
            "strip",
            "rewrite",
            "a2a",
            "forwarding",
            "route headers",
            "backend headers",
            "buffer",
            "mirror",
            "credential"
        ]
    );
    let response: Vec<&str> = plan
        .response
        .iter()
        .map(|p| match p {
            R::ResponseHeaders(m) if m.set[0].0 == "x-route" => "route headers",
            R::ResponseHeaders(_) => "backend headers",
            R::Cors => "cors",
            R::A2a => "a2a",
            R::RateLimitHeaders => "ratelimit headers",
        })
        .collect();
    assert_eq!(response, ["backend headers", "route headers", "a2a"]);
}

#[test]
fn openapi_credential_that_fits_no_scheme_is_an_error_at_its_key() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/petstore/openapi-3.0.yaml");
    let config = |credentials: &str| {
        format!(
            r#"
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: mcp
      backends: [{{ backend: tools }}]
backends:
- name: tools
  mcp:
    targets:
    - name: pets
      openapi:
        spec: "{}"
        credentials:
          {credentials}
"#,
            spec.display()
        )
    };
    lowered(&config("oauth: { clientId: c, clientSecret: s }"));
    let errs = errors(&config("bearer: { apiKey: k }"));
    let (line, _, msg) = errs
        .iter()
        .find(|(_, p, _)| p == "backends[0].mcp.targets[0].openapi.credentials.bearer")
        .unwrap_or_else(|| panic!("no error at the credential's key: {errs:#?}"));
    assert_eq!(*line, Some(17), "the line of `bearer:` under `credentials`");
    assert!(
        msg.contains("\"pets\"") && msg.contains("http bearer"),
        "{msg}"
    );
    let errs = errors(&config("nosuch: { token: t }"));
    assert!(
        has_error(
            &errs,
            "openapi.credentials.nosuch",
            "no security scheme named"
        ),
        "{errs:#?}"
    );
}

#[test]
fn status_entries_stand_alone() {
    let errs = errors(
        r#"
binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: both
      backends: [{ status: 500, host: "127.0.0.1:1" }]
    - name: with-policies
      backends: [{ status: 500, policies: { timeout: { request: 1s } } }]
"#,
    );
    assert!(
        has_error(
            &errs,
            "routes[0].backends[0]",
            "exactly one of backend, host or status"
        ),
        "{errs:?}"
    );
    assert!(
        has_error(&errs, "routes[1].backends[0].policies", "never apply"),
        "{errs:?}"
    );
    // Out of range: the schema says so.
    let out = Source::from_str(
        "binds: [{port: 0, listeners: [{name: l, routes: [{name: r, backends: [{status: 200}]}]}]}]",
        Path::new("t.yaml"),
        &|_| None,
    );
    assert!(out.is_err());
}
