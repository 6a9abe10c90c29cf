//! Admin endpoints: `/healthz`, `/readyz`, `/metrics`, `/config`.

use e2e::{client, Gateway, Upstream};

use crate::with_hosts;

#[tokio::test]
async fn admin_endpoints_and_redacted_config() {
    let up = Upstream::start("up").await;
    let cfg = r#"
config:
  sessionKey: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
binds:
- port: {port}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: r
      policies:
        requestHeaderModifier: { set: { authorization: "Bearer hunter2-secret", x-api-key: sekrit-value } }
      backends: [{ host: "{up}" }]
"#;
    let gw = Gateway::start(&with_hosts(cfg, &["up"], std::slice::from_ref(&up))).await;
    let c = client();
    let r = c.get(gw.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(gw.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The secrets still work on the data path...
    assert_eq!(c.get(gw.url("/x")).send().await.unwrap().status(), 200);
    assert_eq!(up.last().header("authorization"), "Bearer hunter2-secret");
    // ...but never show in /config.
    let text = c
        .get(gw.admin_url("/config"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("/config is JSON");
    assert_eq!(
        v["binds"][0]["port"].as_u64(),
        Some(u64::from(gw.port())),
        "{text}"
    );
    for secret in [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "hunter2",
        "sekrit-value",
    ] {
        assert!(!text.contains(secret), "/config leaks {secret}: {text}");
    }
    assert!(text.contains("<redacted>"), "{text}");

    let m = gw.metrics().await;
    assert!(
        m.contains(r#"switchboard_requests_total{route="main/r",status="200"} 1"#),
        "{m}"
    );
    assert!(m.contains("switchboard_request_duration_seconds"), "{m}");
}
