//! `aws` SigV4 signing against AWS's published test suite (the `aws-sig-v4-test-suite`
//! requests, credentials and signatures) and against an independent computation of the
//! algorithm with `ring`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, Uri};
use ring::{digest, hmac};

use super::*;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// `post-sts-header-before`'s session token.
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/// 2015-08-30T12:36:00Z, the time of every request in the suite.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn signer(service: &str, session_token: Option<&str>, unsigned_payload: bool) -> aws::SigV4 {
    let config = AwsConfig {
        region: Some("us-east-1".into()),
        service: Some(service.into()),
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        session_token: session_token.map(str::to_owned),
        unsigned_payload,
    };
    aws::SigV4::new(&config, &|_| None).expect("valid aws config")
}

/// Signs `method uri` with `headers` and `body` at the suite's time; the headers after.
fn sign(
    signer: &aws::SigV4,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    let method: Method = method.parse().expect("method");
    let uri: Uri = uri.parse().expect("uri");
    signer
        .sign(
            Outgoing {
                method: &method,
                uri: &uri,
                headers: &mut map,
                body,
            },
            suite_time(),
        )
        .expect("signed");
    map
}

fn authorization(headers: &HeaderMap) -> &str {
    headers["authorization"].to_str().expect("ascii")
}

/// The requests of AWS's SigV4 test suite and the `Authorization` header the suite gives for
/// each (`<name>/header-signed-request.txt`).
#[test]
fn the_published_test_vectors() {
    let host = [("host", "example.amazonaws.com")];
    let plain = signer("service", None, false);
    // (suite name, method, URL, headers, signed headers, signature)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
    );
    let cases: [Case; 5] = [
        (
            "get-vanilla",
            "GET",
            "https://example.amazonaws.com/",
            &host,
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "post-vanilla",
            "POST",
            "https://example.amazonaws.com/",
            &host,
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &host,
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "get-vanilla-query-unreserved",
            "GET",
            "https://example.amazonaws.com/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            &host,
            "host;x-amz-date",
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
        (
            "get-header-value-trim",
            "GET",
            "https://example.amazonaws.com/",
            &[
                ("host", "example.amazonaws.com"),
                ("my-header1", " value1"),
                ("my-header2", "\"a   b   c\""),
            ],
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
    ];
    for (name, method, uri, headers, signed, signature) in cases {
        let out = sign(&plain, method, uri, headers, Some(b""));
        assert_eq!(
            authorization(&out),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders={signed}, Signature={signature}"
            ),
            "{name}"
        );
        assert_eq!(out["x-amz-date"], "20150830T123600Z", "{name}");
        assert!(out.get("x-amz-content-sha256").is_none(), "{name}");
    }

    // post-sts-header-before: temporary credentials, the token signed as a header.
    let sts = signer("service", Some(STS_TOKEN), false);
    let out = sign(
        &sts,
        "POST",
        "https://example.amazonaws.com/",
        &host,
        Some(b""),
    );
    assert_eq!(
        authorization(&out),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-security-token, \
         Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
    );
    assert_eq!(out["x-amz-security-token"], STS_TOKEN);
    assert!(out["x-amz-security-token"].is_sensitive());
    assert!(out["authorization"].is_sensitive());
}

/// SigV4 written out from its specification, for checking the signer independently.
pub(crate) mod independent {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn sha256_hex(data: &[u8]) -> String {
        hex(digest::digest(&digest::SHA256, data).as_ref())
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The signature of a request whose canonical form is given: `headers` lower-case,
    /// sorted, values trimmed; `query` already canonical.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signature(
        secret: &str,
        amz_date: &str,
        region: &str,
        service: &str,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
    ) -> String {
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let canonical_request = format!(
            "{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{payload_hash}",
            signed.join(";")
        );
        let date = &amz_date[..8];
        let scope = format!("{date}/{region}/{service}/aws4_request");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
        let k_region = hmac(&k_date, region);
        let k_service = hmac(&k_region, service);
        let k_signing = hmac(&k_service, "aws4_request");
        hex(&hmac(&k_signing, &string_to_sign))
    }
}

/// get-vanilla's published signature is what the algorithm gives, computed here without
/// `aws-sigv4`; and a signed body is hashed into the signature the same way.
#[test]
fn an_independent_computation_agrees() {
    let empty = independent::sha256_hex(b"");
    let vanilla = independent::signature(
        SECRET,
        "20150830T123600Z",
        "us-east-1",
        "service",
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ],
        &empty,
    );
    assert_eq!(
        vanilla,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );

    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let bedrock = signer("bedrock", None, false);
    let uri = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m1/converse";
    let out = sign(
        &bedrock,
        "POST",
        uri,
        &[
            ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("content-type", "application/json"),
        ],
        Some(body),
    );
    let expected = independent::signature(
        SECRET,
        "20150830T123600Z",
        "us-east-1",
        "bedrock",
        "POST",
        // Double-encoded as every service but S3 wants (no reserved characters here).
        "/model/m1/converse",
        "",
        &[
            ("content-type", "application/json"),
            ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ],
        &independent::sha256_hex(body),
    );
    assert_eq!(
        authorization(&out),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={expected}"
        )
    );
    // Another body, another signature.
    let other = sign(
        &bedrock,
        "POST",
        uri,
        &[
            ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("content-type", "application/json"),
        ],
        Some(b"{}"),
    );
    assert_ne!(authorization(&other), authorization(&out));
}

