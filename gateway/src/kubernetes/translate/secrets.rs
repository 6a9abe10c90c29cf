//! `${secret:NAME/KEY}` in the file-format parts of Switchboard's resources: the value of
//! key `KEY` of Secret `NAME` in the resource's own namespace, spliced into the string. The
//! syntax follows the file's `${VAR}`; a Secret of another namespace cannot be named (no
//! ReferenceGrant is needed or possible). Expanded values are redacted in `/config`.

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::config::Source;
use crate::kubernetes::snapshot::Snapshot;

const OPEN: &str = "${secret:";

/// Expands every `${secret:NAME/KEY}` in the strings of `value`, looking Secrets up in
/// `namespace`. Returns the key paths (relative to `value`, in the file's key-path syntax)
/// of the strings that took a secret, or every reference that did not resolve.
pub(super) fn expand(
    snapshot: &Snapshot,
    namespace: &str,
    value: &mut Value,
) -> Result<Vec<String>, Vec<String>> {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    walk(snapshot, namespace, value, "", &mut paths, &mut errors);
    if errors.is_empty() {
        Ok(paths)
    } else {
        Err(errors)
    }
}

fn walk(
    snapshot: &Snapshot,
    namespace: &str,
    value: &mut Value,
    path: &str,
    paths: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    match value {
        Value::String(s) if s.contains(OPEN) => match expand_str(snapshot, namespace, s) {
            Ok(expanded) => {
                *s = expanded;
                paths.push(path.to_string());
            }
            Err(e) => errors.push(e),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(
                    snapshot,
                    namespace,
                    item,
                    &Source::child_index(path, i),
                    paths,
                    errors,
                );
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                walk(
                    snapshot,
                    namespace,
                    item,
                    &Source::child_key(path, k),
                    paths,
                    errors,
                );
            }
        }
        _ => {}
    }
}

fn expand_str(snapshot: &Snapshot, namespace: &str, s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated {OPEN}...}} in {s:?}"))?;
        let reference = &after[..end];
        let (name, key) = reference
            .split_once('/')
            .ok_or_else(|| format!("{OPEN}{reference}}} must be ${{secret:NAME/KEY}}"))?;
        out.push_str(&lookup(snapshot, namespace, name, key)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(snapshot: &Snapshot, namespace: &str, name: &str, key: &str) -> Result<String, String> {
    let secret: &Secret = snapshot
        .secrets
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| format!("Secret {namespace}/{name} not found"))?;
    if let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(bytes.0.clone())
            .map_err(|_| format!("key {key} of Secret {namespace}/{name} is not UTF-8"));
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
        .ok_or_else(|| format!("Secret {namespace}/{name} has no key {key}"))
}
