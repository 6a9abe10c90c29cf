//! `mcpAuthentication`: the metadata document, the challenges, the audience binding and the
//! scope check, against a JWKS file of a test key.

use http::HeaderMap;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::config::JwksConfig;

const RSA1: &str = include_str!("../../testdata/rsa1.pem");
const ISS: &str = "https://idp.test";
const RESOURCE: &str = "https://gw.example.com/mcp";

fn key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()
}

/// A config whose JWKS file (of rsa1, `k1`) is written into `dir`.
fn config(dir: &std::path::Path) -> McpAuthenticationConfig {
    let mut jwk = Jwk::from_encoding_key(&key(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k1".into());
    std::fs::write(
        dir.join("jwks.json"),
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    McpAuthenticationConfig {
        resource: RESOURCE.into(),
        authorization_servers: vec![ISS.into()],
        scopes: vec!["mcp:tools".into()],
        scopes_supported: vec!["mcp:admin".into()],
        jwks: JwksConfig {
            file: Some("jwks.json".into()),
            ..JwksConfig::default()
        },
        ..McpAuthenticationConfig::default()
    }
}

fn build(c: &McpAuthenticationConfig, dir: &std::path::Path) -> McpAuth {
    McpAuth::build(c, dir).unwrap()
}

fn token(claims: Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".into());
    jsonwebtoken::encode(&h, &claims, &key()).unwrap()
}

fn claims(aud: Value, scope: &str) -> Value {
    let exp = jsonwebtoken::get_current_timestamp() + 300;
    json!({"iss": ISS, "aud": aud, "sub": "alice", "exp": exp, "scope": scope})
}

fn headers(auth: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::AUTHORIZATION, auth.parse().unwrap());
    h
}

#[test]
fn metadata_names_the_configured_resource_and_is_path_inserted() {
    let dir = tempfile::tempdir().unwrap();
    let a = build(&config(dir.path()), dir.path());
    let m = a.metadata();
    assert_eq!(m.path, "/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        m.url,
        "https://gw.example.com/.well-known/oauth-protected-resource/mcp"
    );
    let doc: Value = serde_json::from_str(&m.document).unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISS],
            "scopes_supported": ["mcp:tools", "mcp:admin"],
            "bearer_methods_supported": ["header"],
        })
    );
}

#[test]
fn a_resource_at_the_root_is_served_at_the_bare_well_known_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.resource = "http://127.0.0.1:8080".into();
    let a = build(&c, dir.path());
    assert_eq!(a.metadata().path, "/.well-known/oauth-protected-resource");
    assert_eq!(
        a.metadata().url,
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
    );
    c.resource = "https://gw.example.com:8443/a/b/".into();
    let a = build(&c, dir.path());
    assert_eq!(
        a.metadata().path,
        "/.well-known/oauth-protected-resource/a/b/"
    );
    assert_eq!(
        a.metadata().url,
        "https://gw.example.com:8443/.well-known/oauth-protected-resource/a/b/"
    );
}

#[test]
fn bad_configs_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = |f: &dyn Fn(&mut McpAuthenticationConfig)| {
        let mut c = config(dir.path());
        f(&mut c);
        McpAuth::build(&c, dir.path()).unwrap_err()
    };
    assert_eq!(
        err(&|c| c.resource = "http://gw.example.com/mcp".into()).at,
        "resource"
    );
    assert_eq!(err(&|c| c.resource = "/mcp".into()).at, "resource");
    assert_eq!(
        err(&|c| c.resource = "https://gw/mcp?x=1".into()).at,
        "resource"
    );
    assert_eq!(
        err(&|c| c.resource = "https://gw/mcp#f".into()).at,
        "resource"
    );
    assert_eq!(
        err(&|c| c.authorization_servers.clear()).at,
        "authorizationServers"
    );
    assert_eq!(
        err(&|c| c.authorization_servers.push("ftp://x".into())).at,
        "authorizationServers[1]"
    );
    assert_eq!(
        err(&|c| c.authorization_servers.push("https://idp2.test".into())).at,
        "issuer"
    );
    assert_eq!(err(&|c| c.scopes.push("a b".into())).at, "scopes[1]");
    assert_eq!(
        err(&|c| c.scopes_supported.push("q\"".into())).at,
        "scopesSupported[1]"
    );
    assert_eq!(
        err(&|c| c.jwks.file = Some("nope.json".into())).at,
        "jwks.file"
    );
}

