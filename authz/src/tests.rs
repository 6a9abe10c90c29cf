//! Unit tests of the engine: precedence, variables, errors, compile checks, listing.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Map, Value};

use crate::*;

mod fuzz;

/// The data an [`Input`] borrows.
struct Data {
    claims: Option<Map<String, Value>>,
    api_key: Option<(String, Value)>,
    basic: Option<String>,
    method: String,
    path: String,
    headers: http::HeaderMap,
    mcp_method: String,
    item: Option<(McpKind, String, String)>,
    args: Option<Map<String, Value>>,
}

impl Data {
    fn new() -> Data {
        Data {
            claims: None,
            api_key: None,
            basic: None,
            method: "GET".into(),
            path: "/x".into(),
            headers: http::HeaderMap::new(),
            mcp_method: "tools/call".into(),
            item: None,
            args: None,
        }
    }
    fn jwt(mut self, claims: Value) -> Data {
        self.claims = Some(claims.as_object().unwrap().clone());
        self
    }
    fn tool(mut self, target: &str, name: &str) -> Data {
        self.item = Some((McpKind::Tool, target.into(), name.into()));
        self
    }
    fn item(mut self, kind: McpKind, target: &str, name: &str) -> Data {
        self.item = Some((kind, target.into(), name.into()));
        self
    }
    fn args(mut self, args: Value) -> Data {
        self.args = Some(args.as_object().unwrap().clone());
        self
    }
    fn input(&self) -> Input<'_> {
        Input {
            identity: IdentityView {
                jwt: self.claims.as_ref(),
                api_key: self.api_key.as_ref().map(|(name, metadata)| ApiKeyView {
                    name,
                    metadata: metadata.as_object(),
                }),
                basic_auth: self
                    .basic
                    .as_deref()
                    .map(|username| BasicAuthView { username }),
            },
            request: RequestView {
                method: &self.method,
                path: &self.path,
                headers: &self.headers,
                source_address: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))),
            },
            mcp: Some(McpView {
                method: &self.mcp_method,
                item: self.item.as_ref().map(|(kind, target, name)| McpItem {
                    kind: *kind,
                    target,
                    name,
                    arguments: self.args.as_ref(),
                }),
            }),
        }
    }
}

/// `[("allow", "expr"), ...]` as a rule set, through serde like the config file.
fn set(rules: &[(&str, &str)]) -> RuleSet {
    let rules: Vec<Value> = rules.iter().map(|(k, e)| json!({ *k: e })).collect();
    serde_json::from_value(json!({ "rules": rules })).unwrap()
}

fn compile(rules: &[(&str, &str)], phase: Phase) -> CompiledRules {
    CompiledRules::compile(&set(rules), phase).unwrap_or_else(|e| panic!("{e:?}"))
}

fn mcp(rules: &[(&str, &str)]) -> CompiledRules {
    compile(rules, Phase::Mcp)
}

fn allowed(rules: &CompiledRules, data: &Data) -> bool {
    rules.evaluate(&data.input()).allowed
}

fn compile_err(rules: &[(&str, &str)], phase: Phase) -> Vec<RuleError> {
    match CompiledRules::compile(&set(rules), phase) {
        Ok(_) => panic!("{rules:?} compiled in {phase:?}"),
        Err(e) => e,
    }
}

