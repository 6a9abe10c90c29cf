//! The rules of [`Source::redacted`](super::Source::redacted): which values of the effective
//! config are secrets.

use std::collections::HashSet;

use serde_json::Value;

use super::paths::child_key;

/// Placeholder written instead of a secret by [`Source::redacted`](super::Source::redacted).
pub const REDACTED: &str = "<redacted>";

pub(super) fn is_secret_word(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["key", "secret", "password", "token", "credential"]
        .iter()
        .any(|w| lower.contains(w))
}

#[derive(Default, Clone, Copy)]
pub(super) struct RedactCtx {
    /// The key of this value (or of the list it is in) looks secret.
    secret_key: bool,
    /// Under `backendAuth` or a secret-looking key: `value` fields are secrets.
    secret_scope: bool,
    /// Inside a header map of a header modifier (`add`/`set`).
    header_map: bool,
}

const SECRET_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_word(name)
}

/// Keys that contain a secret word but hold no secret.
fn is_structural(parent_path: &str, key: &str) -> bool {
    matches!(key, "maxTokens" | "tokensPerFill" | "keyPrefix")
        || key.ends_with("Url")
        || (key == "key" && parent_path.ends_with("tls"))
        || (key == "credentialsFile" && parent_path.ends_with("backendAuth.gcp"))
}

