//! Admin endpoints: `/healthz`, `/readyz`, `/metrics`, `/config`.

use e2e::{client, routes_config, with_settings};

use crate::{assert_requests_total, get, start_with_up};

#[tokio::test]
async fn admin_endpoints_and_redacted_config() {
    let cfg = with_settings(
        "sessionKey: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        &routes_config(
            r#"
- name: r
  policies:
    requestHeaderModifier: { set: { authorization: "Bearer hunter2-secret", x-api-key: sekrit-value } }
  backends: [{ host: "{up}" }]
"#,
        ),
    );
    let (up, gw) = start_with_up(&cfg).await;
    let c = client();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(&c, &gw.admin_url(path)).await.0, 200, "{path}");
    }

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
    assert_requests_total(&m, "main/r", 200, 1);
    assert!(m.contains("switchboard_request_duration_seconds"), "{m}");
}
