//! `switchboard validate`, `schema`, and `run` with a bad file.

use e2e::{fill, free_port, routes_config, run_switchboard, with_settings};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Asserts that `stderr` has a line `FILE:LINE:COL: PATH: ...` containing `needle`.
fn assert_reported(stderr: &str, file: &str, line: usize, path: &str, needle: &str) {
    let prefix = format!("{file}:{line}:");
    let found = stderr.lines().any(|l| {
        l.starts_with(&prefix) && l.contains(&format!(": {path}: ")) && l.contains(needle)
    });
    assert!(
        found,
        "expected `{prefix}COL: {path}: ...{needle}...` in:\n{stderr}"
    );
}

// Errors found by the schema stage: syntax of values, unknown keys, types, variables.
const SCHEMA_ERRORS: &str = r#"config:
  adminAddr: 127.0.0.1:1
  drainTimeout: 5 seconds
binds:
- port: notaport
  listeners:
  - name: main
    routes:
    - name: a
      matchs: [{ path: { prefix: /a } }]
      backends: [{ host: "127.0.0.1:1" }]
    - name: b
      backends: [{ host: "${E2E_SURELY_UNSET_VAR_1}" }]
"#;

/// Errors found by the semantic checks: references, regexes, values, duplicates. The preamble
/// of [`routes_config`] takes 6 lines: the routes start at line 7.
fn semantic_errors() -> String {
    let text = routes_config(
        r#"
- name: a
  backends: [{ backend: svx }]
- name: b
  matches: [{ path: { regex: "/b(" } }]
  backends: [{ backend: svc }]
- name: c
  policies: { requestRedirect: { statusCode: 200 } }
- name: c
  backends: [{ host: "127.0.0.1:2" }]
"#,
    ) + "backends:\n- name: svc\n  host: 127.0.0.1:3\n";
    fill(&text, &[("port".into(), "1".into())])
}

