//! Secrets stay secret: the credentials callers present (API keys, basic passwords, JWTs, good
//! or refused, in headers or the query string) and the ones the config holds (API keys,
//! `backendAuth` keys and AWS keys, OAuth2 client secrets, `sessionKey`) appear neither in
//! the gateway's log, at `debug`, nor in `/config`, while every one of them still works.

use base64::Engine as _;
use e2e::{client, routes_config, with_settings, Gateway, Upstream};

use crate::authn::{jwks, token, RSA1};
use crate::get_with;

const API_KEY: &str = "api-key-e2e-secret-0001";
const WRONG_KEY: &str = "wrong-key-e2e-secret-0002";
const BACKEND_KEY: &str = "backend-key-e2e-secret-0003";
const CLIENT_SECRET: &str = "client-secret-e2e-0004";
const AWS_SECRET: &str = "aws-secret-e2e-0005";
const AWS_KEY_ID: &str = "AKIAE2ESECRET0006";
const PASSWORD: &str = "basic-pw-e2e-0007";
const WRONG_PASSWORD: &str = "basic-wrong-e2e-0008";
const QUERY_SECRET: &str = "query-secret-e2e-0009";
const SESSION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const ROUTES: &str = r#"
- name: key
  matches: [{ path: { prefix: /key } }]
  policies:
    apiKeyAuth: { keys: [{ name: ci, key: "${E2E_SECRETS_API_KEY}" }] }
    backendAuth: { key: { header: x-upstream-key, value: "${E2E_SECRETS_BACKEND_KEY}" } }
  backends: [{ host: "{up}" }]
- name: basic
  matches: [{ path: { prefix: /basic } }]
  policies: { basicAuth: { htpasswd: users.htpasswd } }
  backends: [{ host: "{up}" }]
- name: jwt
  matches: [{ path: { prefix: /jwt } }]
  policies:
    jwtAuth: { issuer: "https://idp.test", audiences: [switchboard], jwks: { file: jwks.json } }
  backends: [{ host: "{up}" }]
- name: oauth
  matches: [{ path: { prefix: /oauth } }]
  policies:
    backendAuth: { oauth2: { tokenUrl: "http://127.0.0.1:9/token", clientId: gw, clientSecret: "${E2E_SECRETS_CLIENT_SECRET}" } }
  backends: [{ host: "{up}" }]
- name: aws
  matches: [{ path: { prefix: /aws } }]
  policies:
    backendAuth:
      aws: { region: us-east-1, service: execute-api, accessKeyId: "${E2E_SECRETS_AWS_KEY_ID}", secretAccessKey: "${E2E_SECRETS_AWS_SECRET}" }
  backends: [{ host: "{up}" }]
- name: public
  backends: [{ host: "{up}" }]
"#;

/// A request: path and query, headers, and the status it should get.
type Case<'a> = (String, Vec<(&'a str, String)>, u16);

#[tokio::test]
async fn secrets_are_neither_logged_nor_shown_in_config() {
    let up = Upstream::start("up").await;
    let cfg = with_settings(
        &format!("sessionKey: {SESSION_KEY}\nlogging: {{ level: debug }}"),
        &routes_config(ROUTES).replace("{up}", &up.host()),
    );
    let hash = bcrypt::hash(PASSWORD, 4).expect("hash");
    let env = [
        ("E2E_SECRETS_API_KEY", API_KEY.to_string()),
        ("E2E_SECRETS_BACKEND_KEY", BACKEND_KEY.to_string()),
        ("E2E_SECRETS_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("E2E_SECRETS_AWS_KEY_ID", AWS_KEY_ID.to_string()),
        ("E2E_SECRETS_AWS_SECRET", AWS_SECRET.to_string()),
    ];
    let gw = Gateway::start_with_env(
        &cfg,
        move |dir| {
            std::fs::write(dir.join("jwks.json"), jwks(RSA1, "k1")).expect("jwks");
            std::fs::write(dir.join("users.htpasswd"), format!("bob:{hash}\n")).expect("users");
        },
        &env,
    )
    .await;
    let c = client();
    let basic = |p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("bob:{p}"))
        )
    };
    let good_jwt = token(RSA1, "k1", 300);
    let expired_jwt = token(RSA1, "k1", -600);
    let cases: Vec<Case> = vec![
        ("/key/a".into(), vec![("x-api-key", API_KEY.into())], 200),
        ("/key/b".into(), vec![("x-api-key", WRONG_KEY.into())], 401),
        (
            "/key/c".into(),
            vec![("authorization", format!("Bearer {WRONG_KEY}"))],
            401,
        ),
        (
            "/basic/a".into(),
            vec![("authorization", basic(PASSWORD))],
            200,
        ),
        (
            "/basic/b".into(),
            vec![("authorization", basic(WRONG_PASSWORD))],
            401,
        ),
        (
            "/jwt/a".into(),
            vec![("authorization", format!("Bearer {good_jwt}"))],
            200,
        ),
        (
            "/jwt/b".into(),
            vec![("authorization", format!("Bearer {expired_jwt}"))],
            401,
        ),
        (
            format!("/public/q?api_key={QUERY_SECRET}&access_token={good_jwt}"),
            vec![],
            200,
        ),
        ("/aws/a".into(), vec![], 200),
        // The token endpoint is down: 502, saying why, without the client secret.
        ("/oauth/a".into(), vec![], 502),
    ];
    for (path, headers, want) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get_with(&c, &gw.url(path), &headers).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, *want, "{path}: {body}");
        for secret in [CLIENT_SECRET, BACKEND_KEY, AWS_SECRET] {
            assert!(
                !body.contains(secret),
                "{path}: the answer shows {secret}: {body}"
            );
        }
    }
    // The config's credentials did their work upstream.
    let key_request = up
        .requests()
        .into_iter()
        .find(|r| r.path() == "/key/a")
        .expect("/key/a reached the upstream");
    assert_eq!(key_request.header("x-upstream-key"), BACKEND_KEY);
    let aws_request = up
        .requests()
        .into_iter()
        .find(|r| r.path() == "/aws/a")
        .expect("/aws/a reached the upstream");
    assert!(aws_request.header("authorization").contains(AWS_KEY_ID));

    let config = c
        .get(gw.admin_url("/config"))
        .send()
        .await
        .expect("/config")
        .text()
        .await
        .expect("/config body");
    for secret in [
        API_KEY,
        BACKEND_KEY,
        CLIENT_SECRET,
        AWS_SECRET,
        AWS_KEY_ID,
        SESSION_KEY,
    ] {
        assert!(!config.contains(secret), "/config shows {secret}: {config}");
    }
    // Every access line is written by now (each response was read to its end).
    let log = gw.stderr_once(|s| s.contains("path=/oauth/a")).await;
    assert!(
        log.contains("path=/public/q "),
        "the query is not logged: {log}"
    );
    let basic_good = basic(PASSWORD);
    let basic_wrong = basic(WRONG_PASSWORD);
    for secret in [
        API_KEY,
        WRONG_KEY,
        BACKEND_KEY,
        CLIENT_SECRET,
        AWS_SECRET,
        PASSWORD,
        WRONG_PASSWORD,
        &basic_good["Basic ".len()..],
        &basic_wrong["Basic ".len()..],
        &good_jwt,
        &expired_jwt,
        QUERY_SECRET,
        SESSION_KEY,
    ] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
    }
}
