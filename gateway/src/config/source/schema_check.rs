//! Stage 3: the JSON Schema generated from [`ConfigFile`], validation against it, and its errors
//! in words (with "did you mean" for misspelt keys).

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use super::super::file::ConfigFile;
use super::super::units::{BYTE_SIZE_PATTERN, DURATION_PATTERN};
use super::issues::{preview, Issue, Issues, MAX_PREVIEW};
use super::paths::child_key;

/// The `$id` of the generated schema.
pub const SCHEMA_ID: &str = "urn:switchboard:config";

/// The JSON Schema of the config file, generated from [`ConfigFile`].
pub fn schema() -> Value {
    schema_ref().clone()
}

fn schema_ref() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::schema_for!(ConfigFile);
        let mut value = serde_json::to_value(&schema).expect("a schema serializes");
        if let Value::Object(map) = &mut value {
            map.insert("$id".into(), Value::String(SCHEMA_ID.into()));
            map.insert("title".into(), "Switchboard config file".into());
        }
        value
    })
}

pub(super) fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(schema_ref()).expect("the generated config schema compiles")
    })
}

fn instance_key_path(error: &ValidationError<'_>) -> String {
    let mut path = String::new();
    for segment in error.instance_path().iter() {
        path = match segment {
            LocationSegment::Property(key) => child_key(&path, &key),
            LocationSegment::Index(i) => format!("{path}[{i}]"),
        };
    }
    path
}

fn type_word(t: JsonType) -> &'static str {
    match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "a mapping",
        JsonType::String => "a string",
    }
}

/// `found a string "x"`, `found a mapping`.
fn found(value: &Value) -> String {
    match value {
        Value::Null => "found null".into(),
        Value::Bool(b) => format!("found a boolean ({b})"),
        Value::Number(n) if n.is_f64() => format!("found a number ({n})"),
        Value::Number(n) => format!("found an integer ({n})"),
        Value::String(_) => format!("found a string ({})", preview(value)),
        Value::Array(_) => "found a list".into(),
        Value::Object(_) => "found a mapping".into(),
    }
}

fn join_words(words: &[String], last: &str) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

fn expected_types(kind: &TypeKind) -> Vec<JsonType> {
    let mut types: Vec<JsonType> = match kind {
        TypeKind::Single(t) => vec![*t],
        TypeKind::Multiple(set) => set.iter().collect(),
    };
    if types.len() > 1 {
        types.retain(|t| *t != JsonType::Null);
    }
    // An integer is a number too: "a number" says enough.
    if types.contains(&JsonType::Number) {
        types.retain(|t| *t != JsonType::Integer);
    }
    types
}

/// Levenshtein distance.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, when it is close (edit distance at most 2, case ignored).
pub(super) fn suggest<'k>(key: &str, known: impl IntoIterator<Item = &'k str>) -> Option<String> {
    let lower = key.to_lowercase();
    known
        .into_iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2 && *d < k.chars().count().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// The `properties` of the schema object that holds the keyword at `schema_path`.
fn known_keys(schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or_default();
    schema_ref()
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

fn unknown_key_issue(parent: &str, key: &str, known: &[String], note: Option<&str>) -> Issue {
    let suggested = suggest(key, known.iter().map(String::as_str));
    let mut message = format!("unknown key `{key}`");
    match &suggested {
        Some(s) => message.push_str(&format!(", did you mean `{s}`?")),
        None if !known.is_empty() && known.len() <= 8 && note.is_none() => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            message.push_str(&format!(" (known keys: {})", list.join(", ")));
        }
        None => {}
    }
    if let Some(note) = note {
        message.push_str(&format!(" ({note})"));
    }
    Issue {
        path: child_key(parent, key),
        pos: None,
        message,
        required: None,
        suggested,
    }
}

pub(super) fn report_schema_error(error: &ValidationError<'_>, out: &mut Issues) {
    let path = instance_key_path(error);
    let instance: &Value = error.instance();
    let message = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let known = known_keys(error.schema_path().as_str());
            for key in unexpected {
                out.list.push(unknown_key_issue(&path, key, &known, None));
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_string();
            out.list.push(Issue {
                path,
                pos: None,
                message: format!("missing required key `{name}`"),
                required: Some(name),
                suggested: None,
            });
            return;
        }
        ValidationErrorKind::Type { kind } => {
            let words: Vec<String> = expected_types(kind)
                .into_iter()
                .map(|t| type_word(t).to_string())
                .collect();
            format!("expected {}, {}", join_words(&words, "or"), found(instance))
        }
        ValidationErrorKind::Pattern { pattern } => pattern_message(pattern, instance),
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is less than the minimum {limit}", preview(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is greater than the maximum {limit}", preview(instance))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{} must be greater than {limit}", preview(instance))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{} must be less than {limit}", preview(instance))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!(
                "expected {}, found {}",
                preview(expected_value),
                preview(instance)
            )
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(preview).collect())
                .unwrap_or_default();
            format!(
                "expected one of {}, found {}",
                join_words(&options, "or"),
                preview(instance)
            )
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            report_alternatives(error, &path, context, out);
            return;
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!(
                "{} matches more than one of the allowed forms",
                preview(instance)
            )
        }
        _ => {
            let text = error.to_string();
            if text.chars().count() > 2 * MAX_PREVIEW {
                let cut: String = text.chars().take(2 * MAX_PREVIEW).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    };
    out.push(&path, None, message);
}

