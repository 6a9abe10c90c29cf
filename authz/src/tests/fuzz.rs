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
    "jwt", "mcp", "request", "apiKey", ".", "(", ")", "[", "]", "{", "}", "==", "!=", "&&", "||",
    "!", "?", ":", "'a'", "\"", "1", "-", "9223372036854775807", "1.5e308", "in", "has(", "size(",
    ".exists(x, ", "x", ",", " ", "\\", "u8", "b'", "null", "true", "/", "%", "*", "+",
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
    let mut rng = StdRng::seed_from_u64(0x5eed_a07);
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
                        1 => s.insert(at, PIECES[rng.random_range(0..PIECES.len())].chars().next().unwrap_or('x')),
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
    check(&format!("{}true{}", "(".repeat(200), ")".repeat(200)), &data);
    check(&format!("{}true", "!".repeat(200)), &data);
}

#[test]
fn deep_parse_probe() {
    for n in [20, 32, 48, 64, 95] {
        for stack in [32usize << 20, 128 << 20] {
            for (kind, src) in [
                ("parens", format!("{}true{}", "(".repeat(n), ")".repeat(n))),
                ("bang", format!("{}true", "!".repeat(n))),
                ("list", format!("[{}1{}] == []", "[".repeat(n), "]".repeat(n))),
                ("and", format!("{}true", "true && ".repeat(n))),
                ("member", format!("jwt{}", ".a".repeat(n))),
            ] {
                let ok = std::thread::Builder::new().stack_size(stack).spawn(move || cel::Env::stdlib().compile(&src).ok()).unwrap().join().unwrap();
                let ran = ok.map(|p| std::thread::Builder::new().stack_size(2 << 20).spawn(move || { let _ = p.execute(&cel::Context::default()); true }).unwrap().join().unwrap());
                eprintln!("{kind} n={n} stack={}M -> parsed+ran {:?}", stack >> 20, ran);
            }
        }
    }
}
