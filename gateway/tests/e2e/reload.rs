//! Hot reload: valid changes apply without dropping connections; invalid ones are rejected.

use std::time::{Duration, Instant};

use e2e::{bind, can_connect, client, eventually, routes_config, Gateway, RawConn, Upstream};
use futures_util::StreamExt;

use crate::{assert_requests_total, get, with_hosts, ONE_ROUTE};

/// Route `r` (`/a`) answering with `x-version: VERSION`, and with `extra_route` the route
/// `added` (`/added`).
fn config(up: &Upstream, version: &str, extra_route: bool) -> String {
    let mut routes = format!(
        r#"
- name: r
  matches: [{{ path: {{ prefix: /a }} }}]
  policies: {{ responseHeaderModifier: {{ set: {{ x-version: "{version}" }} }} }}
  backends: [{{ host: "{{up}}" }}]
"#
    );
    if extra_route {
        routes.push_str(
            r#"- name: added
  matches: [{ path: { exact: /added } }]
  backends: [{ host: "{up}" }]
"#,
        );
    }
    with_hosts(&routes_config(&routes), &["up"], std::slice::from_ref(up))
}

#[tokio::test]
async fn valid_change_applies_without_dropping_connections_and_invalid_is_rejected() {
    let up = Upstream::start("up").await;
    let gw = Gateway::start(&config(&up, "1", false)).await;
    let c = client();
    let ok = [("result", "ok")];
    let err = [("result", "error")];
    assert_eq!(
        gw.metric_or_zero("switchboard_config_reloads_total", &ok)
            .await,
        0.0
    );

    // A kept-alive connection and an in-flight stream (15 events, 300 ms apart: 4.2 s).
    let mut conn = RawConn::connect(gw.addr()).await;
    let first = conn.get("/a/1").await;
    assert_eq!(
        (first.status, first.header("x-version").as_str()),
        (200, "1")
    );
    let stream_url = gw.url("/a/stream?sse=15&interval_ms=300");
    let stream_client = c.clone();
    let streaming = tokio::spawn(async move {
        let r = stream_client.get(stream_url).send().await.unwrap();
        let version = r.headers()["x-version"].to_str().unwrap().to_string();
        let mut body = Vec::new();
        let mut s = r.bytes_stream();
        while let Some(chunk) = s.next().await {
            body.extend_from_slice(&chunk.expect("the in-flight stream broke during the reload"));
        }
        (
            version,
            String::from_utf8_lossy(&body).into_owned(),
            Instant::now(),
        )
    });
    assert!(
        up.wait_hits(2, crate::STEP).await >= 2,
        "the stream did not start"
    );
    assert_eq!(get(&c, &gw.url("/added")).await.0, 404);

    gw.write_config(&config(&up, "2", true));
    let applied = eventually(Duration::from_secs(5), || async {
        c.get(gw.url("/a/x"))
            .send()
            .await
            .is_ok_and(|r| r.headers().get("x-version").is_some_and(|v| v == "2"))
    })
    .await;
    assert!(
        applied,
        "the change was not applied within 5 s; stderr:\n{}",
        gw.stderr()
    );
    let applied_at = Instant::now();
    assert_eq!(
        get(&c, &gw.url("/added")).await,
        (200, "up".into()),
        "the added route"
    );
    assert_eq!(
        gw.metric_or_zero("switchboard_config_reloads_total", &ok)
            .await,
        1.0
    );

    // The kept-alive connection is still open and sees the new config.
    let again = conn.get("/a/2").await;
    assert_eq!(
        (again.status, again.header("x-version").as_str()),
        (200, "2")
    );

    // The in-flight stream finishes intact, with the headers of the config it started under.
    let (version, body, ended_at) = tokio::time::timeout(crate::STEP, streaming)
        .await
        .expect("stream timed out")
        .unwrap();
    let expected: String = (0..15).map(|i| format!("data: {i}\n\n")).collect();
    assert_eq!(body, expected);
    assert_eq!(version, "1");
    assert!(
        ended_at > applied_at,
        "the stream ended before the reload; the test proves nothing"
    );

    // An invalid change is rejected; the last good config keeps serving.
    gw.write_config(&config(&up, "3", true).replace("matches:", "matchez:"));
    let errors = gw
        .wait_metric(
            "switchboard_config_reloads_total",
            &err,
            1.0,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(errors, 1.0, "stderr:\n{}", gw.stderr());
    let r = c.get(gw.url("/a/x")).send().await.unwrap();
    assert_eq!(r.headers()["x-version"], "2");
    assert_eq!(get(&c, &gw.url("/added")).await.0, 200);
    assert_eq!(
        gw.metric_or_zero("switchboard_config_reloads_total", &ok)
            .await,
        1.0
    );
    let log = gw.stderr();
    assert!(log.contains("config change rejected"), "{log}");
    assert!(
        log.contains("matchez"),
        "the log must name the bad key: {log}"
    );
    let again = conn.get("/a/3").await;
    assert_eq!(again.header("x-version"), "2");
}

/// [`ONE_ROUTE`] on `{port}`, and with `second` also on `{port2}` (listener `second`).
fn binds_config(up: &Upstream, second: bool) -> String {
    let mut s = routes_config(ONE_ROUTE);
    if second {
        s.push_str(&bind("port2", &[("name: second", ONE_ROUTE)]));
    }
    with_hosts(&s, &["up"], std::slice::from_ref(up))
}

#[tokio::test]
async fn adding_and_removing_binds() {
    let up = Upstream::start("up").await;
    let gw = Gateway::start(&binds_config(&up, false)).await;
    let second: std::net::SocketAddr = format!("127.0.0.1:{}", gw.port_of("port2"))
        .parse()
        .unwrap();
    assert!(!can_connect(second).await);

    gw.write_config(&binds_config(&up, true));
    assert!(
        eventually(Duration::from_secs(5), || can_connect(second)).await,
        "the added bind did not open"
    );
    let c = client();
    assert_eq!(
        get(&c, &format!("http://{second}/x")).await,
        (200, "up".into())
    );
    assert_eq!(get(&c, &gw.url("/x")).await.0, 200);
    let m = gw.metrics().await;
    assert_requests_total(&m, "second/r", 200, 1);

    gw.write_config(&binds_config(&up, false));
    assert!(
        eventually(Duration::from_secs(5), || async {
            !can_connect(second).await
        })
        .await,
        "the removed bind still accepts connections"
    );
    assert_eq!(
        get(&c, &gw.url("/x")).await.0,
        200,
        "the kept bind still serves"
    );
    assert_eq!(
        gw.metric_or_zero("switchboard_config_reloads_total", &[("result", "ok")])
            .await,
        2.0
    );
}