fn pattern_message(pattern: &str, instance: &Value) -> String {
    if pattern == DURATION_PATTERN {
        format!(
            "invalid duration {}: write a whole number and a unit: ms, s, m or h (e.g. 500ms, 5s, 1m)",
            preview(instance)
        )
    } else if pattern == BYTE_SIZE_PATTERN {
        format!(
            "invalid size {}: write a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB \
             (e.g. 4MiB)",
            preview(instance)
        )
    } else {
        format!(
            "{} does not match the pattern `{pattern}`",
            preview(instance)
        )
    }
}

/// `anyOf` / `oneOf` where no alternative matched: find the one the author meant and report its
/// errors, or say what the alternatives are.
fn report_alternatives(
    error: &ValidationError<'_>,
    path: &str,
    context: &[Vec<ValidationError<'static>>],
    out: &mut Issues,
) {
    let here = error.instance_path().as_str();
    let instance: &Value = error.instance();
    let at_here = |branch: &[ValidationError<'static>]| {
        branch
            .iter()
            .filter(|e| e.instance_path().as_str() == here)
            .count()
    };

    // Alternatives that are constants (enums): list them.
    let mut constants = Vec::new();
    let all_constant = !context.is_empty()
        && context.iter().all(|branch| {
            let mut found_const = false;
            for e in branch {
                match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        constants.push(preview(expected_value));
                        found_const = true;
                    }
                    ValidationErrorKind::Enum { options } => {
                        if let Some(a) = options.as_array() {
                            constants.extend(a.iter().map(preview));
                        }
                        found_const = true;
                    }
                    _ => {}
                }
            }
            found_const
        });
    if all_constant {
        constants.dedup();
        out.push(
            path,
            None,
            format!(
                "expected one of {}, found {}",
                join_words(&constants, "or"),
                preview(instance)
            ),
        );
        return;
    }

    let type_mismatch = |branch: &[ValidationError<'static>]| {
        branch.iter().any(|e| {
            e.instance_path().as_str() == here
                && matches!(e.kind(), ValidationErrorKind::Type { .. })
        })
    };
    let candidates: Vec<&Vec<ValidationError<'static>>> =
        context.iter().filter(|b| !type_mismatch(b)).collect();

    if candidates.is_empty() {
        let mut words: Vec<String> = Vec::new();
        for e in context.iter().flatten() {
            if let ValidationErrorKind::Type { kind } = e.kind() {
                if e.instance_path().as_str() == here {
                    for t in expected_types(kind) {
                        let w = type_word(t).to_string();
                        if !words.contains(&w) && t != JsonType::Null {
                            words.push(w);
                        }
                    }
                }
            }
        }
        out.push(
            path,
            None,
            format!("expected {}, {}", join_words(&words, "or"), found(instance)),
        );
        return;
    }
    if candidates.len() == 1 {
        for e in candidates[0] {
            report_schema_error(e, out);
        }
        return;
    }

    // The right type for several: prefer one whose errors are all deeper down (its shape matched).
    if let Some(deep) = candidates
        .iter()
        .filter(|b| at_here(b) == 0)
        .min_by_key(|b| b.len())
    {
        for e in deep.iter() {
            report_schema_error(e, out);
        }
        return;
    }

    // Tagged alternatives (`exact` | `prefix` | `regex`): each is a mapping of one required key.
    if let Some(tags) = tagged_alternatives(error.schema_path().as_str()) {
        let quoted: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
        let expected = format!("expected exactly one of {}", join_words(&quoted, "or"));
        let keys: Vec<&String> = instance
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let present: Vec<String> = keys
            .iter()
            .filter(|k| tags.contains(k))
            .map(|k| format!("`{k}`"))
            .collect();
        let unknown: Vec<&&String> = keys.iter().filter(|k| !tags.contains(k)).collect();
        if present.len() > 1 {
            out.push(
                path,
                None,
                format!("{expected}, found {}", join_words(&present, "and")),
            );
        }
        for key in &unknown {
            out.list
                .push(unknown_key_issue(path, key, &tags, Some(&expected)));
        }
        if present.is_empty() && unknown.is_empty() {
            out.push(path, None, expected);
        }
        return;
    }

    // Otherwise the alternative with the fewest complaints about this value itself.
    if let Some(best) = candidates.iter().min_by_key(|b| at_here(b)) {
        for e in best.iter() {
            report_schema_error(e, out);
        }
    }
}