#[test]
fn config_shape() {
    let s: RuleSet = serde_json::from_value(
        json!({"rules": [{"allow": "true"}, {"deny": "false"}, {"require": "true"}]}),
    )
    .unwrap();
    assert_eq!(
        s.rules,
        vec![
            Rule::Allow("true".into()),
            Rule::Deny("false".into()),
            Rule::Require("true".into())
        ]
    );
    // Exactly one key per rule; unknown keys refused.
    for bad in [
        json!({"rules": [{"allow": "true", "deny": "true"}]}),
        json!({"rules": [{"permit": "true"}]}),
        json!({"rules": [], "extra": 1}),
        json!({"rules": ["true"]}),
    ] {
        assert!(
            serde_json::from_value::<RuleSet>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        serde_json::from_value::<RuleSet>(json!({})).unwrap().rules,
        vec![]
    );
    // The schema exists and names the three keys.
    let schema = serde_json::to_string(&schemars::schema_for!(RuleSet)).unwrap();
    for key in ["allow", "deny", "require"] {
        assert!(schema.contains(key), "{schema}");
    }
}

#[test]
fn precedence() {
    let d = Data::new().tool("a", "echo");
    let t = "true";
    let f = "false";
    // (rules, allowed, reason)
    type Row<'a> = (Vec<(&'a str, &'a str)>, bool, Reason);
    let table: Vec<Row> = vec![
        (vec![], true, Reason::NoRules),
        (vec![("allow", t)], true, Reason::AllowRule(0)),
        (vec![("allow", f)], false, Reason::NoAllowMatched),
        (vec![("allow", f), ("allow", t)], true, Reason::AllowRule(1)),
        // deny wins over a matching allow, wherever it is written
        (vec![("allow", t), ("deny", t)], false, Reason::DenyRule(1)),
        (vec![("deny", f), ("allow", t)], true, Reason::AllowRule(1)),
        // deny-only: allows the rest
        (vec![("deny", f)], true, Reason::NoAllowRules),
        (vec![("deny", t)], false, Reason::DenyRule(0)),
        // require: every one must hold
        (vec![("require", t)], true, Reason::NoAllowRules),
        (
            vec![("require", t), ("require", f)],
            false,
            Reason::RequireFailed(1),
        ),
        (
            vec![("require", f), ("allow", t)],
            false,
            Reason::RequireFailed(0),
        ),
        (
            vec![("require", t), ("allow", t)],
            true,
            Reason::AllowRule(1),
        ),
        (
            vec![("require", t), ("allow", f)],
            false,
            Reason::NoAllowMatched,
        ),
        // deny checked before require
        (
            vec![("require", f), ("deny", t)],
            false,
            Reason::DenyRule(1),
        ),
    ];
    for (rules, want, reason) in table {
        let o = mcp(&rules).evaluate(&d.input());
        assert_eq!((o.allowed, o.reason), (want, reason), "{rules:?}");
        assert!(o.errors.is_empty());
    }
}

#[test]
fn design_example() {
    // The example in DESIGN.md.
    let r = mcp(&[
        ("allow", r#"jwt.sub == "alice""#),
        (
            "allow",
            r#"jwt.sub == "bob" && mcp.tool.target == "alpha" && mcp.tool.name == "echo""#,
        ),
        ("deny", r#"mcp.tool.name == "delete_everything""#),
    ]);
    let alice = |t: &str| Data::new().jwt(json!({"sub": "alice"})).tool("alpha", t);
    let bob = |target: &str, t: &str| Data::new().jwt(json!({"sub": "bob"})).tool(target, t);
    assert!(allowed(&r, &alice("anything")));
    assert!(!allowed(&r, &alice("delete_everything")));
    assert!(allowed(&r, &bob("alpha", "echo")));
    assert!(!allowed(&r, &bob("beta", "echo")));
    assert!(!allowed(&r, &bob("alpha", "other")));
    assert!(!allowed(
        &r,
        &Data::new()
            .jwt(json!({"sub": "carol"}))
            .tool("alpha", "echo")
    ));
    // The deny on tool names does not fail on prompts (their `mcp.tool` is empty).
    let prompt = Data::new()
        .jwt(json!({"sub": "alice"}))
        .item(McpKind::Prompt, "alpha", "greet");
    let o = r.evaluate(&prompt.input());
    assert!(o.allowed && o.errors.is_empty(), "{o:?}");
}

#[test]
fn claims_nested_and_lists() {
    let r = mcp(&[(
        "allow",
        r#"'admin' in jwt.groups && jwt.org.tier == "gold""#,
    )]);
    let d = |claims| Data::new().jwt(claims).tool("a", "t");
    assert!(allowed(
        &r,
        &d(json!({"groups": ["dev", "admin"], "org": {"tier": "gold"}}))
    ));
    assert!(!allowed(
        &r,
        &d(json!({"groups": ["dev"], "org": {"tier": "gold"}}))
    ));
    assert!(!allowed(
        &r,
        &d(json!({"groups": ["admin"], "org": {"tier": "silver"}}))
    ));
    // Comprehension variables are not taken for unknown variables.
    let r = compile(
        &[(
            "allow",
            r#"jwt.groups.exists(g, g.startsWith("team-")) && jwt.n >= 3"#,
        )],
        Phase::Http,
    );
    assert!(allowed(&r, &d(json!({"groups": ["x", "team-a"], "n": 3}))));
    assert!(!allowed(&r, &d(json!({"groups": ["x"], "n": 3}))));
    assert!(!allowed(&r, &d(json!({"groups": ["team-a"], "n": 2}))));
}

#[test]
fn absent_identity_parts() {
    // No JWT: `jwt` is an empty map; `has()` tests presence without failing.
    let r = compile(&[("allow", "has(jwt.sub)")], Phase::Http);
    let o = r.evaluate(&Data::new().input());
    assert_eq!(
        (o.allowed, o.reason, o.errors.len()),
        (false, Reason::NoAllowMatched, 0)
    );
    assert!(allowed(&r, &Data::new().jwt(json!({"sub": "x"}))));
    // Reading a claim that is not there fails, and so denies (reported).
    let r = compile(&[("deny", r#"jwt.sub == "mallory""#)], Phase::Http);
    let o = r.evaluate(&Data::new().input());
    assert!(!o.allowed);
    assert_eq!(o.reason, Reason::EvalError(0));
    assert_eq!(o.errors.len(), 1);
    assert_eq!(o.errors[0].kind, RuleKind::Deny);
    // apiKey / basicAuth of an anonymous caller are empty, not failures.
    let r = compile(
        &[(
            "deny",
            r#"apiKey.name == "revoked" || basicAuth.username == "root""#,
        )],
        Phase::Http,
    );
    let o = r.evaluate(&Data::new().input());
    assert!(o.allowed && o.errors.is_empty(), "{o:?}");
}

#[test]
fn api_key_and_basic_auth() {
    let r = compile(
        &[
            ("allow", r#"apiKey.metadata.team == "infra""#),
            ("allow", r#"basicAuth.username == "ops""#),
        ],
        Phase::A2a,
    );
    let mut d = Data::new();
    d.api_key = Some(("ci".into(), json!({"team": "infra"})));
    assert!(allowed(&r, &d));
    d.api_key = Some(("ci".into(), json!({"team": "web"})));
    assert!(!allowed(&r, &d));
    let r2 = compile(&[("allow", r#"apiKey.name == "ci""#)], Phase::Http);
    assert!(allowed(&r2, &d));
    d.api_key = Some(("cd".into(), json!({})));
    assert!(!allowed(&r2, &d));
    d.api_key = None;
    d.basic = Some("ops".into());
    let o = r.evaluate(&d.input());
    // The API-key rule fails (no `team` in empty metadata) but the other allow still allows.
    assert!(o.allowed, "{o:?}");
    assert_eq!(o.reason, Reason::AllowRule(1));
    assert_eq!(o.errors.len(), 1);
    d.basic = Some("dev".into());
    let o = r.evaluate(&d.input());
    assert_eq!((o.allowed, o.reason), (false, Reason::EvalError(0)));
}

#[test]
fn request_fields_and_headers() {
    let r = compile(
        &[
            (
                "allow",
                r#"request.method == "GET" && request.path.startsWith("/x")"#,
            ),
            ("allow", r#"request.headers["x-team"] == "a, b""#),
            ("deny", r#"request.sourceAddress == "10.9.9.9""#),
        ],
        Phase::Http,
    );
    let mut d = Data::new();
    assert!(allowed(&r, &d));
    d.method = "POST".into();
    assert!(!allowed(&r, &d));
    // Header names are lowercase; repeated headers are joined.
    d.headers.append("X-Team", "a".parse().unwrap());
    d.headers.append("x-team", "b".parse().unwrap());
    assert!(allowed(&r, &d));
    let r = compile(
        &[("require", r#"request.sourceAddress == "10.1.2.3""#)],
        Phase::Http,
    );
    assert!(allowed(&r, &d));
    let r = compile(
        &[
            ("allow", r#"has(request.headers.authorization)"#),
            ("allow", "'x-team' in request.headers"),
        ],
        Phase::Http,
    );
    let o = r.evaluate(&d.input());
    assert_eq!((o.allowed, o.reason), (true, Reason::AllowRule(1)));
}

#[test]
fn mcp_tool_target_name_arguments() {
    let r = mcp(&[
        (
            "allow",
            r#"mcp.tool.target == "bank" && mcp.tool.name == "pay" && mcp.tool.arguments.amount < 100"#,
        ),
        ("allow", r#"mcp.tool.name == "echo""#),
    ]);
    assert!(r.reads_tool_arguments());
    let pay = |args| Data::new().tool("bank", "pay").args(args);
    assert!(allowed(&r, &pay(json!({"amount": 99}))));
    assert!(!allowed(&r, &pay(json!({"amount": 100}))));
    assert!(!allowed(&r, &pay(json!({"amount": 5000}))));
    assert!(!allowed(
        &r,
        &Data::new().tool("other", "pay").args(json!({"amount": 1}))
    ));
    assert!(allowed(&r, &Data::new().tool("any", "echo")));
    // Missing arguments: the rule fails, so it does not allow.
    let o = r.evaluate(&Data::new().tool("bank", "pay").input());
    assert_eq!((o.allowed, o.reason), (false, Reason::EvalError(0)));
    // Nested arguments, and method and prompt / resource fields.
    let r = mcp(&[(
        "allow",
        r#"mcp.method == "tools/call" && mcp.tool.arguments.opts.mode in ["safe", "dry"]"#,
    )]);
    assert!(allowed(
        &r,
        &Data::new()
            .tool("a", "t")
            .args(json!({"opts": {"mode": "dry"}}))
    ));
    assert!(!allowed(
        &r,
        &Data::new()
            .tool("a", "t")
            .args(json!({"opts": {"mode": "live"}}))
    ));
    let r = mcp(&[
        (
            "allow",
            r#"mcp.prompt.target == "p" && mcp.prompt.name == "greet""#,
        ),
        ("allow", r#"mcp.resource.name.startsWith("memo://")"#),
    ]);
    assert!(allowed(
        &r,
        &Data::new().item(McpKind::Prompt, "p", "greet")
    ));
    assert!(!allowed(
        &r,
        &Data::new().item(McpKind::Prompt, "q", "greet")
    ));
    assert!(allowed(
        &r,
        &Data::new().item(McpKind::Resource, "r", "memo://x")
    ));
    assert!(!allowed(
        &r,
        &Data::new().item(McpKind::Resource, "r", "file:///etc")
    ));
    assert!(!allowed(&r, &Data::new().tool("p", "greet")));
    // Rules that do not read arguments do not need them.
    assert!(!mcp(&[("allow", "mcp.tool.name == 'x'")]).reads_tool_arguments());
    assert!(mcp(&[("allow", "size(mcp.tool) > 0")]).reads_tool_arguments());
}

#[test]
fn evaluation_errors_deny() {
    let d = Data::new().jwt(json!({"sub": "a", "n": 1})).tool("a", "t");
    for (kind, expr) in [
        ("deny", "jwt.missing == 1"),
        ("require", "jwt.sub > 1"),  // type error
        ("allow", "jwt.sub"),        // not a bool
        ("allow", "jwt.n / 0 == 1"), // division by zero
        ("require", "request.headers['absent'] == 'x'"),
    ] {
        let o = mcp(&[(kind, expr)]).evaluate(&d.input());
        assert!(!o.allowed, "{kind}: {expr}");
        assert_eq!(o.reason, Reason::EvalError(0), "{kind}: {expr}");
        assert_eq!(o.errors.len(), 1, "{kind}: {expr}");
        assert!(!o.errors[0].message.is_empty());
    }
    // An erroring deny denies even when an allow matches.
    let o = mcp(&[("allow", "true"), ("deny", "jwt.missing")]).evaluate(&d.input());
    assert_eq!((o.allowed, o.reason), (false, Reason::EvalError(1)));
}

#[test]
fn compile_errors() {
    // Syntax errors, with every bad rule reported by index.
    let e = compile_err(
        &[("allow", "true"), ("allow", "jwt.sub =="), ("deny", "(((")],
        Phase::Http,
    );
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].rule, e[0].kind), (1, RuleKind::Allow));
    assert!(matches!(e[0].problem, Problem::Syntax(_)));
    assert_eq!((e[1].rule, e[1].kind), (2, RuleKind::Deny));
    assert!(
        e[0].to_string()
            .starts_with("rules[1].allow: invalid CEL expression"),
        "{}",
        e[0]
    );
    // Unknown variables (typos).
    let e = compile_err(&[("allow", r#"jtw.sub == "a""#)], Phase::Mcp);
    assert!(
        matches!(&e[0].problem, Problem::UnknownVariable { name, .. } if name == "jtw"),
        "{e:?}"
    );
    let e = compile_err(&[("require", "[1].exists(x, y == x)")], Phase::Http);
    assert!(
        matches!(&e[0].problem, Problem::UnknownVariable { name, .. } if name == "y"),
        "{e:?}"
    );
    // A comprehension variable is not in scope outside its macro.
    let e = compile_err(
        &[("allow", "jwt.groups.exists(g, g == 'a') || g == 'b'")],
        Phase::Http,
    );
    assert!(
        matches!(&e[0].problem, Problem::UnknownVariable { name, .. } if name == "g"),
        "{e:?}"
    );
    // MCP variables on an HTTP or A2A route.
    for phase in [Phase::Http, Phase::A2a] {
        let e = compile_err(
            &[("allow", "true"), ("deny", r#"mcp.tool.name == "x""#)],
            phase,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].rule, 1);
        assert!(
            matches!(&e[0].problem, Problem::NotInPhase { name, .. } if name == "mcp"),
            "{e:?}"
        );
    }
    // Misspelt fields of fixed-shape variables.
    for (expr, path) in [
        ("request.header['a'] == 'b'", "request.header"),
        ("has(apiKey.nmae)", "apiKey.nmae"),
        ("mcp.tools.name == 'a'", "mcp.tools"),
        ("mcp.tool.args.x == 1", "mcp.tool.args"),
        ("mcp.prompt.arguments.x == 1", "mcp.prompt.arguments"),
    ] {
        let e = compile_err(&[("allow", expr)], Phase::Mcp);
        assert!(
            matches!(&e[0].problem, Problem::UnknownField { path: p, .. } if p == path),
            "{expr}: {e:?}"
        );
    }
    // Free-form maps and CEL's own names are not checked.
    compile(
        &[
            (
                "allow",
                "jwt.anything.goes && apiKey.metadata.x == 1 && request.headers.y == 'z'",
            ),
            (
                "allow",
                "type(jwt.sub) == string && mcp.tool.arguments.deep.er == 1",
            ),
            (
                "allow",
                "[1, 2].map(x, x * 2).all(y, y > 0) && {'a': 1}.exists(k, k == 'a')",
            ),
        ],
        Phase::Mcp,
    );
}

#[test]
fn listing() {
    let r = mcp(&[
        (
            "allow",
            r#"mcp.tool.name == "pay" && mcp.tool.arguments.amount < 100"#,
        ),
        ("allow", r#"mcp.tool.name == "echo""#),
        (
            "deny",
            r#"mcp.tool.name == "wipe" || mcp.tool.arguments.force == true"#,
        ),
    ]);
    let listed = |name: &str| {
        let d = Data::new().tool("t", name);
        let o = r.check_listing(&d.input());
        assert!(o.errors.is_empty(), "{o:?}");
        o.allowed
    };
    // `pay` may be allowed with some arguments: listed; its call decides.
    assert!(listed("pay"));
    assert_eq!(
        r.check_listing(&Data::new().tool("t", "pay").input())
            .reason,
        Reason::MayAllow(0)
    );
    assert!(listed("echo"));
    // Hidden: no allow rule could match it, or a deny matches it whatever the arguments.
    assert!(!listed("other"));
    assert!(!listed("wipe"));
    // The call-time argument deny does not hide `echo`, but denies the call with `force`.
    assert!(!allowed(
        &r,
        &Data::new().tool("t", "echo").args(json!({"force": true}))
    ));
    assert!(allowed(
        &r,
        &Data::new().tool("t", "echo").args(json!({"force": false}))
    ));
    // A rule that reads the arguments in a way that does not fail when they are left out.
    let r = mcp(&[("allow", "has(mcp.tool.arguments) && mcp.tool.name == 'x'")]);
    assert!(r.check_listing(&Data::new().tool("t", "y").input()).allowed);
    // Argument-free errors still hide (and are reported).
    let r = mcp(&[("allow", "jwt.sub == 'a'")]);
    let o = r.check_listing(&Data::new().tool("t", "x").input());
    assert_eq!((o.allowed, o.errors.len()), (false, 1));
    // A prompt's listing is decided fully: its tool arguments are known (empty).
    let r = mcp(&[("deny", "mcp.tool.arguments.x == 1")]);
    let o = r.check_listing(&Data::new().item(McpKind::Prompt, "t", "p").input());
    assert_eq!((o.allowed, o.reason), (false, Reason::EvalError(0)));
}

#[test]
fn outside_mcp_the_mcp_variable_is_empty() {
    // An Mcp-phase rule set evaluated without an MCP view (e.g. a non-item method).
    let r = mcp(&[
        ("deny", "mcp.tool.name == 'x'"),
        ("require", "mcp.method == ''"),
    ]);
    let d = Data::new();
    let mut input = d.input();
    input.mcp = None;
    let o = r.evaluate(&input);
    assert!(o.allowed && o.errors.is_empty(), "{o:?}");
}

#[test]
fn readme_idioms() {
    let with = Data::new().jwt(json!({"sub": "a"})).tool("t", "n");
    let without = Data::new().tool("t", "n");
    for expr in [
        r#""sub" in jwt"#,
        r#"jwt.?sub.orValue("") == "a""#,
        r#"has(jwt.sub) && jwt.sub == "a""#,
    ] {
        let r = mcp(&[("allow", expr)]);
        assert!(allowed(&r, &with), "{expr}");
        let o = r.evaluate(&without.input());
        assert!(!o.allowed && o.errors.is_empty(), "{expr}: {o:?}");
    }
    // `matches` (the cel crate's `regex` feature).
    let r = mcp(&[("allow", r#"jwt.sub.matches("^[a-c]$")"#)]);
    assert!(allowed(&r, &with));
    // "is this a tool"
    let r = mcp(&[("allow", r#"mcp.tool.name != """#)]);
    assert!(allowed(&r, &with));
    assert!(!allowed(&r, &Data::new().item(McpKind::Prompt, "t", "n")));
}
