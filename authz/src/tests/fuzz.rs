//! Bounded fuzzing: random expressions, from random bytes and from mutated valid rules, either
//! fail to compile or evaluate to an outcome; nothing panics.

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;

use super::*;

const SEEDS: &[&str] = &[
    r#"jwt.sub == "alice""#,
    r#"'admin' in jwt.groups && jwt.org.tier == "gold""#,
    r#"mcp.tool.name == "pay" && mcp.tool.arguments.amount < 100"#,
    r#"request.headers["x-a"].startsWith("b") || request.method in ["GET", "HEAD"]"#,
    r#"jwt.groups.exists(g, g.matches("^t-[a-z]+$"))"#,
    r#"has(apiKey.metadata.team) ? apiKey.metadata.team == "x" : false"#,
    r#"size(mcp.tool.arguments) > 2 && int(jwt.n) * 3 % 2 == 1"#,
];

const PIECES: &[&str] = &[
    "jwt",
    "mcp",
    "request",
    "apiKey",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "==",
    "!=",
    "&&",
    "||",
    "!",
    "?",
    ":",
    "'a'",
    "\"",
    "1",
    "-",
    "9223372036854775807",
    "1.5e308",
    "in",
    "has(",
    "size(",
    ".exists(x, ",
    "x",
    ",",
    " ",
    "\\",
    "u8",
    "b'",
    "null",
    "true",
    "/",
    "%",
    "*",
    "+",
];

fn check(expr: &str, data: &Data) {
    for kind in ["allow", "deny", "require"] {
        if let Ok(rules) = CompiledRules::compile(&set(&[(kind, expr)]), Phase::Mcp) {
            let _ = rules.evaluate(&data.input());
            let _ = rules.check_listing(&data.input());
        }
    }
}

#[test]
fn random_expressions_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x05ee_da07);
    let data = Data::new()
        .jwt(json!({"sub": "alice", "groups": ["admin", "t-x"], "org": {"tier": "gold"}, "n": 7}))
        .tool("bank", "pay")
        .args(json!({"amount": 5, "nested": {"l": [1, 2, {"m": null}]}}));
    for i in 0..1500 {
        let expr: String = match i % 3 {
            // Random tokens.
            0 => (0..rng.random_range(1..14))
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect(),
            // A valid rule with bytes replaced, inserted or removed.
            1 => {
                let mut s: Vec<char> = SEEDS[rng.random_range(0..SEEDS.len())].chars().collect();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..=s.len());
                    match rng.random_range(0..3) {
                        0 if at < s.len() => s[at] = rng.random_range(' '..='~'),
                        1 => s.insert(
                            at,
                            PIECES[rng.random_range(0..PIECES.len())]
                                .chars()
                                .next()
                                .unwrap_or('x'),
                        ),
                        _ if at < s.len() => {
                            s.remove(at);
                        }
                        _ => {}
                    }
                }
                s.into_iter().collect()
            }
            // Random printable and non-ASCII characters.
            _ => (0..rng.random_range(0..40))
                .map(|_| match rng.random_range(0..10) {
                    0 => char::from_u32(rng.random_range(0x80..0x3000)).unwrap_or('?'),
                    _ => rng.random_range(' '..='~'),
                })
                .collect(),
        };
        check(&expr, &data);
    }
    // Deep nesting is refused or evaluated, not a stack overflow.
    check(
        &format!("{}true{}", "(".repeat(200), ")".repeat(200)),
        &data,
    );
    check(&format!("{}true", "!".repeat(200)), &data);
}

/// Deeply nested or very long expressions are refused or evaluated, on the 2 MiB test thread,
/// without overflowing the stack.
#[test]
fn deep_and_long_expressions() {
    let data = Data::new().jwt(json!({"a": {"a": 1}})).tool("t", "n");
    let mut refused = 0;
    for n in [8, 16, 23, 24, 25, 40, 47, 48, 49, 64, 100, 200, 1000, 5000] {
        let shapes = [
            format!("{}true{}", "(".repeat(n), ")".repeat(n)),
            format!("{}true", "!".repeat(n)),
            format!("{}1 == 1", "-".repeat(n)),
            format!("[{}1{}] != []", "[".repeat(n), "]".repeat(n)),
            format!("{}true", "true && ".repeat(n)),
            format!("{}1 > 0", "1 + ".repeat(n)),
            format!("jwt{} == 1", ".a".repeat(n)),
            format!("jwt{} == 1", "['a']".repeat(n)),
            format!("{}1{} == 1", "size([".repeat(n), "])".repeat(n)),
            format!("{}true", "true ? false : ".repeat(n)),
            format!("{}{}", "{'a': ".repeat(n), "}".repeat(n)),
            format!(
                "[1].exists(x, {}x == 1{})",
                "[1].exists(y, ".repeat(n),
                ")".repeat(n)
            ),
        ];
        for src in shapes {
            for kind in ["allow", "deny"] {
                match CompiledRules::compile(&set(&[(kind, &src)]), Phase::Mcp) {
                    Ok(rules) => {
                        let _ = rules.evaluate(&data.input());
                    }
                    Err(e) => {
                        assert_eq!(e.len(), 1);
                        refused += 1;
                    }
                }
            }
        }
    }
    assert!(refused > 0);
    // The limits are not so tight that ordinary rules fail.
    let ordinary = format!("{}true{}", "(".repeat(8), ")".repeat(8));
    assert!(CompiledRules::compile(&set(&[("allow", &ordinary)]), Phase::Http).is_ok());
}

