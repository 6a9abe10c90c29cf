//! Lowering `inferencePool` backends: endpoints expanded over `targetPorts`, one pool shared
//! by its routes, the body read whole for the picker, every mistake at its key path.

use super::*;
use crate::model::plan::{RequestPhase, Terminal};
use crate::model::pool::{DestinationMode, Picker, PickerFailureMode};

fn config(pool: &str, route_policies: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      matches: [{{ path: {{ prefix: /a }} }}]
      policies: {{ {route_policies} }}
      backends: [{{ backend: pool }}]
    - name: b
      matches: [{{ path: {{ prefix: /b }} }}]
      backends: [{{ backend: pool }}]
backends:
- name: pool
  inferencePool: {pool}
"#
    )
}

#[test]
fn a_pool_is_shared_and_reads_the_body_whole() {
    let pool = r#"{ endpoints: ["10.0.0.1:80", "10.0.0.2", "10.0.0.1:80"], targetPorts: [8000, 8001], endpointPicker: { host: "127.0.0.1:9002", failureMode: FailOpen, timeout: 2s } }"#;
    let m = lowered(&config(pool, ""));
    let a = route_for(&m, "/a/x");
    let b = route_for(&m, "/b/x");
    let terminal = |r: &crate::model::route::Route| match &r.backends[0].plan.terminal {
        Terminal::Pool(t) => t.pool.clone(),
        other => panic!("{other:?}"),
    };
    let (x, y) = (terminal(&a), terminal(&b));
    assert!(
        std::sync::Arc::ptr_eq(&x, &y),
        "one pool, one picker channel"
    );
    assert_eq!(
        x.endpoint_strings,
        ["10.0.0.1:80", "10.0.0.2:8000", "10.0.0.2:8001"]
    );
    assert_eq!(x.destination_mode, DestinationMode::Validated);
    let Picker::Epp(epp) = &x.picker else {
        panic!("not an endpoint picker");
    };
    assert_eq!(epp.failure_mode, PickerFailureMode::FailOpen);
    assert_eq!(epp.client.host(), "127.0.0.1:9002");
    assert!(a.backends[0]
        .plan
        .request
        .iter()
        .any(|p| matches!(p, RequestPhase::BufferBody)));
}

#[test]
fn defaults_are_fail_close_and_validated() {
    let m = lowered(&config(
        r#"{ endpoints: ["10.0.0.1:80"], endpointPicker: { host: "127.0.0.1:9002" } }"#,
        "",
    ));
    let Terminal::Pool(t) = &route_for(&m, "/a").backends[0].plan.terminal else {
        panic!("not a pool terminal");
    };
    let Picker::Epp(epp) = &t.pool.picker else {
        panic!("not an endpoint picker");
    };
    assert_eq!(epp.failure_mode, PickerFailureMode::FailClose);
    assert_eq!(t.pool.destination_mode, DestinationMode::Validated);
}

#[test]
fn mistakes_are_reported_at_their_keys() {
    let p = "backends[0].inferencePool";
    let errs = errors(&config(
        r#"{ endpoints: ["10.0.0.1", "nope:80", "10.0.0.3:80"], endpointPicker: { host: "127.0.0.1" } }"#,
        "",
    ));
    assert!(
        has_error(&errs, &format!("{p}.endpoints[0]"), "no port"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}.endpoints[1]"), "invalid endpoint"),
        "{errs:#?}"
    );
    assert!(
        has_error(
            &errs,
            &format!("{p}.endpointPicker.host"),
            "invalid picker address"
        ),
        "{errs:#?}"
    );

    let errs = errors(&config(r#"{ endpoints: ["10.0.0.1:80"] }"#, ""));
    assert!(has_error(&errs, p, "needs a picker"), "{errs:#?}");

    let errs = errors(&config(
        r#"{ endpointPicker: { host: "127.0.0.1:9002", failureMode: FailOpen } }"#,
        "",
    ));
    assert!(
        has_error(&errs, &format!("{p}.endpoints"), "validated needs"),
        "{errs:#?}"
    );
    assert!(
        has_error(
            &errs,
            &format!("{p}.endpointPicker.failureMode"),
            "FailOpen"
        ),
        "{errs:#?}"
    );

    // Passthrough with FailClose may leave the endpoints to the picker.
    lowered(&config(
        r#"{ destinationMode: passthrough, endpointPicker: { host: "127.0.0.1:9002" } }"#,
        "",
    ));

    // The schema stage refuses misspelt values and unknown keys.
    let schema = |pool: &str| {
        Source::from_str(&config(pool, ""), Path::new("test.yaml"), &|_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = schema(
        r#"{ endpoints: ["10.0.0.1:80"], endpointPicker: { host: "127.0.0.1:9002", failureMode: failOpen } }"#,
    );
    assert!(
        e.contains("failureMode"),
        "failureMode is spelled FailOpen: {e}"
    );
    let e = schema(
        r#"{ endpoints: ["10.0.0.1:80"], endpointPicker: { host: "127.0.0.1:9002" }, extra: 1 }"#,
    );
    assert!(e.contains("extra"), "unknown keys are refused: {e}");
}

#[test]
fn backend_tls_is_refused_on_a_pool() {
    let errs = errors(&config(
        r#"{ endpoints: ["10.0.0.1:80"], endpointPicker: { host: "127.0.0.1:9002" } }"#,
        "backendTLS: {}",
    ));
    assert!(
        has_error(
            &errs,
            "routes[0].backends[0]",
            "backendTLS is not supported"
        ),
        "{errs:#?}"
    );
}

#[test]
fn a_load_picker_is_checked_at_its_keys() {
    let p = "backends[0].inferencePool";
    let m = lowered(&config(
        r#"{ endpoints: ["10.0.0.1:80", "10.0.0.2:80"], loadPicker: { interval: 250ms } }"#,
        "",
    ));
    let route = route_for(&m, "/a/x");
    let Terminal::Pool(t) = &route.backends[0].plan.terminal else {
        panic!("not a pool terminal");
    };
    assert!(matches!(t.pool.picker, Picker::Load(_)));
    assert_eq!(t.pool.endpoints.len(), 2);

    let errs = errors(&config(
        r#"{ endpoints: ["10.0.0.1:80"], loadPicker: {}, endpointPicker: { host: "127.0.0.1:9002" } }"#,
        "",
    ));
    assert!(has_error(&errs, p, "not both"), "{errs:#?}");
    let errs = errors(&config(
        r#"{ destinationMode: passthrough, loadPicker: {} }"#,
        "",
    ));
    assert!(
        has_error(&errs, &format!("{p}.endpoints"), "list them"),
        "{errs:#?}"
    );
    let errs = errors(&config(
        r#"{ endpoints: ["10.0.0.1:80"], loadPicker: { interval: 1ms, path: metrics } }"#,
        "",
    ));
    assert!(
        has_error(&errs, &format!("{p}.loadPicker.interval"), "at least"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}.loadPicker.path"), "absolute path"),
        "{errs:#?}"
    );
}
