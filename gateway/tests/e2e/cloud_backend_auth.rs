//! `backendAuth` with cloud credentials on HTTP routes: `aws` SigV4 signatures that the
//! upstream recomputes from what it received (so a header changed on the way, or a body hash
//! of the wrong bytes, fails), with credentials from the environment and from the config; and
//! `gcp` tokens from a service account key, exchanged at a loopback token endpoint that
//! checks the signed assertion, reaching the upstream as `Authorization: Bearer`.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use ring::{digest, hmac};

use e2e::{client, routes_config, Gateway, Recorded};

use crate::{get_with, upstream_errors};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// Checks `seen`'s SigV4 signature as a service would: parses `Authorization`, rebuilds the
/// canonical request from the method, path, query, the signed headers' values and
/// `payload_hash`, and recomputes the signature with `secret`. Returns the credential scope.
fn verify_sigv4(seen: &Recorded, secret: &str, payload_hash: &str) -> String {
    let auth = seen.header("authorization");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("not a SigV4 authorization: {auth:?}"));
    let mut fields = std::collections::HashMap::new();
    for part in rest.split(", ") {
        let (k, v) = part.split_once('=').expect("k=v");
        fields.insert(k, v);
    }
    let credential = fields["Credential"];
    let (key_id, scope) = credential.split_once('/').expect("key/scope");
    assert_eq!(key_id, KEY_ID);
    let signed: Vec<&str> = fields["SignedHeaders"].split(';').collect();
    assert!(
        signed.contains(&"host") && signed.contains(&"x-amz-date"),
        "{signed:?}"
    );
    let canonical_headers: String = signed
        .iter()
        .map(|name| {
            let values: Vec<String> = seen
                .headers
                .get_all(*name)
                .iter()
                .map(|v| v.to_str().expect("text").trim().to_owned())
                .collect();
            assert!(!values.is_empty(), "signed header {name} did not arrive");
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let path = seen.path();
    let mut query: Vec<&str> = seen
        .uri
        .split_once('?')
        .map(|(_, q)| q.split('&').collect())
        .unwrap_or_default();
    query.sort();
    let canonical_request = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        seen.method,
        query.join("&"),
        signed.join(";")
    );
    let amz_date = seen.header("x-amz-date");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let parts: Vec<&str> = scope.split('/').collect();
    assert_eq!(parts.len(), 4, "{scope}");
    assert_eq!(
        parts[0],
        &amz_date[..8],
        "the scope's date is the request's"
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in &parts {
        key = hmac_sha256(&key, part);
    }
    assert_eq!(
        fields["Signature"],
        hex(&hmac_sha256(&key, &string_to_sign)),
        "the signature does not match the request as received:\n{canonical_request}"
    );
    scope.to_owned()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

#[tokio::test]
async fn aws_signatures_verify_at_the_upstream() {
    let cfg = routes_config(
        r#"
- name: bedrock
  matches: [{ path: { prefix: /model } }]
  policies: { backendAuth: { aws: {} } }
  backends: [{ host: "{up}" }]
- name: upload
  matches: [{ path: { prefix: /upload } }]
  policies:
    backendAuth:
      aws: { region: eu-west-1, service: s3, accessKeyId: AKIDEXAMPLE, secretAccessKey: "${S3_SECRET}", sessionToken: session-1, unsignedPayload: true }
  backends: [{ host: "{up}" }]
"#,
    );
    let ups = crate::upstreams(&["up"]).await;
    let cfg = crate::with_hosts(&cfg, &["up"], &ups);
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("S3_SECRET", SECRET.to_owned()),
    ];
    let gw = Gateway::start_with_env(&cfg, |_| {}, &env).await;
    let up = &ups[0];
    let c = client();

    // A signed body: the upstream gets the bytes whose hash was signed.
    let body = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let r = c
        .post(gw.url("/model/m1/converse?b=2&a=1"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-token")
        .header("x-amz-date", "20000101T000000Z")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.body.as_deref(), Some(body.as_bytes()));
    let scope = verify_sigv4(&seen, SECRET, &sha256_hex(body.as_bytes()));
    assert!(
        scope.ends_with("/us-east-1/bedrock/aws4_request"),
        "{scope}"
    );
    assert_ne!(seen.header("x-amz-date"), "20000101T000000Z");
    assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);

    // A GET, signed over the empty body.
    let r = get_with(&c, &gw.url("/model/list"), &[]).await;
    assert_eq!(r.status(), 200);
    verify_sigv4(&up.last(), SECRET, &sha256_hex(b""));

    // A streamed upload with unsignedPayload: not buffered, declared unsigned, the session
    // token signed too; S3 gets the hash header.
    let chunks = [
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"part-1;")),
        Ok(bytes::Bytes::from_static(b"part-2")),
    ];
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = c
        .put(gw.url("/upload/obj"))
        .body(streamed)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.body.as_deref(), Some(&b"part-1;part-2"[..]));
    assert_eq!(seen.header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    assert_eq!(seen.header("x-amz-security-token"), "session-1");
    let scope = verify_sigv4(&seen, SECRET, "UNSIGNED-PAYLOAD");
    assert!(scope.ends_with("/eu-west-1/s3/aws4_request"), "{scope}");
    assert!(
        seen.header("authorization")
            .contains("x-amz-content-sha256;x-amz-date;x-amz-security-token"),
        "{}",
        seen.header("authorization")
    );

    // The secrets never show in /config.
    let config = c
        .get(gw.admin_url("/config"))
        .send()
        .await
        .expect("GET /config")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        config.contains("AKIDEXAMPLE") || config.contains("<redacted>"),
        "{config}"
    );
    assert!(
        !config.contains(SECRET) && !config.contains("session-1"),
        "{config}"
    );
    assert_eq!(
        upstream_errors(&gw, "main/bedrock", "backend_auth").await,
        0.0
    );
}

