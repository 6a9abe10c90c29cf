//! Tests of loading as a whole, and helpers for the tests of the stages.

use std::collections::HashMap;
use std::path::Path;

use super::super::diagnostic::{ConfigErrors, Diagnostic};
use super::paths::{ancestor_ends, child_key, is_within};
use super::schema_check::{edit_distance, suggest};
use super::Source;

pub(super) fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

pub(super) fn load(text: &str, vars: &[(&str, &str)]) -> Result<Source, ConfigErrors> {
    Source::from_str(text, Path::new("conf/gw.yaml"), &env_of(vars))
}

pub(super) fn load_ok(text: &str, vars: &[(&str, &str)]) -> Source {
    load(text, vars).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

pub(super) fn errors(text: &str, vars: &[(&str, &str)]) -> Vec<Diagnostic> {
    match load(text, vars) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0,
    }
}

/// (line, path, message) of each diagnostic.
pub(super) fn summary(diags: &[Diagnostic]) -> Vec<(usize, String, String)> {
    diags
        .iter()
        .map(|d| (d.line.unwrap_or(0), d.path.clone(), d.message.clone()))
        .collect()
}

pub(super) const DESIGN_EXAMPLE: &str = r#"
config:                                  # process settings, read at start
  adminAddr: 127.0.0.1:15000             # admin endpoints, below
  sessionKey: ${SWITCHBOARD_SESSION_KEY} # 32 random bytes, base64; seals MCP session ids; same on all replicas
  tracing: { otlpEndpoint: http://127.0.0.1:4317, samplingRatio: 1.0 }
binds:
- port: 8080
  address: 0.0.0.0                       # optional
  listeners:
  - name: main
    protocol: HTTP                       # HTTP | HTTPS (tls: {cert, key})
    hostname: "*"                        # optional
    routes:
    - name: tools
      matches: [{ path: { prefix: /mcp } }]
      policies: { cors: { allowOrigins: ["*"] } }
      backends: [{ backend: tools }]     # reference to a named backend
    - name: travel-agent
      matches: [{ path: { prefix: /agents/travel } }]
      policies:
        a2a: {}
        urlRewrite: { path: { prefix: / } }
      backends: [{ host: 127.0.0.1:9999 }]
    - name: api
      matches:
      - path: { prefix: /api }
        method: GET
        headers: [{ name: x-env, value: prod }]   # exact; `regex:` instead of `value:` too
        query: [{ name: v, value: "2" }]
      policies:
        requestHeaderModifier: { add: { x-a: "1" }, set: { x-b: "2" }, remove: [x-c] }
        responseHeaderModifier: { set: { x-served-by: switchboard } }
        timeout: { request: 5s, backendRequest: 2s }
        retry: { attempts: 2, backoff: 100ms, codes: [502, 503] }
        requestMirror: { backend: { host: 127.0.0.1:9100 }, percentage: 10 }
      backends:
      - { host: 127.0.0.1:8081, weight: 3 }
      - { host: 127.0.0.1:8082, weight: 1 }
    - name: old
      matches: [{ path: { exact: /old } }]
      policies: { requestRedirect: { path: { full: /new }, statusCode: 301 } }
backends:
- name: tools
  mcp:
    targets:
    - { name: time, stdio: { cmd: python3, args: [-m, mcp_server_time], env: { TZ: UTC } } }
    - { name: everything, mcp: { url: http://127.0.0.1:3001/mcp } }
    - { name: legacy, sse: { url: http://127.0.0.1:3002/sse } }
    - name: petstore
      openapi: { spec: ./petstore.yaml, baseUrl: http://127.0.0.1:4010 }
      tools: { include: ["list*", "getPet*"], exclude: [deletePet] }
      policies: { backendAuth: { key: { header: x-api-key, value: ${PETSTORE_KEY} } } }
    - { name: travel, a2a: { url: http://127.0.0.1:9999 } }   # an A2A agent's skills as tools
"#;

pub(super) const DESIGN_ENV: &[(&str, &str)] = &[
    (
        "SWITCHBOARD_SESSION_KEY",
        "c2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbiE=",
    ),
    ("PETSTORE_KEY", "pet-secret-123"),
];

#[test]
fn design_example_loads() {
    let source = load_ok(DESIGN_EXAMPLE, DESIGN_ENV);
    let file = &source.file;
    assert_eq!(source.base_dir, Path::new("conf"));
    assert_eq!(file.binds.len(), 1);
    assert_eq!(file.binds[0].port, 8080);
    let routes = &file.binds[0].listeners[0].routes;
    assert_eq!(routes.len(), 4);
    let retry = routes[2].policies.as_ref().unwrap().retry.as_ref().unwrap();
    assert_eq!(retry.attempts, Some(2));
    assert_eq!(retry.codes, vec![502, 503]);
    assert_eq!(
        retry.backoff.unwrap().0,
        std::time::Duration::from_millis(100)
    );
    assert_eq!(
        file.config.as_ref().unwrap().session_key.as_deref(),
        Some(DESIGN_ENV[0].1)
    );
    // `${VAR}` inside the MCP targets is expanded too.
    let mcp = file.backends[0].mcp.as_ref().unwrap();
    let Some(mcp_mux::BackendAuthConfig::Key(backend_auth::KeyConfig::Header(key))) =
        mcp.targets[3].backend_auth()
    else {
        panic!("petstore's backendAuth is a header key");
    };
    assert_eq!(key.value, "pet-secret-123");
    // Quoted "2" stays a string.
    assert_eq!(routes[2].matches[0].query[0].value.as_deref(), Some("2"));
    // Lines of keys and items.
    let d = source.diagnostic(
        "binds[0].listeners[0].routes[2].policies.retry.attempts",
        "x",
    );
    assert_eq!((d.line, d.column), (Some(34), Some(18)));
    let d = source.diagnostic("binds[0].listeners[0].routes[1]", "x");
    assert_eq!((d.line, d.column), (Some(18), Some(7)));
    assert_eq!(
        d.to_string(),
        "conf/gw.yaml:18:7: binds[0].listeners[0].routes[1]: x"
    );
}

#[test]
fn diagnostic_falls_back_to_nearest_ancestor() {
    let source = load_ok(DESIGN_EXAMPLE, DESIGN_ENV);
    // `protocol` is absent from the second route; `retry.attempts` absent from route 0.
    let d = source.diagnostic(
        "binds[0].listeners[0].routes[0].policies.retry.attempts",
        "m",
    );
    assert_eq!(d.line, Some(16), "the line of `policies`");
    assert_eq!(
        d.path,
        "binds[0].listeners[0].routes[0].policies.retry.attempts"
    );
    let d = source.diagnostic("binds[5].port", "m");
    assert_eq!(d.line, Some(6), "the line of `binds`");
    let d = source.diagnostic("", "m");
    assert_eq!(d.line, Some(2));
    let d = source.diagnostic(
        r#"binds[0].listeners[0].routes[2].policies.requestHeaderModifier.set["x.y"]"#,
        "m",
    );
    assert_eq!(d.line, Some(31));
    let d = source.diagnostic(
        "binds[0].listeners[0].routes[2].policies.requestHeaderModifier.set.x-b",
        "m",
    );
    assert_eq!((d.line, d.column), (Some(31), Some(60)));
}

#[test]
fn reports_every_error_with_line_and_path() {
    let text = "\
config:
  sessionKey: ${SESSION_KEY}
  drainTimeout: 5 sec
binds:
- port: eighty
  listeners:
  - protocol: HTTP
    routes:
    - name: api
      policies:
        retry: { atempts: 2 }
      backends: [{ host: 127.0.0.1:8081 }]
";
    let diags = errors(text, &[]);
    assert_eq!(
        summary(&diags),
        vec![
            (
                2,
                "config.sessionKey".into(),
                "environment variable SESSION_KEY is not set".into()
            ),
            (
                3,
                "config.drainTimeout".into(),
                "invalid duration \"5 sec\": write a whole number and a unit: ms, s, m or h \
                     (e.g. 500ms, 5s, 1m)"
                    .into()
            ),
            (
                5,
                "binds[0].port".into(),
                "expected an integer, found a string (\"eighty\")".into()
            ),
            (
                7,
                "binds[0].listeners[0]".into(),
                "missing required key `name`".into()
            ),
            (
                11,
                "binds[0].listeners[0].routes[0].policies.retry.atempts".into(),
                "unknown key `atempts`, did you mean `attempts`?".into()
            ),
        ]
    );
    // Columns: the value for the variable, the key for an unknown key, the item's first key.
    assert_eq!(diags[0].column, Some(15));
    assert_eq!(diags[3].column, Some(5));
    assert_eq!(diags[4].column, Some(18));
    let all = ConfigErrors(diags).to_string();
    assert!(all.starts_with("5 errors in conf/gw.yaml\nconf/gw.yaml:2:15: config.sessionKey: "));
}

#[test]
fn deserialization_errors_after_the_schema_have_paths() {
    // The schema's pattern accepts it; the number does not fit.
    let text = "config:\n  drainTimeout: 99999999999999999999999s\n";
    let d = errors(text, &[]);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].line, d[0].path.as_str()),
        (Some(2), "config.drainTimeout")
    );
    assert!(
        d[0].message.starts_with("invalid duration"),
        "{}",
        d[0].message
    );
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.yaml");
    std::fs::write(&path, "binds: [{ port: 9, listeners: [] }]\n").unwrap();
    let source = Source::load(&path).unwrap();
    assert_eq!(source.file.binds[0].port, 9);
    assert_eq!(source.base_dir, dir.path());
    let missing = dir.path().join("missing.yaml");
    let err = Source::load(&missing).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].line, None);
    assert!(err.to_string().starts_with(&format!(
        "{}: cannot read the config file: ",
        missing.display()
    )));
    let source = Source::from_str("binds: []", Path::new("gw.yaml"), &env_of(&[])).unwrap();
    assert_eq!(source.base_dir, Path::new("."));
}

#[test]
fn key_paths() {
    assert_eq!(child_key("", "binds"), "binds");
    assert_eq!(child_key("a", "x-b_c"), "a.x-b_c");
    assert_eq!(child_key("a", "x.y"), r#"a["x.y"]"#);
    assert_eq!(Source::child_index("a", 3), "a[3]");
    assert_eq!(ancestor_ends(r#"a.b[0]["x.[y"].c"#), vec![1, 3, 6, 14]);
    assert!(is_within("a.b[0]", "a.b"));
    assert!(is_within("a.b", "a.b"));
    assert!(!is_within("a.bc", "a.b"));
    assert!(is_within("a", ""));
    assert_eq!(
        suggest("atempts", ["attempts", "backoff"]),
        Some("attempts".into())
    );
    assert_eq!(suggest("Port", ["port"]), Some("port".into()));
    assert_eq!(suggest("zz", ["ab"]), None);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}
