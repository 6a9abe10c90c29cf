//! Graceful shutdown on SIGTERM and SIGINT.

use std::time::{Duration, Instant};

use e2e::{can_connect, client, eventually, routes_config, with_settings, Gateway, Upstream};

use crate::{assert_exits_0, start_with_up, ONE_ROUTE};

/// The upstream `up` behind a gateway with [`ONE_ROUTE`] and the drain time `drain`.
async fn start(drain: &str) -> (Upstream, Gateway) {
    let settings = format!("drainTimeout: {drain}");
    start_with_up(&with_settings(&settings, &routes_config(ONE_ROUTE))).await
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let (up, mut gw) = start("5s").await;
    let url = gw.url("/slow?delay_ms=1500");
    let slow = tokio::spawn(async move {
        let r = client()
            .get(url)
            .send()
            .await
            .expect("the in-flight request failed");
        let status = r.status().as_u16();
        let body = r.text().await.expect("the in-flight body failed");
        (status, body, Instant::now())
    });
    assert!(
        eventually(Duration::from_secs(5), || async { up.arrivals() >= 1 }).await,
        "the slow request never reached the upstream"
    );
    // An idle kept-alive connection must not hold the drain open.
    let mut idle = e2e::RawConn::connect(gw.addr()).await;
    assert_eq!(idle.get("/idle").await.status, 200);
    gw.signal(libc::SIGTERM);
    let signalled = Instant::now();

    // New connections are refused while the slow request is still in flight.
    let refused = eventually(Duration::from_millis(1000), || async {
        !can_connect(gw.addr()).await
    })
    .await;
    let refused_at = Instant::now();
    assert!(
        refused,
        "the gateway still accepts connections after SIGTERM"
    );

    let (status, body, done_at) = tokio::time::timeout(crate::STEP, slow)
        .await
        .expect("slow request hung")
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "up"));
    assert!(
        refused_at < done_at,
        "connections were refused only after the slow request ended"
    );

    // Within the drain time.
    assert_exits_0(&mut gw, Duration::from_secs(6)).await;
    assert!(
        done_at.elapsed() < Duration::from_millis(2500),
        "the process lingered {:?} after the last request (idle connections must not wait out the drain time)",
        done_at.elapsed()
    );
    assert!(signalled.elapsed() < Duration::from_secs(6));
    drop(idle);
}

#[tokio::test]
async fn sigint_exits_0_and_drain_time_bounds_slow_requests() {
    let (up, mut gw) = start("500ms").await;
    let url = gw.url("/slow?delay_ms=8000");
    let slow =
        tokio::spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) });
    assert!(eventually(Duration::from_secs(5), || async { up.arrivals() >= 1 }).await);
    let t = Instant::now();
    gw.signal(libc::SIGINT);
    // Soon after the drain time.
    assert_exits_0(&mut gw, Duration::from_secs(5)).await;
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "exit took {:?} with a 500ms drain time",
        t.elapsed()
    );
    // The request that outlived the drain time was cut, not answered.
    let r = tokio::time::timeout(crate::STEP, slow)
        .await
        .expect("client hung")
        .unwrap();
    assert!(r.is_err() || r.as_ref().is_ok_and(|s| *s != 200), "{r:?}");
}