#[test]
fn validate_reports_schema_errors_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", SCHEMA_ERRORS);
    let out = run_switchboard(&["validate", "-c", "bad.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let e = &out.stderr;
    assert_reported(e, "bad.yaml", 3, "config.drainTimeout", "invalid duration");
    assert_reported(e, "bad.yaml", 5, "binds[0].port", "integer");
    assert_reported(
        e,
        "bad.yaml",
        10,
        "binds[0].listeners[0].routes[0].matchs",
        "matches",
    );
    assert_reported(
        e,
        "bad.yaml",
        13,
        "binds[0].listeners[0].routes[1].backends[0].host",
        "E2E_SURELY_UNSET_VAR_1",
    );
}

#[test]
fn validate_reports_semantic_errors_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", &semantic_errors());
    let out = run_switchboard(&["validate", "-c", "bad.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let e = &out.stderr;
    let r = "binds[0].listeners[0].routes";
    assert_reported(
        e,
        "bad.yaml",
        8,
        &format!("{r}[0].backends[0].backend"),
        "no backend named \"svx\"",
    );
    assert_reported(
        e,
        "bad.yaml",
        10,
        &format!("{r}[1].matches[0].path.regex"),
        "invalid regular expression",
    );
    assert_reported(
        e,
        "bad.yaml",
        13,
        &format!("{r}[2].policies.requestRedirect.statusCode"),
        "200",
    );
    assert_reported(
        e,
        "bad.yaml",
        14,
        &format!("{r}[3].name"),
        "duplicate route name",
    );
}

/// All six kinds of mistakes in one file: `validate` must print every one (DESIGN.md: "exit 0, or
/// print every error and exit 1").
#[test]
fn validate_reports_every_kind_of_error_in_one_file() {
    let text = r#"config:
  drainTimeout: 5 seconds
binds:
- port: notaport
  listeners:
  - name: main
    routes:
    - name: a
      matchs: [{ path: { prefix: /a } }]
      backends: [{ backend: svx }]
    - name: b
      matches: [{ path: { regex: "/b(" } }]
      backends: [{ host: "${E2E_SURELY_UNSET_VAR_2}" }]
backends:
- name: svc
  host: 127.0.0.1:3
"#;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", text);
    let out = run_switchboard(&["validate", "-c", "bad.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let e = &out.stderr;
    let r = "binds[0].listeners[0].routes";
    assert_reported(e, "bad.yaml", 2, "config.drainTimeout", "invalid duration");
    assert_reported(e, "bad.yaml", 4, "binds[0].port", "integer");
    assert_reported(e, "bad.yaml", 9, &format!("{r}[0].matchs"), "matches");
    assert_reported(
        e,
        "bad.yaml",
        10,
        &format!("{r}[0].backends[0].backend"),
        "svx",
    );
    assert_reported(
        e,
        "bad.yaml",
        12,
        &format!("{r}[1].matches[0].path.regex"),
        "invalid regular expression",
    );
    assert_reported(
        e,
        "bad.yaml",
        13,
        &format!("{r}[1].backends[0].host"),
        "E2E_SURELY_UNSET_VAR_2",
    );
}

#[test]
fn validate_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "good.yaml",
        r#"config:
  adminAddr: 127.0.0.1:15999
  drainTimeout: 3s
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: api
      matches: [{ path: { prefix: /api }, method: GET, headers: [{ name: x-env, regex: "prod|dev" }] }]
      policies:
        retry: { attempts: 2, backoff: 100ms, codes: [502, 503] }
        timeout: { request: 5s, backendRequest: 2s }
      backends: [{ backend: svc, weight: 3 }, { host: "127.0.0.1:8082" }]
    - name: old
      matches: [{ path: { exact: /old } }]
      policies: { requestRedirect: { path: { full: /new }, statusCode: 301 } }
backends:
- name: svc
  host: 127.0.0.1:8081
"#,
    );
    let out = run_switchboard(&["validate", "-c", "good.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn schema_is_json_with_binds() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_switchboard(&["schema"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema is JSON");
    assert!(v["properties"]["binds"].is_object(), "{}", out.stdout);
    assert!(v["properties"]["backends"].is_object());
}

#[test]
fn crds_print_every_custom_resource_as_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_switchboard(&["crds"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let docs = gateway::kubernetes::yaml::documents(&out.stdout).expect("YAML");
    let kinds: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["spec"]["names"]["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["InferencePool", "SwitchboardBackend", "SwitchboardPolicy"]
    );
}

#[test]
fn run_with_an_invalid_file_exits_1_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = free_port();
    // The route's backend is on line 10: 2 lines of settings, 6 of preamble, then the route.
    let text = with_settings(
        &format!("adminAddr: 127.0.0.1:{admin}"),
        &routes_config("- name: r\n  backends: [{ backend: nope }]"),
    );
    write(
        dir.path(),
        "bad.yaml",
        &fill(&text, &[("port".into(), port.to_string())]),
    );
    let out = run_switchboard(&["run", "-c", "bad.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("bad.yaml:10:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no backend named \"nope\""),
        "{}",
        out.stderr
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port was opened"
    );
}

/// The quickstart's config (the README's first command) stays valid as the config model grows.
#[test]
fn the_quickstart_config_is_valid() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples");
    let out = e2e::run_switchboard(&["validate", "-c", "quickstart.yaml"], &examples);
    assert!(
        out.status.success(),
        "examples/quickstart.yaml does not validate:\n{}{}",
        out.stdout,
        out.stderr
    );
}

/// A policy whose phase cannot apply to the route's backend kind is refused at its line with
/// what to do instead, not accepted and ignored.
#[test]
fn validate_refuses_a_policy_that_cannot_apply_to_the_backend() {
    let text = r#"binds:
- port: 1
  listeners:
  - name: main
    routes:
    - name: tools
      policies:
        timeout: { request: 5s }
        retry: { attempts: 2 }
      backends: [{ backend: tools }]
backends:
- name: tools
  mcp:
    targets:
    - { name: remote, mcp: { url: "http://127.0.0.1:3001/mcp" } }
"#;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mcp.yaml", text);
    let out = run_switchboard(&["validate", "-c", "mcp.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_reported(
        &out.stderr,
        "mcp.yaml",
        9,
        "binds[0].listeners[0].routes[0].policies.retry",
        "retry does not apply to mcp backend \"tools\"",
    );
    assert!(
        !out.stderr.contains("policies.timeout"),
        "timeout.request applies to an mcp route:\n{}",
        out.stderr
    );
}