pub(super) fn redact(
    value: &mut Value,
    path: &str,
    secret_paths: &HashSet<String>,
    ctx: RedactCtx,
) {
    match value {
        Value::String(_) | Value::Number(_) => {
            if ctx.secret_key || secret_paths.contains(path) {
                *value = Value::String(REDACTED.into());
            } else if let Value::String(s) = value {
                if let Some(clean) = redact_url_password(s) {
                    *s = clean;
                }
                if let Some(clean) = redact_url_query(s) {
                    *s = clean;
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                redact(item, &format!("{path}[{i}]"), secret_paths, ctx);
            }
        }
        Value::Object(map) => {
            let names_secret = ["name", "header"].iter().any(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_header)
            });
            let is_header_modifier =
                path.ends_with("requestHeaderModifier") || path.ends_with("responseHeaderModifier");
            for (key, child) in map.iter_mut() {
                let child_path = child_key(path, key);
                let structural = is_structural(path, key);
                let secret_key = !structural
                    && (is_secret_word(key)
                        || (ctx.header_map && is_secret_header(key))
                        || (matches!(key.as_str(), "value" | "regex")
                            && (names_secret || ctx.secret_scope)));
                let child_ctx = RedactCtx {
                    secret_key,
                    secret_scope: ctx.secret_scope
                        || key == "backendAuth"
                        || (!structural && is_secret_word(key)),
                    header_map: (is_header_modifier && matches!(key.as_str(), "add" | "set"))
                        || (path.ends_with("promptGuard.request.webhook") && key == "headers"),
                };
                redact(child, &child_path, secret_paths, child_ctx);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// `scheme://user:password@host...` with the password replaced.
fn redact_url_password(s: &str) -> Option<String> {
    let scheme_end = s.find("://")?;
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    if colon + 1 == userinfo.len() {
        return None;
    }
    Some(format!(
        "{}{}:{REDACTED}{}",
        &s[..scheme_end + 3],
        &userinfo[..colon],
        &s[scheme_end + 3 + at..]
    ))
}

/// A URL's query parameters whose names look secret (`api_key`, `access_token`, `sig`...),
/// values replaced: `https://h/mcp?api_key=<redacted>&x=1`.
fn redact_url_query(s: &str) -> Option<String> {
    s.find("://")?;
    let q = s.find('?')?;
    let end = s[q..].find('#').map_or(s.len(), |i| q + i);
    let mut changed = false;
    let params: Vec<String> = s[q + 1..end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, v))
                if !v.is_empty()
                    && (is_secret_word(name)
                        || matches!(name.to_ascii_lowercase().as_str(), "sig" | "signature")) =>
            {
                changed = true;
                format!("{name}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect();
    changed.then(|| format!("{}?{}{}", &s[..q], params.join("&"), &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{load_ok, DESIGN_ENV, DESIGN_EXAMPLE};
    use super::*;

    #[test]
    fn redaction_hides_secrets_and_keeps_names() {
        let mut vars = DESIGN_ENV.to_vec();
        vars.push(("UPSTREAM_TOKEN", "tok-123"));
        let text = DESIGN_EXAMPLE.replace(
            "      backends: [{ backend: tools }]",
            "      backends: [{ backend: tools }]\n      \
             policies: { requestHeaderModifier: { set: { authorization: \"Bearer ${UPSTREAM_TOKEN}\", x-api-key: k1, x-plain: v }, remove: [x-api-key] } }",
        ).replacen("      policies: { cors: { allowOrigins: [\"*\"] } }\n", "", 1);
        let source = load_ok(&text, &vars);
        let r = source.redacted();
        assert_eq!(r["config"]["sessionKey"], REDACTED);
        assert_eq!(r["config"]["adminAddr"], "127.0.0.1:15000");
        let set = &r["binds"][0]["listeners"][0]["routes"][0]["policies"]["requestHeaderModifier"];
        assert_eq!(set["set"]["authorization"], REDACTED);
        assert_eq!(set["set"]["x-api-key"], REDACTED);
        assert_eq!(set["set"]["x-plain"], "v");
        assert_eq!(set["remove"][0], "x-api-key");
        let target = &r["backends"][0]["mcp"]["targets"][3]["policies"]["backendAuth"]["key"];
        assert_eq!(target["value"], REDACTED);
        assert_eq!(target["header"], "x-api-key");
        let api = &r["binds"][0]["listeners"][0]["routes"][2]["matches"][0]["headers"][0];
        assert_eq!(api["name"], "x-env");
        assert_eq!(api["value"], "prod");
        let text = serde_json::to_string(&r).unwrap();
        for secret in ["pet-secret-123", "tok-123", DESIGN_ENV[0].1, "k1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        // The Debug form is redacted too.
        assert!(!format!("{source:?}").contains("pet-secret-123"));
    }

    #[test]
    fn backend_auth_keys_and_client_secrets_are_redacted() {
        let text = "\
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: mcp
      backends: [{ backend: tools }]
backends:
- name: tools
  mcp:
    targets:
    - name: a
      mcp: { url: \"http://127.0.0.1:1/mcp\" }
      policies: { backendAuth: { key: tok-str-1 } }
    - name: b
      mcp: { url: \"http://127.0.0.1:2/mcp\" }
      policies:
        backendAuth:
          oauth2: { tokenUrl: \"http://127.0.0.1:3/t\", clientId: gw, clientSecret: cs-1 }
";
        let r = load_ok(text, &[]).redacted();
        let targets = &r["backends"][0]["mcp"]["targets"];
        assert_eq!(targets[0]["policies"]["backendAuth"]["key"], REDACTED);
        let oauth2 = &targets[1]["policies"]["backendAuth"]["oauth2"];
        assert_eq!(oauth2["clientSecret"], REDACTED);
        assert_eq!(oauth2["tokenUrl"], "http://127.0.0.1:3/t");
        assert_eq!(oauth2["clientId"], "gw");
        let all = serde_json::to_string(&r).unwrap_or_default();
        assert!(!all.contains("tok-str-1") && !all.contains("cs-1"), "{all}");
    }

    #[test]
    fn gcp_and_aws_secrets_are_redacted() {
        let text = "\
binds:
- port: 8080
  listeners:
  - name: main
    routes:
    - name: bedrock
      backends: [{ host: \"127.0.0.1:1\" }]
      policies:
        backendAuth:
          aws: { region: us-east-1, service: bedrock, accessKeyId: AKID-1, secretAccessKey: sak-1, sessionToken: sess-tok-9 }
    - name: run
      backends: [{ host: \"127.0.0.1:2\" }]
      policies:
        backendAuth:
          gcp: { type: idToken, audience: \"https://svc.example\", credentialsFile: /etc/sa.json }
";
        let source = load_ok(text, &[]);
        let r = source.redacted();
        let routes = &r["binds"][0]["listeners"][0]["routes"];
        let aws = &routes[0]["policies"]["backendAuth"]["aws"];
        assert_eq!(aws["secretAccessKey"], REDACTED);
        assert_eq!(aws["sessionToken"], REDACTED);
        assert_eq!(aws["accessKeyId"], REDACTED);
        assert_eq!(aws["region"], "us-east-1");
        assert_eq!(aws["service"], "bedrock");
        let gcp = &routes[1]["policies"]["backendAuth"]["gcp"];
        assert_eq!(
            gcp["credentialsFile"], "/etc/sa.json",
            "a path, not a secret"
        );
        assert_eq!(gcp["audience"], "https://svc.example");
        assert_eq!(gcp["type"], "idToken");
        let all = serde_json::to_string(&r).unwrap_or_default();
        for secret in ["AKID-1", "sak-1", "sess-tok-9"] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        assert!(!format!("{source:?}").contains("sak-1"));
    }

    #[test]
    fn passwords_and_secret_query_parameters_in_urls_are_redacted() {
        let cases = [
            (
                "redis://:pw-1@127.0.0.1:6379/0",
                Some("redis://:<redacted>@127.0.0.1:6379/0"),
            ),
            (
                "rediss://default:pw-2@cache:6380",
                Some("rediss://default:<redacted>@cache:6380"),
            ),
            ("redis://127.0.0.1:6379", None),
            ("redis://user@127.0.0.1:6379", None),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url_password(url).as_deref(), want, "{url}");
        }
        let cases = [
            (
                "https://h.example/mcp?api_key=k-1&team=x",
                Some("https://h.example/mcp?api_key=<redacted>&team=x"),
            ),
            (
                "https://h.example/sse?x=1&access_token=t-1#frag",
                Some("https://h.example/sse?x=1&access_token=<redacted>#frag"),
            ),
            (
                "https://s.example/b?sig=abc",
                Some("https://s.example/b?sig=<redacted>"),
            ),
            ("https://h.example/mcp?team=x", None),
            ("not a url?token=x", None),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url_query(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn redaction_rules_for_env_values_and_structure() {
        let text = "\
config:
  adminAddr: ${ADMIN_SECRET}
  tracing: { otlpEndpoint: \"http://user:hunter2@collector:4317/x\" }
binds:
- port: 1
  listeners:
  - name: l
    tls: { cert: ./c.pem, key: ./k.pem }
    routes:
    - name: r
      matches: [{ headers: [{ name: Authorization, value: Bearer abc }] }]
      policies:
        apiKeyAuth: { header: x-api-key, keys: [{ name: ci, key: ci-key, metadata: { team: infra } }] }
        localRateLimit: [{ maxTokens: 10, tokensPerFill: 10, fillInterval: 1s }]
        rateLimit:
          store: { redis: { url: \"redis://rl:hunter3@127.0.0.1:6379/2\", keyPrefix: sb } }
          limits: [{ maxTokens: 5, tokensPerFill: 5, fillInterval: 1m }]
        backendAuth: { oauth2: { tokenUrl: \"http://127.0.0.1:3/t\", clientId: id, clientSecret: s3 } }
        promptGuard: { request: { webhook: { url: \"http://127.0.0.1:9/c\", headers: { authorization: Bearer hk, x-team: infra } } } }
";
        let source = load_ok(text, &[("ADMIN_SECRET", "0.0.0.0:1")]);
        let r = source.redacted();
        assert_eq!(r["config"]["adminAddr"], REDACTED);
        assert_eq!(
            r["config"]["tracing"]["otlpEndpoint"],
            "http://user:<redacted>@collector:4317/x"
        );
        let listener = &r["binds"][0]["listeners"][0];
        assert_eq!(listener["tls"]["key"], "./k.pem");
        let route = &listener["routes"][0];
        assert_eq!(route["matches"][0]["headers"][0]["name"], "Authorization");
        assert_eq!(route["matches"][0]["headers"][0]["value"], REDACTED);
        let p = &route["policies"];
        assert_eq!(p["apiKeyAuth"]["header"], "x-api-key");
        assert_eq!(p["apiKeyAuth"]["keys"][0]["name"], "ci");
        assert_eq!(p["apiKeyAuth"]["keys"][0]["key"], REDACTED);
        assert_eq!(p["apiKeyAuth"]["keys"][0]["metadata"]["team"], "infra");
        assert_eq!(p["localRateLimit"][0]["maxTokens"], 10);
        let redis = &p["rateLimit"]["store"]["redis"];
        assert_eq!(redis["url"], "redis://rl:<redacted>@127.0.0.1:6379/2");
        assert_eq!(redis["keyPrefix"], "sb");
        assert_eq!(p["rateLimit"]["limits"][0]["maxTokens"], 5);
        assert_eq!(p["backendAuth"]["oauth2"]["clientId"], "id");
        assert_eq!(p["backendAuth"]["oauth2"]["clientSecret"], REDACTED);
        let hook = &p["promptGuard"]["request"]["webhook"];
        assert_eq!(hook["headers"]["authorization"], REDACTED);
        assert_eq!(hook["headers"]["x-team"], "infra");
        assert_eq!(hook["url"], "http://127.0.0.1:9/c");
    }
}