#[tokio::test]
async fn no_token_gets_the_discovery_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let a = build(&config(dir.path()), dir.path());
    let Verdict::Rejected(f) = a.authenticate(&HeaderMap::new()).await else {
        panic!("not rejected")
    };
    assert_eq!(f.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.reason, Reason::Missing);
    assert_eq!(
        f.challenge,
        "Bearer resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\""
    );
    // A scheme other than Bearer is no token either.
    let Verdict::Rejected(f) = a.authenticate(&headers("Basic YTpi")).await else {
        panic!("not rejected")
    };
    assert_eq!(f.reason, Reason::Missing);
}

#[tokio::test]
async fn no_scope_param_when_no_scope_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.scopes.clear();
    let a = build(&c, dir.path());
    assert_eq!(
        a.missing().challenge,
        "Bearer resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\""
    );
    let t = token(claims(json!(RESOURCE), ""));
    assert!(matches!(
        a.authenticate(&headers(&format!("Bearer {t}"))).await,
        Verdict::Authenticated(_)
    ));
}

#[tokio::test]
async fn a_token_for_the_resource_with_the_scope_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let a = build(&config(dir.path()), dir.path());
    let t = token(claims(json!(["other", RESOURCE]), "openid mcp:tools"));
    let Verdict::Authenticated(id) = a.authenticate(&headers(&format!("Bearer {t}"))).await else {
        panic!("refused")
    };
    assert_eq!(id.subject(), "alice");
    assert_eq!(id.method_name(), "jwt");
    // `scp` as a list is read too.
    let mut c = claims(json!(RESOURCE), "");
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["mcp:tools"]);
    assert!(matches!(
        a.authenticate(&headers(&format!("Bearer {}", token(c))))
            .await,
        Verdict::Authenticated(_)
    ));
}

#[tokio::test]
async fn a_token_for_another_audience_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let a = build(&config(dir.path()), dir.path());
    for aud in [
        json!("https://other.example.com/mcp"),
        json!("https://gw.example.com/mcp/"),
        json!("https://gw.example.com"),
        json!(ISS),
    ] {
        let t = token(claims(aud.clone(), "mcp:tools"));
        let Verdict::Rejected(f) = a.authenticate(&headers(&format!("Bearer {t}"))).await else {
            panic!("{aud} accepted")
        };
        assert_eq!(f.reason, Reason::Audience, "{aud}");
        assert_eq!(f.status, StatusCode::UNAUTHORIZED);
        assert!(
            f.challenge.starts_with("Bearer error=\"invalid_token\""),
            "{}",
            f.challenge
        );
        assert!(
            f.challenge.contains("resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\""),
            "{}",
            f.challenge
        );
    }
    // An extra audience is accepted when configured.
    let mut c = config(dir.path());
    c.audiences = vec!["legacy-gw".into()];
    let a = build(&c, dir.path());
    let t = token(claims(json!("legacy-gw"), "mcp:tools"));
    assert!(matches!(
        a.authenticate(&headers(&format!("Bearer {t}"))).await,
        Verdict::Authenticated(_)
    ));
}

#[tokio::test]
async fn a_token_without_a_required_scope_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.scopes = vec!["mcp:tools".into(), "mcp:write".into()];
    let a = build(&c, dir.path());
    for granted in ["", "mcp:tools", "mcp:tool mcp:write", "MCP:TOOLS mcp:write"] {
        let t = token(claims(json!(RESOURCE), granted));
        let Verdict::Rejected(f) = a.authenticate(&headers(&format!("Bearer {t}"))).await else {
            panic!("{granted:?} accepted")
        };
        assert_eq!(f.status, StatusCode::FORBIDDEN);
        assert_eq!(f.reason, Reason::InsufficientScope);
        assert_eq!(
            f.challenge,
            "Bearer error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"mcp:tools mcp:write\", resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\""
        );
    }
    let t = token(claims(json!(RESOURCE), "mcp:write x mcp:tools"));
    assert!(matches!(
        a.authenticate(&headers(&format!("Bearer {t}"))).await,
        Verdict::Authenticated(_)
    ));
}

#[test]
fn scope_tokens_follow_rfc_6749() {
    assert!(is_scope_token("mcp:tools"));
    assert!(is_scope_token("https://api/x.read"));
    assert!(!is_scope_token(""));
    assert!(!is_scope_token("a b"));
    assert!(!is_scope_token("a\\b"));
    assert!(!is_scope_token("é"));
}
