//! Lowering `promptGuard`: compiled into the `ai` terminal, an invalid pattern a load error at
//! its key with its line, the policy refused where it cannot apply.

use super::*;
use crate::model::plan::Terminal;

fn config(policies: &str, backend: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      matches: [{{ path: {{ prefix: /a }} }}]
      policies:
{policies}
      backends: [{{ backend: {backend} }}]
backends:
- name: llm
  ai:
    groups:
    - providers:
      - {{ name: local, openaiCompatible: {{ url: "http://127.0.0.1:8000/v1" }} }}
- name: web
  host: 127.0.0.1:9000
"#
    )
}

const GUARD: &str = r#"        promptGuard:
          request:
            regex:
              action: mask
              builtins: [email, creditCard]
              patterns:
              - { name: ticket, pattern: "TICKET-[0-9]+" }
            webhook: { url: "http://127.0.0.1:9100/check", timeout: 500ms, failureMode: failOpen }
          response:
            regex: { builtins: [usSsn] }"#;

#[test]
fn a_guard_is_compiled_into_the_ai_terminal() {
    let m = lowered(&config(GUARD, "llm"));
    let route = route_for(&m, "/a/v1/chat/completions");
    let Terminal::Ai(t) = &route.backends[0].plan.terminal else {
        panic!("not ai");
    };
    let g = t.guard.as_ref().expect("the guard");
    let req = g.request.as_ref().unwrap();
    assert_eq!(req.action, crate::guard::Action::Mask);
    assert_eq!(
        req.detector.mask("a@b.io TICKET-7").text,
        "<EMAIL> <TICKET>"
    );
    let hook = g.webhook.as_ref().unwrap();
    assert!(hook.fail_open);
    assert_eq!(hook.timeout, std::time::Duration::from_millis(500));
    let resp = g.response.as_ref().unwrap();
    assert_eq!(resp.action, crate::guard::Action::Reject);
}

#[test]
fn an_invalid_pattern_is_an_error_at_its_key_and_line() {
    let yaml = config(
        r#"        promptGuard:
          request:
            regex:
              patterns:
              - { name: ok, pattern: "a+" }
              - { name: broken, pattern: "(unclosed" }"#,
        "llm",
    );
    let errs = errors(&yaml);
    let (line, path, msg) = errs
        .iter()
        .find(|(_, p, _)| p.ends_with("promptGuard.request.regex.patterns[1].pattern"))
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(msg.contains("broken"), "{msg}");
    let want = yaml.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
    assert_eq!(*line, Some(want), "{path}");
}

#[test]
fn misplaced_or_malformed_guards_are_refused() {
    let errs = errors(&config(GUARD, "web"));
    assert!(
        has_error(
            &errs,
            "policies.promptGuard",
            "does not apply to host backend"
        ),
        "{errs:?}"
    );
    let errs = errors(&config(
        "        promptGuard: { request: { regex: { action: mask } } }",
        "llm",
    ));
    assert!(
        has_error(
            &errs,
            "promptGuard.request.regex",
            "needs builtins or patterns"
        ),
        "{errs:?}"
    );
    let errs = errors(&config(
        "        promptGuard: { request: { webhook: { url: \"ftp://x\" } } }",
        "llm",
    ));
    assert!(
        has_error(&errs, "promptGuard.request.webhook.url", "http://"),
        "{errs:?}"
    );
}

#[test]
fn unknown_keys_are_schema_errors() {
    let yaml = config(
        "        promptGuard: { request: { regex: { builtins: [email], acton: mask } } }",
        "llm",
    );
    let Err(err) = Source::from_str(&yaml, Path::new("test.yaml"), &|_| None) else {
        panic!("a schema error expected");
    };
    assert!(err.to_string().contains("acton"), "{err}");
    let yaml = config(
        "        promptGuard: { request: { regex: { builtins: [iban] } } }",
        "llm",
    );
    assert!(Source::from_str(&yaml, Path::new("test.yaml"), &|_| None).is_err());
}