/// The deepest arguments serde_json parses (its recursion limit is 128) are bound and compared
/// without overflowing the stack.
#[test]
fn deeply_nested_arguments() {
    let depth = 126;
    let text = format!(
        r#"{{"a": {}1{}, "b": {}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth),
        "{\"k\": ".repeat(depth),
        "}".repeat(depth)
    );
    let args: serde_json::Value = serde_json::from_str(&text).unwrap();
    let data = Data::new().tool("t", "n").args(args);
    let rules = mcp(&[
        ("allow", "mcp.tool.arguments.a == mcp.tool.arguments.a"),
        ("deny", "mcp.tool.arguments.b == {'k': 1}"),
        ("require", "size(mcp.tool.arguments) == 2"),
    ]);
    let o = rules.evaluate(&data.input());
    assert!(o.allowed, "{o:?}");
}

#[test]
fn compiled_rules_are_shareable() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CompiledRules>();
}

/// A random JSON value, at most `depth` deep, from a small alphabet so that rules sometimes match.
fn random_json(rng: &mut StdRng, depth: u32) -> serde_json::Value {
    use serde_json::Value;
    match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random_range(-200i64..200)),
        3 => {
            let s = ["a", "admin", "pay", "x\u{0}y", "é"][rng.random_range(0..5)];
            json!(s)
        }
        4 => {
            let n = [u64::MAX as f64, 1.5, -0.0, 1e300][rng.random_range(0..4)];
            if n == u64::MAX as f64 {
                json!(u64::MAX)
            } else {
                json!(n)
            }
        }
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..4))
                .map(|_| {
                    let k = ["amount", "force", "groups", "sub", "x"][rng.random_range(0..5)];
                    (k.to_owned(), random_json(rng, depth - 1))
                })
                .collect(),
        ),
    }
}

/// Random request data (claims, headers, arguments) through fixed rules: no panic, and listing
/// is sound: a tool the listing hides is denied whatever its arguments.
#[test]
fn random_request_data() {
    let mut rng = StdRng::seed_from_u64(0x00da_7a00);
    let rules = mcp(&[
        (
            "allow",
            r#"mcp.tool.name == "pay" && mcp.tool.arguments.amount < 100"#,
        ),
        ("allow", r#""admin" in jwt.groups"#),
        (
            "allow",
            r#"mcp.tool.arguments.x == "a" || request.headers["x-k"] == "a""#,
        ),
        (
            "deny",
            r#"mcp.tool.name == "wipe" || mcp.tool.arguments.force == true"#,
        ),
        ("require", r#"!has(jwt.sub) || jwt.sub != "mallory""#),
        (
            "deny",
            r#"mcp.tool.arguments.exists(k, k == "groups") && mcp.tool.name == "x""#,
        ),
    ]);
    let names = ["pay", "wipe", "x", "echo"];
    let mut denied_calls = 0;
    for _ in 0..3000 {
        let claims = match random_json(&mut rng, 3) {
            serde_json::Value::Object(m) => serde_json::Value::Object(m),
            other => {
                let sub = ["mallory", "a"][rng.random_range(0..2)];
                json!({ "groups": other, "sub": sub })
            }
        };
        let args = match random_json(&mut rng, 4) {
            serde_json::Value::Object(m) => serde_json::Value::Object(m),
            other => json!({ "amount": other }),
        };
        let mut data = Data::new()
            .jwt(claims)
            .tool("t", names[rng.random_range(0..names.len())])
            .args(args);
        let bytes: Vec<u8> = (0..rng.random_range(0..6))
            .map(|_| b"a \t\x7f\x80\xffk"[rng.random_range(0..7)])
            .collect();
        if let Ok(v) = http::HeaderValue::from_bytes(&bytes) {
            data.headers.insert("x-k", v);
        }
        let call = rules.evaluate(&data.input());
        let listed = rules.check_listing(&data.input());
        if call.allowed {
            assert!(
                listed.allowed,
                "listing hid a callable tool: {call:?} {listed:?}"
            );
        } else {
            denied_calls += 1;
        }
    }
    assert!(denied_calls > 0 && denied_calls < 3000);
}
