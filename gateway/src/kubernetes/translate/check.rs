//! The file-format parts of Switchboard's resources checked with the config file's own JSON
//! Schema and types, so an error reads as it would in a file (with the resource's key path,
//! `spec.policies.retry.attempts`, where a file's would be).

use serde_json::{json, Value};

use crate::config::file::{NamedBackend, Policies};
use crate::config::Source;

/// `value` as a route's `policies` block. Errors are `spec.policies...: message`.
pub(super) fn policies(value: &Value) -> Result<Policies, Vec<String>> {
    let doc = json!({"binds": [{"port": 1, "listeners": [{"name": "l", "routes": [
        {"name": "r", "policies": value, "backends": [{"host": "127.0.0.1:1"}]}
    ]}]}]});
    let source = check(
        doc,
        "binds[0].listeners[0].routes[0].policies",
        "spec.policies",
    )?;
    Ok(source
        .file
        .binds
        .into_iter()
        .next()
        .and_then(|b| b.listeners.into_iter().next())
        .and_then(|l| l.routes.into_iter().next())
        .and_then(|r| r.policies)
        .unwrap_or_default())
}

/// `spec` of a SwitchboardBackend as a named backend `name`. Errors are `spec...: message`.
pub(super) fn backend(name: &str, spec: &Value) -> Result<NamedBackend, Vec<String>> {
    let mut item = spec.clone();
    if let Value::Object(map) = &mut item {
        map.insert("name".into(), Value::String(name.into()));
    }
    let source = check(json!({ "backends": [item] }), "backends[0]", "spec")?;
    source
        .file
        .backends
        .into_iter()
        .next()
        .ok_or_else(|| vec!["spec: not a backend".to_string()])
}

fn check(doc: Value, prefix: &str, replacement: &str) -> Result<Source, Vec<String>> {
    Source::generated(
        doc,
        std::path::Path::new(super::SOURCE_LABEL),
        Default::default(),
    )
    .map_err(|errors| {
        errors
            .0
            .into_iter()
            .map(|d| {
                let path = match d.path.strip_prefix(prefix) {
                    Some(rest) => format!("{replacement}{rest}"),
                    None => d.path.clone(),
                };
                format!("{path}: {}", d.message)
            })
            .collect()
    })
}
