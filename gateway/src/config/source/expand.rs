//! Stage 2: `${VAR}` expansion, resolution of plain scalars, conversion to JSON and the
//! index of positions.
//!
//! # `${VAR}`
//!
//! `${VAR}` is replaced by the environment variable `VAR` in every scalar *value* (not in keys),
//! anywhere in the string and as often as it appears; `$${` is a literal `${`. `VAR` is
//! `[A-Za-z_][A-Za-z0-9_]*`. An unset variable is an error naming it. A plain scalar that is
//! exactly one `${VAR}` is resolved again after expansion, so `port: ${PORT}` is an integer (and
//! an empty variable there is `null`); every other scalar with `${` in it is a string.
//! Unlike YAML's rule for plain scalars, an unquoted `${VAR}` also works inside a flow
//! collection (`{ value: ${KEY} }`), as the examples in the design write it.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Number, Value};

use super::issues::{preview_str, Issues};
use super::paths::{child_key, Pos};
use super::redact::is_secret_word;
use super::yaml::{Node, ScalarKind};

/// The YAML 1.2 core schema for a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if is_decimal_int(s) {
        if let Ok(n) = s.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = s.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    for (prefix, radix) in [("0o", 8), ("0x", 16)] {
        if let Some(digits) = s.strip_prefix(prefix) {
            if !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) {
                if let Ok(n) = u64::from_str_radix(digits, radix) {
                    return Value::Number(n.into());
                }
            }
        }
    }
    if is_core_float(s) {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

fn is_decimal_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    mantissa_ok && exponent_ok
}

struct Expansion {
    text: String,
    /// The whole input was one `${VAR}`.
    single_var: bool,
    /// Some variable had a secret-looking name.
    secret: bool,
}

