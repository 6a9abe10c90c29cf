//! A best-effort config for when the schema stage fails, so that semantic checks can still run
//! and `switchboard validate` reports every problem in one go.
//!
//! Every key whose value broke the schema is removed; when the problem is an item of a list (or
//! a missing required key inside one) the whole list is removed instead, so that the indices of
//! the remaining items, and so their key paths and lines, stay true. If the pruned document then
//! deserializes, the semantic checks run on it; their findings at or around a removed key are
//! dropped, since they would only echo the schema error.

use serde_json::Value;

use super::paths::is_within;
use super::paths::serde_path;
use crate::config::file::ConfigFile;

/// Rounds of prune-and-deserialize before giving up.
const MAX_ROUNDS: usize = 64;

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Splits a key path (`a.b[0]["x.y"]`) into segments; `None` if it does not parse.
fn segments(path: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => i += 1,
            b'[' if bytes.get(i + 1) == Some(&b'"') => {
                // A JSON string key: find its closing quote, honouring escapes.
                let start = i + 1;
                let mut j = start + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let key: String = serde_json::from_str(path.get(start..=j)?).ok()?;
                out.push(Segment::Key(key));
                i = j + 2; // past `"]`
            }
            b'[' => {
                let end = i + path[i..].find(']')?;
                out.push(Segment::Index(path[i + 1..end].parse().ok()?));
                i = end + 1;
            }
            _ => {
                let end = path[i..].find(['.', '[']).map_or(path.len(), |e| i + e);
                out.push(Segment::Key(path[i..end].to_string()));
                i = end;
            }
        }
    }
    Some(out)
}

fn render(segs: &[Segment]) -> String {
    let mut out = String::new();
    for s in segs {
        out = match s {
            Segment::Key(k) => super::paths::child_key(&out, k),
            Segment::Index(n) => format!("{out}[{n}]"),
        };
    }
    out
}

fn get_mut<'v>(root: &'v mut Value, segs: &[Segment]) -> Option<&'v mut Value> {
    let mut cur = root;
    for s in segs {
        cur = match (s, cur) {
            (Segment::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Segment::Index(n), Value::Array(a)) => a.get_mut(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes the value at `path` (or the nearest removable ancestor); returns the key path
/// actually removed, or `None` when only the whole document would do.
fn prune(root: &mut Value, path: &str) -> Option<String> {
    let mut segs = segments(path)?;
    loop {
        let last = segs.pop()?;
        match last {
            Segment::Key(key) => {
                if let Some(Value::Object(map)) = get_mut(root, &segs) {
                    if map.remove(&key).is_some() {
                        segs.push(Segment::Key(key));
                        return Some(render(&segs));
                    }
                }
                // The key is absent (a missing required key): remove what holds it.
            }
            Segment::Index(_) => {}
        }
        if segs.is_empty() {
            return None;
        }
        // Drop trailing indices so the next removal is a whole list, keeping indices stable.
        while matches!(segs.last(), Some(Segment::Index(_))) {
            segs.pop();
        }
        if segs.is_empty() {
            return None;
        }
    }
}

/// The config with every broken part removed, and the key paths removed; `None` when what is
/// left still does not deserialize.
pub(super) fn best_effort(raw: &Value, broken: &[String]) -> Option<(ConfigFile, Vec<String>)> {
    let mut value = raw.clone();
    let mut removed = Vec::new();
    for path in broken {
        if removed.iter().any(|r: &String| is_within(path, r)) {
            continue;
        }
        removed.push(prune(&mut value, path)?);
    }
    for _ in 0..MAX_ROUNDS {
        match serde_path_to_error::deserialize::<_, ConfigFile>(&value) {
            Ok(file) => return Some((file, removed)),
            Err(e) => {
                let path = serde_path(e.path());
                let message = e.inner().to_string();
                // A required key was removed above: put a stand-in back rather than lose the
                // whole item that holds it.
                if let Some(field) = missing_field(&message) {
                    if let Some(filled) = fill_placeholder(&mut value, &path, field, &message) {
                        removed.push(filled);
                        continue;
                    }
                }
                removed.push(prune(&mut value, &path)?);
            }
        }
    }
    None
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Tries stand-in values for the missing `field` of the object at `path`; keeps the first one
/// that gets deserialization past this error, and returns its key path.
fn fill_placeholder(root: &mut Value, path: &str, field: &str, message: &str) -> Option<String> {
    let segs = segments(path)?;
    let candidates = [
        Value::from(0),
        Value::from(""),
        Value::from(false),
        Value::Array(vec![]),
        Value::Object(Default::default()),
    ];
    for candidate in candidates {
        if let Some(Value::Object(map)) = get_mut(root, &segs) {
            map.insert(field.to_string(), candidate);
        } else {
            return None;
        }
        let still_failing = match serde_path_to_error::deserialize::<_, ConfigFile>(&*root) {
            Ok(_) => false,
            Err(e) => {
                serde_path(e.path()) == path && e.inner().to_string() == message
                    || serde_path(e.path()) == super::paths::child_key(path, field)
            }
        };
        if !still_failing {
            return Some(super::paths::child_key(path, field));
        }
    }
    if let Some(Value::Object(map)) = get_mut(root, &segs) {
        map.remove(field);
    }
    None
}

/// Whether a semantic finding at `path` only echoes the removal of one of `removed`.
pub(super) fn echoes_removal(path: &str, removed: &[String]) -> bool {
    removed
        .iter()
        .any(|r| is_within(path, r) || is_within(r, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_paths_split() {
        assert_eq!(
            segments(r#"a.b[2]["x.y"].c"#).unwrap(),
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(2),
                Segment::Key("x.y".into()),
                Segment::Key("c".into())
            ]
        );
        assert_eq!(
            render(&segments(r#"a[1]["x y"]"#).unwrap()),
            r#"a[1]["x y"]"#
        );
    }

    #[test]
    fn pruning_keeps_indices_stable() {
        let mut v = json!({"binds": [{"port": 1, "listeners": [{"name": "a", "bogus": 1}, {"routes": []}]}]});
        assert_eq!(
            prune(&mut v, "binds[0].listeners[0].bogus").as_deref(),
            Some("binds[0].listeners[0].bogus")
        );
        // A missing required `name` in listeners[1]: the whole list goes.
        assert_eq!(
            prune(&mut v, "binds[0].listeners[1].name").as_deref(),
            Some("binds[0].listeners")
        );
        assert_eq!(v, json!({"binds": [{"port": 1}]}));
        assert_eq!(prune(&mut v, "binds[0]").as_deref(), Some("binds"));
        assert_eq!(prune(&mut v, ""), None);
    }

    #[test]
    fn best_effort_config_survives_schema_errors() {
        let raw = json!({
            "binds": [{"port": 80, "listeners": [{"name": "l", "routes": [
                {"name": "a", "policies": {"retry": {"attempts": "x"}}, "backends": [{"backend": "nope"}]}
            ]}]}]
        });
        let (file, removed) = best_effort(
            &raw,
            &["binds[0].listeners[0].routes[0].policies.retry.attempts".into()],
        )
        .unwrap();
        assert_eq!(
            removed,
            ["binds[0].listeners[0].routes[0].policies.retry.attempts"]
        );
        assert_eq!(
            file.binds[0].listeners[0].routes[0].backends[0]
                .backend
                .as_deref(),
            Some("nope")
        );
        assert!(echoes_removal(
            "binds[0].listeners[0].routes[0].policies.retry",
            &removed
        ));
        assert!(!echoes_removal(
            "binds[0].listeners[0].routes[0].backends[0].backend",
            &removed
        ));
    }
}