/// Follows a local `$ref` (`#/$defs/...`).
fn resolve_ref(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| schema_ref().pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

/// When the `anyOf`/`oneOf` at `schema_path` is a choice of mappings that each have exactly one
/// (required) key, those keys.
fn tagged_alternatives(schema_path: &str) -> Option<Vec<String>> {
    let branches = schema_ref().pointer(schema_path)?.as_array()?;
    let mut tags = Vec::new();
    for branch in branches {
        let branch = resolve_ref(branch);
        let required = branch.get("required")?.as_array()?;
        let props = branch.get("properties")?.as_object()?;
        match (required.as_slice(), props.len()) {
            ([key], 1) => tags.push(key.as_str()?.to_string()),
            _ => return None,
        }
    }
    (tags.len() > 1).then_some(tags)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, summary};
    use super::*;

    #[test]
    fn messages_for_enums_tagged_choices_sizes_and_ranges() {
        let text = r#"
config:
  maxRequestBody: 4 MB
  logging: { format: xml }
binds:
- port: 70000
  listeners:
  - name: l
    protocol: HTTPX
    routes:
    - name: r
      matches: [{ path: { prefx: / } }, { path: { exact: /a, prefix: /b } }, { path: { exact: 5 } }]
      backends: [{ host: h, weight: -1 }]
"#;
        let got = summary(&errors(text, &[]));
        let want: Vec<(usize, &str, &str)> = vec![
            (3, "config.maxRequestBody", "invalid size \"4 MB\": write a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB (e.g. 4MiB)"),
            (4, "config.logging.format", "expected one of \"text\" or \"json\", found \"xml\""),
            (6, "binds[0].port", "70000 is greater than the maximum 65535"),
            (9, "binds[0].listeners[0].protocol", "expected one of \"HTTP\", \"HTTPS\", \"TCP\" or \"TLS\", found \"HTTPX\""),
            (12, "binds[0].listeners[0].routes[0].matches[0].path.prefx", "unknown key `prefx`, did you mean `prefix`? (expected exactly one of `exact`, `prefix` or `regex`)"),
            (12, "binds[0].listeners[0].routes[0].matches[1].path", "expected exactly one of `exact`, `prefix` or `regex`, found `exact` and `prefix`"),
            (12, "binds[0].listeners[0].routes[0].matches[2].path.exact", "expected a string, found an integer (5)"),
            (13, "binds[0].listeners[0].routes[0].backends[0].weight", "-1 is less than the minimum 0"),
        ];
        let want: Vec<(usize, String, String)> = want
            .into_iter()
            .map(|(l, p, m)| (l, p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_key_replaces_missing_required_and_long_values_are_cut() {
        let long = "x".repeat(200);
        let text =
            format!("config:\n  tracing: {{ otlpEndpont: x }}\n  adminAddr: [{long}]\nbindz: []\n");
        let diags = errors(&text, &[]);
        let got = summary(&diags);
        assert_eq!(
            got[0],
            (
                2,
                "config.tracing.otlpEndpont".into(),
                "unknown key `otlpEndpont`, did you mean `otlpEndpoint`?".into()
            )
        );
        assert_eq!(got[1].0, 3);
        assert_eq!(got[1].2, "expected a string, found a list");
        assert_eq!(
            got[2],
            (
                4,
                "bindz".into(),
                "unknown key `bindz`, did you mean `binds`?".into()
            )
        );
        assert_eq!(got.len(), 3);
        let text = format!("binds: [{{ port: 1, listeners: [], address: {{ a: \"{long}\" }} }}]\n");
        let diags = errors(&text, &[]);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.len() < 150, "{}", diags[0].message);
        let text = format!("binds: [{{ port: 1, listeners: [], address: {{ a: \"{long}\" }} }}]\n");
        let d = &errors(&text, &[])[0];
        assert_eq!(d.message, "expected a string, found a mapping");
        let text = format!("config: {{ drainTimeout: \"{long}\" }}\n");
        let d = &errors(&text, &[])[0];
        assert!(
            d.message.contains('…') && d.message.chars().count() < 160,
            "{}",
            d.message
        );
    }

    #[test]
    fn schema_is_valid_and_rejects_bad_ports() {
        let schema = schema();
        jsonschema::meta::validate(&schema).expect("a valid JSON Schema");
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert!(schema["title"].is_string());
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(!validator.is_valid(&serde_json::json!({"binds": [{"port": "x"}]})));
        assert!(validator.is_valid(&serde_json::json!({"binds": [{"port": 1, "listeners": []}]})));
    }
}