/// A Bedrock model id holds `:` (an ARN also `/`), sent percent-encoded (`%3A`, `%2F`, as the
/// AWS SDKs send it); the signature covers that path as sent, encoded once more in the
/// canonical request (`%253A`), as SigV4 wants for every service but S3.
#[test]
fn a_bedrock_model_id_is_signed_as_sent() {
    let bedrock = signer("bedrock", None, false);
    let body = br#"{"messages":[]}"#;
    for (sent, canonical) in [
        (
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse-stream",
        ),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.nova/converse",
            "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123%253Ainference-profile%252Fus.nova/converse",
        ),
    ] {
        let out = sign(
            &bedrock,
            "POST",
            &format!("https://bedrock-runtime.us-east-1.amazonaws.com{sent}"),
            &[("host", "bedrock-runtime.us-east-1.amazonaws.com")],
            Some(body),
        );
        let expected = independent::signature(
            SECRET,
            "20150830T123600Z",
            "us-east-1",
            "bedrock",
            "POST",
            canonical,
            "",
            &[
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            &independent::sha256_hex(body),
        );
        assert!(
            authorization(&out).ends_with(&format!("Signature={expected}")),
            "{sent}: {}",
            authorization(&out)
        );
    }
}

#[test]
fn an_unsigned_payload_is_declared_and_a_streamed_body_needs_it() {
    let unsigned = signer("bedrock", None, true);
    assert!(!unsigned.signs_body());
    let out = sign(
        &unsigned,
        "PUT",
        "http://127.0.0.1:9/upload",
        &[("host", "127.0.0.1:9")],
        None,
    );
    assert_eq!(out["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert!(authorization(&out).contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"));

    let signed = signer("bedrock", None, false);
    assert!(signed.signs_body());
    let method = Method::PUT;
    let uri: Uri = "http://127.0.0.1:9/upload".parse().expect("uri");
    let mut headers = HeaderMap::new();
    let err = signed
        .sign(
            Outgoing {
                method: &method,
                uri: &uri,
                headers: &mut headers,
                body: None,
            },
            suite_time(),
        )
        .expect_err("a streamed body cannot be hashed")
        .to_string();
    assert!(err.contains("unsignedPayload"), "{err}");
}

/// The client's own `authorization` and `x-amz-*` signing headers are neither signed nor sent.
#[test]
fn the_clients_signing_headers_are_replaced() {
    let plain = signer("service", None, false);
    let out = sign(
        &plain,
        "GET",
        "https://example.amazonaws.com/",
        &[
            ("host", "example.amazonaws.com"),
            ("authorization", "Bearer client-token"),
            ("x-amz-date", "20000101T000000Z"),
            ("x-amz-security-token", "client-session"),
        ],
        Some(b""),
    );
    assert!(authorization(&out).ends_with(
        "SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    ));
    assert_eq!(out.get_all("x-amz-date").iter().count(), 1);
    assert!(out.get("x-amz-security-token").is_none());
}

#[test]
fn credentials_and_region_come_from_the_environment() {
    let env: HashMap<&str, &str> = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into();
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let config = AwsConfig {
        region: None,
        service: Some("service".into()),
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        unsigned_payload: false,
    };
    let from_env = aws::SigV4::new(&config, &lookup).expect("from the environment");
    let out = sign(
        &from_env,
        "GET",
        "https://example.amazonaws.com/",
        &[("host", "example.amazonaws.com")],
        Some(b""),
    );
    assert!(authorization(&out)
        .contains("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));

    let err = |config: &AwsConfig, env: &dyn Fn(&str) -> Option<String>| match aws::SigV4::new(
        config, env,
    ) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let msg = err(&config, &|name| {
        (name == "AWS_REGION").then(|| "eu-west-1".to_owned())
    });
    assert!(
        msg.contains("AWS_ACCESS_KEY_ID") && msg.contains("aws.accessKeyId"),
        "{msg}"
    );
    let msg = err(&config, &|_| None);
    assert!(
        msg.contains("aws.region") && msg.contains("AWS_REGION"),
        "{msg}"
    );
    let half = AwsConfig {
        region: Some("us-east-1".into()),
        access_key_id: Some("AKID".into()),
        ..config.clone()
    };
    assert!(err(&half, &|_| None).contains("go together"));
}

/// `BackendAuth::authorize` signs; `credential` (header-only callers) refuses; a 401 is not
/// retried with the same keys.
#[tokio::test]
async fn backend_auth_signs_through_authorize() {
    let config = BackendAuthConfig::Aws(AwsConfig {
        region: Some("us-east-1".into()),
        service: None,
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        session_token: None,
        unsigned_payload: false,
    });
    let auth = BackendAuth::new(&config, "here", || Err("unused".into())).expect("aws");
    assert!(auth.signs_requests() && auth.signs_body());
    assert!(auth.credential().await.is_err());
    let method = Method::POST;
    let uri: Uri = "http://127.0.0.1:9/x".parse().expect("uri");
    let mut headers = HeaderMap::new();
    let used = auth
        .authorize(Outgoing {
            method: &method,
            uri: &uri,
            headers: &mut headers,
            body: Some(b"{}"),
        })
        .await
        .expect("signed");
    let value = headers["authorization"].to_str().expect("ascii");
    assert!(
        value.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && value.contains("/us-east-1/bedrock/aws4_request"),
        "{value}"
    );
    assert_eq!(used.value, headers["authorization"]);
    assert!(!auth.rejected(&used));
}
