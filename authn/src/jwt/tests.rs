//! The JWT attack matrix, against keys from `testdata/` and JWKS served from a file or from a
//! loopback server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::config::{JwksConfig, JwtAuthConfig, JwtProviderConfig, Mode};

const RSA1: &str = include_str!("../../testdata/rsa1.pem");
const RSA2: &str = include_str!("../../testdata/rsa2.pem");
const RSA1_PUB: &str = include_str!("../../testdata/rsa1.pub.pem");
const EC256: &str = include_str!("../../testdata/ec256.pem");
const ED25519: &str = include_str!("../../testdata/ed25519.pem");

const ISS: &str = "https://idp.test";
const AUD: &str = "switchboard";

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut j = Jwk::from_encoding_key(key, alg).unwrap();
    j.common.key_id = Some(kid.to_string());
    j
}

/// The JWKS of rsa1 (`k1`), ec256 (`e1`) and ed25519 (`d1`).
fn jwks_doc(extra_rsa2: bool) -> Value {
    let mut keys = vec![
        jwk(&rsa(RSA1), Algorithm::RS256, "k1"),
        jwk(
            &EncodingKey::from_ec_pem(EC256.as_bytes()).unwrap(),
            Algorithm::ES256,
            "e1",
        ),
        jwk(
            &EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap(),
            Algorithm::EdDSA,
            "d1",
        ),
    ];
    if extra_rsa2 {
        keys.push(jwk(&rsa(RSA2), Algorithm::RS256, "k2"));
    }
    // `alg` left out on the RSA keys so that PS* tokens may use them too.
    let mut doc = serde_json::to_value(JwkSet { keys }).unwrap();
    for k in doc["keys"].as_array_mut().unwrap() {
        if k["kty"] == "RSA" {
            k.as_object_mut().unwrap().remove("alg");
        }
    }
    doc
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": now() + 300, "iat": now(), "scope": "tools.read"})
}

fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey, kid: Option<&str>) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn rs(claims: &Value) -> String {
    sign(claims, Algorithm::RS256, &rsa(RSA1), Some("k1"))
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h
}

