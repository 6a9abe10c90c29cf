//! Argument validation against a tool's input schema, before any HTTP request is made.

use jsonschema::{Draft, Validator};
use serde_json::Value;

/// Compiles a validator for an input schema. Patterns written for another regex dialect can
/// make compilation fail; we then retry without `pattern` keywords rather than lose the tool.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    let build = |s: &Value| {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(s)
    };
    match build(schema) {
        Ok(v) => Ok(v),
        Err(first) => {
            let mut relaxed = schema.clone();
            strip_patterns(&mut relaxed);
            build(&relaxed).map_err(|_| format!("input schema is not valid JSON Schema: {first}"))
        }
    }
}

fn strip_patterns(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("pattern").is_some_and(Value::is_string) {
                m.remove("pattern");
            }
            m.remove("patternProperties");
            m.values_mut().for_each(strip_patterns);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_patterns),
        _ => {}
    }
}

/// Every violation as `field: message`, one per entry; empty when the arguments are valid.
pub fn errors(validator: &Validator, args: &Value) -> Vec<String> {
    validator
        .iter_errors(args)
        .map(|e| {
            let path = e.instance_path().to_string();
            let field = if path.is_empty() {
                "(arguments)".to_string()
            } else {
                path.trim_start_matches('/').replace('/', ".")
            };
            format!("{field}: {e}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_each_field() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"enum": ["x"]}},
            "required": ["c"], "additionalProperties": false});
        let v = compile(&schema).unwrap();
        let errs = errors(&v, &json!({"a": "no", "b": "y"}));
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("a:")));
        assert!(errs.iter().any(|e| e.starts_with("b:")));
    }

    #[test]
    fn bad_pattern_is_relaxed() {
        let schema = json!({"type": "string", "pattern": "(?<!x)y"});
        assert!(compile(&schema).is_ok());
    }
}
