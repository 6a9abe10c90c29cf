//! `inferencePool` with the built-in `loadPicker`: the least loaded of three loopback model
//! servers (the fake provider, whose `/metrics` the test sets in llama.cpp server's names and
//! format), judged from what the gateway scrapes, for an `ai` backend's pool provider.
//!
//! What is shown: requests go to the server with the shortest queue while its metrics say
//! so, follow the metrics when they change, and avoid a server whose metrics stop answering
//! (stale, ranked after fresh ones) while one with fresh metrics is there; the access log
//! names the endpoint, the picks are counted, and what the picker knows is exported as gauges.

use e2e::llm::{llamacpp_metrics, FakeLlm};
use e2e::{client, fill, Gateway};
use serde_json::json;

use crate::STEP;

/// Waits until every server has been scraped `n` more times than `since` (its count of
/// `GET /metrics` so far): a whole scrape round has then been published.
async fn scraped(servers: &[&FakeLlm], since: &[usize], n: usize) {
    let done = e2e::eventually(STEP, || async {
        servers
            .iter()
            .zip(since)
            .all(|(s, before)| scrapes(s) >= before + n)
    })
    .await;
    assert!(done, "the pool's metrics were not scraped");
}

fn scrapes(s: &FakeLlm) -> usize {
    s.requests()
        .iter()
        .filter(|r| r.path() == "/metrics")
        .count()
}

fn counts(servers: &[&FakeLlm]) -> Vec<usize> {
    servers.iter().map(|s| s.generations().len()).collect()
}

#[tokio::test]
async fn requests_go_to_the_least_loaded_server_by_its_metrics() {
    let m1 = FakeLlm::start("m1").await;
    let m2 = FakeLlm::start("m2").await;
    let m3 = FakeLlm::start("m3").await;
    let all = [&m1, &m2, &m3];
    m1.set_metrics(Some(llamacpp_metrics(1, 6, 0.9)));
    m2.set_metrics(Some(llamacpp_metrics(0, 0, 0.1)));
    m3.set_metrics(Some(llamacpp_metrics(1, 2, 0.5)));
    let ai = r#"    groups:
    - providers:
      - name: pool
        inferencePool:
          endpoints: ["{m1}", "{m2}", "{m3}"]
          loadPicker: { interval: 100ms }
"#;
    let vars = [
        ("m1".to_string(), m1.host()),
        ("m2".to_string(), m2.host()),
        ("m3".to_string(), m3.host()),
    ];
    let gw = Gateway::start(&fill(&crate::llm_common::config(ai), &vars)).await;
    let c = client();
    let chat = json!({"model": "smol", "messages": [{"role": "user", "content": "hi"}]});
    let call = || async {
        let r = c
            .post(gw.url("/llm/v1/chat/completions"))
            .json(&chat)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        r.text().await.expect("body")
    };
    // How `n` calls, one after the other, spread over the three servers.
    let spread = |n: usize| async move {
        let start = counts(&all);
        for _ in 0..n {
            call().await;
        }
        let end = counts(&all);
        [end[0] - start[0], end[1] - start[1], end[2] - start[2]]
    };

    // The picker starts with the first request (the pool was built before the runtime);
    // once a round is published, the idle server takes every request.
    call().await;
    let before: Vec<usize> = all.iter().map(|s| scrapes(s)).collect();
    scraped(&all, &before, 2).await;
    assert_eq!(
        spread(8).await,
        [0, 8, 0],
        "the server with no queue takes the requests"
    );
    let wanted = format!("endpoint=\"{}\"", m2.host());
    assert!(
        gw.stderr_once(|l| l.contains(&wanted))
            .await
            .contains(&wanted),
        "the access log names the endpoint"
    );

    // The load moves: m1 is idle now, m2 has a queue.
    m1.set_metrics(Some(llamacpp_metrics(0, 0, 0.1)));
    m2.set_metrics(Some(llamacpp_metrics(1, 9, 0.9)));
    let before: Vec<usize> = all.iter().map(|s| scrapes(s)).collect();
    scraped(&all, &before, 2).await;
    assert_eq!(
        spread(5).await,
        [5, 0, 0],
        "the requests follow the metrics"
    );

    // m1's metrics stop answering: once stale, it ranks after m3 (fresh, shorter queue
    // than m2), whatever its last numbers said.
    m1.set_metrics(None);
    let moved = e2e::eventually(STEP, || async {
        let start = counts(&all);
        call().await;
        counts(&all)[2] > start[2]
    })
    .await;
    assert!(moved, "a server with stale metrics kept its rank");
    assert_eq!(
        spread(3).await,
        [0, 0, 3],
        "the fresh, least loaded server takes them"
    );
    let picked = gw
        .metric_or_zero(
            "switchboard_inference_pool_picks_total",
            &[("pool", "pool"), ("outcome", "picked")],
        )
        .await;
    assert!(picked >= 17.0, "picks counted: {picked}");
    // What the picker knows, as gauges: m2's queue as last scraped, m1 stale.
    let gauge = |name: &'static str, server: &FakeLlm| {
        let endpoint = server.host();
        let gw = &gw;
        async move {
            gw.metric(name, &[("pool", "pool"), ("endpoint", endpoint.as_str())])
                .await
        }
    };
    assert_eq!(
        gauge("switchboard_inference_endpoint_queue", &m2).await,
        Some(9.0)
    );
    assert_eq!(
        gauge("switchboard_inference_endpoint_metrics_fresh", &m1).await,
        Some(0.0)
    );
    assert_eq!(
        gauge("switchboard_inference_endpoint_metrics_fresh", &m3).await,
        Some(1.0)
    );
}