fn file_auth(mode: Mode) -> (JwtAuth, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), jwks_doc(false).to_string()).unwrap();
    let config = JwtAuthConfig {
        mode: Some(mode),
        issuer: Some(ISS.into()),
        audiences: vec![AUD.into(), "other".into()],
        jwks: Some(JwksConfig {
            file: Some("jwks.json".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    (JwtAuth::build(&config, dir.path()).unwrap(), dir)
}

async fn reason(a: &JwtAuth, token: &str) -> Reason {
    match a.authenticate(&bearer(token)).await {
        Verdict::Rejected(f) => {
            assert!(
                f.challenge.starts_with("Bearer realm=\"switchboard\""),
                "{f:?}"
            );
            f.reason
        }
        v => panic!("accepted {token}: {v:?}"),
    }
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_family() {
    let (a, _dir) = file_auth(Mode::Strict);
    let tokens = [
        rs(&claims()),
        sign(&claims(), Algorithm::PS256, &rsa(RSA1), Some("k1")),
        sign(&claims(), Algorithm::RS512, &rsa(RSA1), None),
        sign(
            &claims(),
            Algorithm::ES256,
            &EncodingKey::from_ec_pem(EC256.as_bytes()).unwrap(),
            Some("e1"),
        ),
        sign(
            &claims(),
            Algorithm::EdDSA,
            &EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap(),
            Some("d1"),
        ),
    ];
    for t in tokens {
        match a.authenticate(&bearer(&t)).await {
            Verdict::Authenticated(id) => {
                assert_eq!(id.subject(), "alice");
                let jwt = id.jwt().unwrap();
                assert_eq!(jwt.issuer, ISS);
                assert_eq!(jwt.claims["scope"], "tools.read");
            }
            v => panic!("{v:?}"),
        }
    }
    // Several audiences in the token: one accepted is enough.
    let mut c = claims();
    c["aud"] = json!(["nope", "other"]);
    assert!(matches!(
        a.authenticate(&bearer(&rs(&c))).await,
        Verdict::Authenticated(_)
    ));
}

#[tokio::test]
async fn attack_matrix() {
    let (a, _dir) = file_auth(Mode::Strict);
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    assert_eq!(
        reason(&a, &rs(&with("exp", json!(now() - 120)))).await,
        Reason::Expired
    );
    // Within the 30 s leeway.
    assert!(matches!(
        a.authenticate(&bearer(&rs(&with("exp", json!(now() - 10)))))
            .await,
        Verdict::Authenticated(_)
    ));
    assert_eq!(
        reason(&a, &rs(&with("nbf", json!(now() + 120)))).await,
        Reason::NotYetValid
    );
    assert_eq!(
        reason(&a, &rs(&with("aud", json!("someone-else")))).await,
        Reason::Audience
    );
    assert_eq!(
        reason(&a, &rs(&with("iss", json!("https://evil.test")))).await,
        Reason::Issuer
    );
    assert_eq!(reason(&a, &rs(&without("exp"))).await, Reason::Malformed);
    assert_eq!(reason(&a, &rs(&without("aud"))).await, Reason::Malformed);
    assert_eq!(reason(&a, &rs(&without("iss"))).await, Reason::Malformed);

    // alg: none, with and without a signature.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let body = b64(&claims());
    assert_eq!(
        reason(&a, &format!("{none_header}.{body}.")).await,
        Reason::Algorithm
    );
    assert_eq!(
        reason(&a, &format!("{none_header}.{body}.c2ln")).await,
        Reason::Algorithm
    );
    let none_lower = b64(&json!({"alg": "None"}));
    assert_eq!(
        reason(&a, &format!("{none_lower}.{body}.")).await,
        Reason::Algorithm
    );

    // HS256 "signed" with the RSA public key as the HMAC secret: the classic confusion.
    for secret in [
        RSA1_PUB.as_bytes().to_vec(),
        RSA1_PUB.trim().as_bytes().to_vec(),
    ] {
        let hs = sign(
            &claims(),
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret).unwrap(),
            Some("k1"),
        );
        assert_eq!(reason(&a, &hs).await, Reason::Algorithm);
        let hs = sign(
            &claims(),
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret).unwrap(),
            None,
        );
        assert_eq!(reason(&a, &hs).await, Reason::Algorithm);
    }

    // Signed by a key not in the JWKS, under a known kid and under none.
    assert_eq!(
        reason(
            &a,
            &sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k1"))
        )
        .await,
        Reason::Signature
    );
    assert_eq!(
        reason(&a, &sign(&claims(), Algorithm::RS256, &rsa(RSA2), None)).await,
        Reason::Signature
    );
    // An unknown kid (a file is not refetched).
    assert_eq!(
        reason(
            &a,
            &sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k2"))
        )
        .await,
        Reason::UnknownKey
    );
    // A key of another family under the kid: an RSA token naming the EC key.
    assert_eq!(
        reason(
            &a,
            &sign(&claims(), Algorithm::RS256, &rsa(RSA1), Some("e1"))
        )
        .await,
        Reason::Algorithm
    );

    // Tampered: the payload changed (sub), the signature kept.
    let good = rs(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let evil = b64(&with("sub", json!("root")));
    assert_eq!(
        reason(&a, &format!("{}.{evil}.{}", parts[0], parts[2])).await,
        Reason::Signature
    );
    // The signature cut short or changed.
    let mut sig = parts[2].to_string().into_bytes();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let sig = String::from_utf8(sig).unwrap();
    assert_eq!(
        reason(&a, &format!("{}.{}.{sig}", parts[0], parts[1])).await,
        Reason::Signature
    );
    // The signature left out.
    assert!(!a
        .authenticate(&bearer(&format!("{}.{}", parts[0], parts[1])))
        .await
        .is_ok());
}

impl Verdict {
    fn is_ok(&self) -> bool {
        matches!(self, Verdict::Authenticated(_))
    }
}

#[tokio::test]
async fn missing_token_in_each_mode() {
    for (mode, anonymous) in [
        (Mode::Strict, false),
        (Mode::Optional, true),
        (Mode::Permissive, true),
    ] {
        let (a, _dir) = file_auth(mode);
        let mut query_only = HeaderMap::new();
        // Not a bearer token: another scheme, or the token where only a query would carry it.
        query_only.insert("x-access-token", rs(&claims()).parse().unwrap());
        for h in [HeaderMap::new(), query_only] {
            match a.authenticate(&h).await {
                Verdict::Anonymous(None) => assert!(anonymous, "{mode:?}"),
                Verdict::Rejected(f) => {
                    assert!(!anonymous, "{mode:?}");
                    assert_eq!(f.reason, Reason::Missing);
                    // RFC 6750 §3.1: no error code when the request had no credentials.
                    assert_eq!(f.challenge, "Bearer realm=\"switchboard\"");
                }
                v => panic!("{mode:?}: {v:?}"),
            }
        }
        let expired = {
            let mut c = claims();
            c["exp"] = json!(now() - 600);
            rs(&c)
        };
        match (mode, a.authenticate(&bearer(&expired)).await) {
            (Mode::Permissive, Verdict::Anonymous(Some(f))) => {
                assert_eq!(f.reason, Reason::Expired)
            }
            (Mode::Strict | Mode::Optional, Verdict::Rejected(f)) => {
                assert_eq!(f.reason, Reason::Expired);
                assert!(
                    f.challenge.contains("error=\"invalid_token\""),
                    "{}",
                    f.challenge
                );
            }
            (m, v) => panic!("{m:?}: {v:?}"),
        }
    }
}

#[tokio::test]
async fn several_issuers_choose_by_iss() {
    let dir = tempfile::tempdir().unwrap();
    let a_keys = JwkSet {
        keys: vec![jwk(&rsa(RSA1), Algorithm::RS256, "k1")],
    };
    let b_keys = JwkSet {
        keys: vec![jwk(&rsa(RSA2), Algorithm::RS256, "k1")],
    };
    std::fs::write(
        dir.path().join("a.json"),
        serde_json::to_string(&a_keys).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        serde_json::to_string(&b_keys).unwrap(),
    )
    .unwrap();
    let provider = |iss: &str, aud: &str, file: &str| JwtProviderConfig {
        issuer: iss.into(),
        audiences: vec![aud.into()],
        jwks: JwksConfig {
            file: Some(file.into()),
            ..Default::default()
        },
    };
    let config = JwtAuthConfig {
        providers: vec![
            provider("https://a", "gw", "a.json"),
            provider("https://b", "gw-b", "b.json"),
        ],
        ..Default::default()
    };
    let auth = JwtAuth::build(&config, dir.path()).unwrap();
    let c = |iss: &str, aud: &str| json!({"iss": iss, "aud": aud, "sub": iss, "exp": now() + 60});
    let ok = sign(
        &c("https://b", "gw-b"),
        Algorithm::RS256,
        &rsa(RSA2),
        Some("k1"),
    );
    match auth.authenticate(&bearer(&ok)).await {
        Verdict::Authenticated(id) => assert_eq!(id.jwt().unwrap().issuer, "https://b"),
        v => panic!("{v:?}"),
    }
    // B's token with A's audience; A's iss with B's key; an unknown issuer.
    let wrong_aud = sign(
        &c("https://b", "gw"),
        Algorithm::RS256,
        &rsa(RSA2),
        Some("k1"),
    );
    assert_eq!(reason(&auth, &wrong_aud).await, Reason::Audience);
    let forged = sign(
        &c("https://a", "gw"),
        Algorithm::RS256,
        &rsa(RSA2),
        Some("k1"),
    );
    assert_eq!(reason(&auth, &forged).await, Reason::Signature);
    let unknown = sign(
        &c("https://c", "gw"),
        Algorithm::RS256,
        &rsa(RSA1),
        Some("k1"),
    );
    assert_eq!(reason(&auth, &unknown).await, Reason::Issuer);
}

#[test]
fn build_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = |c: JwtAuthConfig| JwtAuth::build(&c, dir.path()).unwrap_err();
    let inline = |jwks: JwksConfig| JwtAuthConfig {
        issuer: Some(ISS.into()),
        audiences: vec![AUD.into()],
        jwks: Some(jwks),
        ..Default::default()
    };
    let e = err(inline(JwksConfig {
        file: Some("missing.json".into()),
        ..Default::default()
    }));
    assert_eq!(e.at, "jwks.file");
    assert!(e.message.contains("cannot read"), "{}", e.message);
    std::fs::write(
        dir.path().join("hmac.json"),
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    let e = err(inline(JwksConfig {
        file: Some("hmac.json".into()),
        ..Default::default()
    }));
    assert!(e.message.contains("symmetric"), "{}", e.message);
    let e = err(inline(JwksConfig {
        url: Some("http://idp.example.com/jwks".into()),
        ..Default::default()
    }));
    assert_eq!(e.at, "jwks.url");
    let e = err(inline(JwksConfig::default()));
    assert_eq!(e.at, "jwks");
    let e = err(inline(JwksConfig {
        url: Some("https://idp.example.com/jwks".into()),
        refresh_interval: Some(netkit::Duration(Duration::from_secs(1))),
        ..Default::default()
    }));
    assert_eq!(e.at, "jwks.refreshInterval");
    let mut no_aud = inline(JwksConfig {
        url: Some("https://idp/jwks".into()),
        ..Default::default()
    });
    no_aud.audiences.clear();
    assert_eq!(err(no_aud).at, "audiences");
    let mut both = inline(JwksConfig {
        url: Some("https://idp/jwks".into()),
        ..Default::default()
    });
    both.providers.push(JwtProviderConfig {
        issuer: "x".into(),
        audiences: vec!["y".into()],
        jwks: JwksConfig {
            url: Some("https://idp/jwks".into()),
            ..Default::default()
        },
    });
    assert_eq!(err(both).at, "providers");
    let listed = JwtAuthConfig {
        providers: vec![
            JwtProviderConfig {
                issuer: "x".into(),
                audiences: vec!["y".into()],
                jwks: JwksConfig {
                    url: Some("https://idp/jwks".into()),
                    ..Default::default()
                },
            },
            JwtProviderConfig {
                issuer: "z".into(),
                audiences: vec!["y".into()],
                jwks: JwksConfig {
                    file: Some("nope.json".into()),
                    ..Default::default()
                },
            },
        ],
        ..Default::default()
    };
    assert_eq!(err(listed).at, "providers[1].jwks.file");
    assert_eq!(err(JwtAuthConfig::default()).at, "");
}

/// A JWKS served on loopback: its document can change, it can go down, and it counts hits.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn jwks_server(doc: Value) -> JwksServer {
    use axum::routing::get;
    let doc = Arc::new(Mutex::new(doc));
    let hits = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (d, h, dn) = (doc.clone(), hits.clone(), down.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        get(move || {
            let (d, h, dn) = (d.clone(), h.clone(), dn.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                if dn.load(Ordering::SeqCst) {
                    return (http::StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                let body = d.lock().unwrap().to_string();
                (http::StatusCode::OK, body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer {
        url: format!("http://{addr}/jwks.json"),
        doc,
        hits,
        down,
    }
}

fn url_auth(url: &str, mode: Mode, debounce: Duration) -> Arc<JwtAuth> {
    let config = JwtAuthConfig {
        mode: Some(mode),
        issuer: Some(ISS.into()),
        audiences: vec![AUD.into()],
        jwks: Some(JwksConfig {
            url: Some(url.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    Arc::new(JwtAuth::build_with(&config, std::path::Path::new("."), debounce).unwrap())
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn unknown_kid_refetches_once_then_debounces() {
    let server = jwks_server(jwks_doc(false)).await;
    let a = url_auth(&server.url, Mode::Strict, REFETCH_DEBOUNCE);
    a.start();
    eventually("the first fetch", || {
        server.hits.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(a.authenticate(&bearer(&rs(&claims()))).await.is_ok());
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "a known kid fetches nothing"
    );

    // The provider rotates in k2: twenty concurrent tokens naming it cost one refetch.
    *server.doc.lock().unwrap() = jwks_doc(true);
    let k2 = sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k2"));
    let results = futures_join(20, || {
        let (a, t) = (a.clone(), k2.clone());
        async move { a.authenticate(&bearer(&t)).await.is_ok() }
    })
    .await;
    assert!(results.iter().all(|ok| *ok), "{results:?}");
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "exactly one refetch for k2"
    );

    // Made-up kids within the debounce window fetch nothing more.
    let bogus = sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k9"));
    let results = futures_join(10, || {
        let (a, t) = (a.clone(), bogus.clone());
        async move { a.authenticate(&bearer(&t)).await }
    })
    .await;
    for v in results {
        assert!(
            matches!(
                v,
                Verdict::Rejected(Failure {
                    reason: Reason::UnknownKey,
                    ..
                })
            ),
            "{v:?}"
        );
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "debounced");
}

#[tokio::test]
async fn jwks_host_down_keeps_the_last_good_keys() {
    let server = jwks_server(jwks_doc(false)).await;
    let a = url_auth(&server.url, Mode::Strict, Duration::from_millis(50));
    a.start();
    eventually("the first fetch", || {
        server.hits.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(a.authenticate(&bearer(&rs(&claims()))).await.is_ok());
    server.down.store(true, Ordering::SeqCst);
    let before = server.hits.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    // An unknown kid makes it try (and fail) to refetch...
    let k2 = sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k2"));
    assert_eq!(reason(&a, &k2).await, Reason::UnknownKey);
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        before + 1,
        "one refetch attempted"
    );
    // ...and the keys it had still verify.
    assert!(a.authenticate(&bearer(&rs(&claims()))).await.is_ok());
    // Back up with k2: the next refetch finds it.
    server.down.store(false, Ordering::SeqCst);
    *server.doc.lock().unwrap() = jwks_doc(true);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(a.authenticate(&bearer(&k2)).await.is_ok());
}

#[tokio::test]
async fn no_keys_yet_is_503_in_every_mode() {
    let server = jwks_server(jwks_doc(false)).await;
    server.down.store(true, Ordering::SeqCst);
    for mode in [Mode::Strict, Mode::Optional, Mode::Permissive] {
        let a = url_auth(&server.url, mode, REFETCH_DEBOUNCE);
        match a.authenticate(&bearer(&rs(&claims()))).await {
            Verdict::Rejected(f) => {
                assert_eq!(f.reason, Reason::KeysUnavailable);
                assert_eq!(f.status, http::StatusCode::SERVICE_UNAVAILABLE);
            }
            v => panic!("{mode:?}: {v:?}"),
        }
    }
    // Nothing listening at all.
    let a = url_auth(
        "http://127.0.0.1:9/jwks.json",
        Mode::Strict,
        REFETCH_DEBOUNCE,
    );
    assert!(matches!(
        a.authenticate(&bearer(&rs(&claims()))).await,
        Verdict::Rejected(Failure {
            reason: Reason::KeysUnavailable,
            ..
        })
    ));
}

async fn futures_join<F, Fut, T>(n: usize, mut make: F) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(make())).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Bounded fuzz: mutated and random tokens never panic, and a mutated token is accepted only
/// when its three parts still decode to what was signed.
#[tokio::test]
async fn garbled_tokens_never_panic() {
    use rand::{Rng, SeedableRng};
    let (a, _dir) = file_auth(Mode::Strict);
    let good = rs(&claims());
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let alphabet = b"AZaz09-_.=+/ {}\":,\\\x7f";
    let decode = |t: &str| -> Vec<Vec<u8>> {
        t.split('.')
            .map(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap_or_default()
            })
            .collect()
    };
    let original = decode(&good);
    for i in 0..1500 {
        let token = if i % 5 == 0 {
            let len = rng.random_range(0..300);
            (0..len)
                .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
                .collect::<String>()
        } else {
            let mut b = good.clone().into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                b[at] = alphabet[rng.random_range(0..alphabet.len())];
            }
            String::from_utf8_lossy(&b).into_owned()
        };
        let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}")) else {
            continue;
        };
        let mut h = HeaderMap::new();
        h.insert("authorization", value);
        if let Verdict::Authenticated(_) = a.authenticate(&h).await {
            assert_eq!(
                decode(&token),
                original,
                "accepted a changed token: {token}"
            );
        }
    }
    // Headers that are valid JSON with hostile shapes.
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for header in [
        "{}",
        "[]",
        "null",
        r#"{"alg":123}"#,
        r#"{"alg":"RS256","kid":{"x":1}}"#,
        r#"{"alg":"RS256","crit":["exp"]}"#,
        r#"{"alg":"RS256","jku":"http://evil/jwks"}"#,
        r#"{"alg":"RS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}"#,
    ] {
        let t = format!(
            "{}.{}.{}",
            b64(header),
            b64(&claims().to_string()),
            b64("sig")
        );
        assert!(!a.authenticate(&bearer(&t)).await.is_ok(), "{header}");
    }
}

#[tokio::test]
async fn a_token_sent_again_is_not_verified_again_until_the_keys_change() {
    let server = jwks_server(jwks_doc(false)).await;
    let a = url_auth(&server.url, Mode::Strict, Duration::from_millis(50));
    a.start();
    eventually("the first fetch", || {
        server.hits.load(Ordering::SeqCst) == 1
    })
    .await;
    let k1 = rs(&claims());
    for _ in 0..3 {
        assert!(a.authenticate(&bearer(&k1)).await.is_ok());
    }
    assert_eq!(
        a.cache_hits(),
        2,
        "verified once, then served from the cache"
    );

    // The provider withdraws k1 and publishes k2 only; a k2 token makes the gateway refetch.
    let mut doc = jwks_doc(true);
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != "k1");
    *server.doc.lock().unwrap() = doc;
    tokio::time::sleep(Duration::from_millis(60)).await;
    let k2 = sign(&claims(), Algorithm::RS256, &rsa(RSA2), Some("k2"));
    assert!(a.authenticate(&bearer(&k2)).await.is_ok());
    // The k1 token, though verified before, is refused under the new keys.
    assert_eq!(reason(&a, &k1).await, Reason::UnknownKey);
    assert_eq!(a.cache_hits(), 2);
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let (a, _dir) = file_auth(Mode::Strict);
    // Past its exp, but within the default 30 s leeway for about one more second.
    let mut c = claims();
    c["exp"] = json!(now() - 29);
    let t = rs(&c);
    assert!(
        a.authenticate(&bearer(&t)).await.is_ok(),
        "within the leeway"
    );
    assert!(a.authenticate(&bearer(&t)).await.is_ok());
    assert_eq!(a.cache_hits(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        reason(&a, &t).await,
        Reason::Expired,
        "the cache honours exp"
    );
}