/// Expands `${VAR}` in `s`; `Err` holds every problem found.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expansion, Vec<String>> {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut vars = 0;
    let mut escapes = 0;
    let mut secret = false;
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            escapes += 1;
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                errors.push(format!(
                    "unterminated `${{` in {} (write `$${{` for a literal `${{`)",
                    preview_str(s)
                ));
                return Err(errors);
            };
            let name = &body[..end];
            vars += 1;
            if !is_var_name(name) {
                errors.push(format!(
                    "invalid environment variable name `{name}` in `${{{name}}}` (letters, digits \
                     and `_`, not starting with a digit; write `$${{` for a literal `${{`)"
                ));
            } else {
                match env(name) {
                    Some(value) => {
                        secret |= is_secret_word(name);
                        out.push_str(&value);
                    }
                    None => errors.push(format!("environment variable {name} is not set")),
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if !errors.is_empty() {
        return Err(errors);
    }
    let single_var = vars == 1 && escapes == 0 && s.starts_with("${") && s.ends_with('}') && {
        let inner = &s[2..s.len() - 1];
        !inner.contains('}')
    };
    Ok(Expansion {
        text: out,
        single_var,
        secret,
    })
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) struct Converter<'e, 'i> {
    pub(super) env: &'e dyn Fn(&str) -> Option<String>,
    pub(super) index: HashMap<String, Pos>,
    pub(super) secret_paths: HashSet<String>,
    pub(super) issues: &'i mut Issues,
}

impl Converter<'_, '_> {
    pub(super) fn convert(&mut self, node: &Node, path: &str) -> Value {
        match node {
            Node::Scalar { text, kind, pos } => {
                if !text.contains('$') {
                    return match kind {
                        ScalarKind::Plain => resolve_plain(text),
                        ScalarKind::Text => Value::String(text.clone()),
                    };
                }
                match expand(text, self.env) {
                    Ok(exp) => {
                        if exp.secret {
                            self.secret_paths.insert(path.to_string());
                        }
                        if *kind == ScalarKind::Plain && (exp.single_var || !text.contains("${")) {
                            resolve_plain(&exp.text)
                        } else {
                            Value::String(exp.text)
                        }
                    }
                    Err(errors) => {
                        for message in errors {
                            self.issues.push(path, Some(*pos), message);
                        }
                        Value::Null
                    }
                }
            }
            Node::Seq { items, .. } => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let item_path = format!("{path}[{i}]");
                        self.index.insert(item_path.clone(), item.pos());
                        self.convert(item, &item_path)
                    })
                    .collect(),
            ),
            Node::Map { entries, .. } => {
                let mut map = Map::new();
                for (key, key_pos, value) in entries {
                    let key_path = child_key(path, key);
                    self.index.insert(key_path.clone(), *key_pos);
                    let v = self.convert(value, &key_path);
                    map.insert(key.clone(), v);
                }
                Value::Object(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{env_of, errors, load_ok, summary};
    use super::*;

    #[test]
    fn env_expansion_resolves_types_escapes_and_concatenates() {
        let text = r#"
config:
  adminAddr: ${HOST}:${ADMIN_PORT}
  logging: { level: "$${NOT_EXPANDED} costs $5, ${LEVEL}" }
binds:
- port: ${PORT}
  address: "${ADDR}"
  listeners:
  - name: l
    routes:
    - name: r
      policies:
        retry: { attempts: ${ATTEMPTS} }
        cors:
          allowCredentials: ${CREDS}
          allowOrigins: [$${X}]
"#;
        let vars = [
            ("HOST", "127.0.0.1"),
            ("ADMIN_PORT", "15001"),
            ("LEVEL", "debug"),
            ("PORT", "8080"),
            ("ADDR", "0.0.0.0"),
            ("ATTEMPTS", "3"),
            ("CREDS", "true"),
        ];
        let source = load_ok(text, &vars);
        let config = source.file.config.as_ref().unwrap();
        assert_eq!(config.admin_addr.as_deref(), Some("127.0.0.1:15001"));
        assert_eq!(
            config.logging.as_ref().unwrap().level.as_deref(),
            Some("${NOT_EXPANDED} costs $5, debug")
        );
        assert_eq!(source.file.binds[0].port, 8080);
        assert_eq!(source.raw()["binds"][0]["port"], serde_json::json!(8080));
        let policies = source.file.binds[0].listeners[0].routes[0]
            .policies
            .as_ref()
            .unwrap();
        assert_eq!(policies.retry.as_ref().unwrap().attempts, Some(3));
        let cors = policies.cors.as_ref().unwrap();
        assert_eq!(cors.allow_credentials, Some(true));
        assert_eq!(cors.allow_origins, vec!["${X}".to_string()]);

        // A quoted `${PORT}` stays a string, which the schema rejects for a port.
        let d = errors("binds: [{ port: \"${PORT}\", listeners: [] }]\n", &vars);
        assert_eq!(
            d[0].message,
            "expected an integer, found a string (\"8080\")"
        );
    }

    #[test]
    fn env_expansion_errors_name_the_variable_and_line() {
        let text = "\
config:
  adminAddr: ${A}:${B}
  sessionKey: \"${OK}\"
binds:
- port: ${PORT}
  address: \"${oops\"
  listeners: [{ name: \"${1X}\" }]
";
        let diags = errors(text, &[("OK", "k"), ("B", "1")]);
        assert_eq!(
            summary(&diags),
            vec![
                (
                    2,
                    "config.adminAddr".into(),
                    "environment variable A is not set".into()
                ),
                (
                    5,
                    "binds[0].port".into(),
                    "environment variable PORT is not set".into()
                ),
                (
                    6,
                    "binds[0].address".into(),
                    "unterminated `${` in \"${oops\" (write `$${` for a literal `${`)".into()
                ),
                (
                    7,
                    "binds[0].listeners[0].name".into(),
                    "invalid environment variable name `1X` in `${1X}` (letters, digits and `_`, \
                     not starting with a digit; write `$${` for a literal `${`)"
                        .into()
                ),
            ]
        );
        // No schema error repeats the failed values (port and name would be null).
        assert_eq!(diags.len(), 4);
        assert_eq!(diags[1].column, Some(9));
    }

    #[test]
    fn expand_unit() {
        let env = env_of(&[("A", "1"), ("B", "two"), ("EMPTY", "")]);
        let e = expand("${A}", &env).unwrap();
        assert_eq!((e.text.as_str(), e.single_var), ("1", true));
        let e = expand("${A}${B}", &env).unwrap();
        assert_eq!((e.text.as_str(), e.single_var), ("1two", false));
        let e = expand("x-${A}-$${B}-$$-$", &env).unwrap();
        assert_eq!(e.text, "x-1-${B}-$$-$");
        assert_eq!(expand("${EMPTY}", &env).unwrap().text, "");
        assert_eq!(
            expand("${C}/${D}", &env).err().unwrap(),
            vec![
                "environment variable C is not set".to_string(),
                "environment variable D is not set".to_string()
            ]
        );
        assert!(!expand("${A}", &env).unwrap().secret);
        let env = env_of(&[("MY_API_KEY", "k"), ("DB_Password", "p")]);
        assert!(expand("${MY_API_KEY}", &env).unwrap().secret);
        assert!(expand("x${DB_Password}", &env).unwrap().secret);
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        use serde_json::json;
        for (text, want) in [
            ("", json!(null)),
            ("~", json!(null)),
            ("NULL", json!(null)),
            ("True", json!(true)),
            ("false", json!(false)),
            ("yes", json!("yes")),
            ("42", json!(42)),
            ("-7", json!(-7)),
            ("+7", json!(7)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1.5", json!(1.5)),
            ("-.5", json!(-0.5)),
            ("1.", json!(1.0)),
            ("1e3", json!(1000.0)),
            (".", json!(".")),
            (".inf", json!(".inf")),
            (".nan", json!(".nan")),
            ("1_000", json!("1_000")),
            ("0x", json!("0x")),
            ("5s", json!("5s")),
            ("127.0.0.1", json!("127.0.0.1")),
            ("e3", json!("e3")),
        ] {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
    }
}