/// What the fake Google token endpoint saw.
#[derive(Default)]
struct TokenEndpoint {
    /// Claims of each assertion that verified.
    assertions: Vec<serde_json::Value>,
    url: String,
}

#[tokio::test]
async fn gcp_tokens_from_a_service_account_key_reach_the_upstream() {
    let public_key = include_str!("../../../backend-auth/testdata/sa-pub.pem");
    let private_key = include_str!("../../../backend-auth/testdata/sa-key.pem");
    let endpoint: Arc<Mutex<TokenEndpoint>> = Arc::default();
    let state = endpoint.clone();
    let app = axum::Router::new().route(
        "/token",
        post(move |body: String| {
            let state = state.clone();
            async move {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                assert_eq!(
                    form.get("grant_type").map(String::as_str),
                    Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                );
                let mut state = state.lock().expect("lock");
                let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                validation.set_audience(&[state.url.as_str()]);
                validation.set_issuer(&["gw@p.iam.gserviceaccount.com"]);
                let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes())
                    .expect("public key");
                let claims = jsonwebtoken::decode::<serde_json::Value>(
                    form.get("assertion").map_or("", String::as_str),
                    &key,
                    &validation,
                )
                .expect("a valid assertion")
                .claims;
                state.assertions.push(claims);
                let n = state.assertions.len();
                axum::Json(serde_json::json!({
                    "access_token": format!("ya29.token-{n}"),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token_url = format!("http://{}/token", listener.local_addr().expect("addr"));
    endpoint.lock().expect("lock").url = token_url.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let cfg = routes_config(
        r#"
- name: run
  policies: { backendAuth: { gcp: { credentialsFile: "{dir}/sa.json", scopes: [https://www.googleapis.com/auth/aiplatform] } } }
  backends: [{ host: "{up}" }]
"#,
    );
    let ups = crate::upstreams(&["up"]).await;
    let cfg = crate::with_hosts(&cfg, &["up"], &ups);
    let key = serde_json::json!({
        "type": "service_account",
        "private_key_id": "k1",
        "private_key": private_key,
        "client_email": "gw@p.iam.gserviceaccount.com",
        "token_uri": token_url,
    });
    let gw = Gateway::start_with(&cfg, |dir| {
        std::fs::write(dir.join("sa.json"), key.to_string()).expect("write key");
    })
    .await;
    let c = client();
    for _ in 0..3 {
        let r = get_with(
            &c,
            &gw.url("/v1/models"),
            &[("authorization", "Bearer client")],
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(ups[0].last().header("authorization"), "Bearer ya29.token-1");
    }
    let endpoint = endpoint.lock().expect("lock");
    assert_eq!(endpoint.assertions.len(), 1, "one token for every request");
    assert_eq!(
        endpoint.assertions[0]["scope"],
        "https://www.googleapis.com/auth/aiplatform"
    );
}
