//! The built-in load picker against real loopback model servers (`e2e`'s fake provider, whose
//! `GET /metrics` answers the text each test sets, in llama.cpp's or vLLM's format): the
//! choice follows the scraped load, a server whose metrics fail goes stale and ranks last
//! then recovers, the subset restricts, a burst spreads, and dropping the picker stops the
//! scrapes. Waits are bounded polls; nothing asserts how long anything took.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2e::llm::{llamacpp_metrics, FakeLlm};
use inference::load::{InFlight, LoadPicker, LoadPickerConfig, NoEndpoint};

/// How long a condition may take to hold (scrapes run every 20–50ms here).
const WAIT: Duration = Duration::from_secs(10);

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// vLLM's gauges in its format (V1 engine, one engine, labelled by model).
fn vllm_metrics(waiting: u32, running: u32, kv_cache_usage_perc: f64) -> String {
    let m = r#"engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct""#;
    format!(
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
         # TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{{m}}} {running}.0\n\
         # HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n\
         # TYPE vllm:num_requests_waiting gauge\n\
         vllm:num_requests_waiting{{{m}}} {waiting}.0\n\
         # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n\
         # TYPE vllm:kv_cache_usage_perc gauge\n\
         vllm:kv_cache_usage_perc{{{m}}} {kv_cache_usage_perc}\n\
         # HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.\n\
         # TYPE vllm:num_preemptions_total counter\n\
         vllm:num_preemptions_total{{{m}}} 0.0\n"
    )
}

fn config(json: &str) -> LoadPickerConfig {
    let c: LoadPickerConfig = serde_json::from_str(json).expect("a valid loadPicker");
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    c
}

fn scrapes(server: &FakeLlm) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path() == "/metrics")
        .count()
}

fn fresh(picker: &LoadPicker, addr: SocketAddr) -> bool {
    picker.status().iter().any(|s| s.addr == addr && s.fresh)
}

/// Three servers, two speaking llama.cpp's metrics and one vLLM's: the order follows the
/// queue, then the running requests, and changes when their metrics do.
#[tokio::test]
async fn the_choice_follows_the_least_loaded_after_each_scrape() {
    let (a, b, c) = (
        FakeLlm::start("a").await,
        FakeLlm::start("b").await,
        FakeLlm::start("c").await,
    );
    a.set_metrics(Some(llamacpp_metrics(4, 2, 0.5)));
    b.set_metrics(Some(llamacpp_metrics(1, 0, 0.2)));
    c.set_metrics(Some(vllm_metrics(0, 3, 0.1)));
    let picker = LoadPicker::start(
        "three",
        &config(r#"{"interval": "20ms", "staleAfter": "10s"}"#),
        vec![a.addr, b.addr, c.addr],
    )
    .unwrap();
    // Before the first round every endpoint is unscraped and the order is random: wait for
    // fresh metrics first.
    until("every server scraped", || {
        picker.status().iter().all(|s| s.fresh)
    })
    .await;
    until("b, c, a", || {
        picker.pick(None).unwrap() == [b.addr, c.addr, a.addr]
    })
    .await;
    let status = picker.status();
    assert_eq!(status[2].load.and_then(|l| l.queue), Some(0.0));
    assert_eq!(status[2].load.and_then(|l| l.running), Some(3.0));
    assert_eq!(status[0].load.and_then(|l| l.kv_cache), Some(0.5));

    // b's queue grows past a's: c, a, b.
    b.set_metrics(Some(llamacpp_metrics(8, 5, 0.9)));
    until("c, a, b", || {
        picker.pick(None).unwrap() == [c.addr, a.addr, b.addr]
    })
    .await;
    // c starts queueing too, a drains: a first.
    c.set_metrics(Some(vllm_metrics(3, 40, 0.8)));
    a.set_metrics(Some(llamacpp_metrics(0, 0, 0.0)));
    until("a, c, b", || {
        picker.pick(None).unwrap() == [a.addr, c.addr, b.addr]
    })
    .await;
    // The subset restricts the choice to its members, best first.
    assert_eq!(
        picker.pick(Some(&[b.addr, c.addr])).unwrap(),
        [c.addr, b.addr]
    );
    assert_eq!(picker.pick(Some(&[])), Err(NoEndpoint::OutsideSubset));
}

/// A server whose metrics answer 404, and one that refuses connections, rank after the fresh
/// ones once their last good scrape is older than `staleAfter`; the first ranks by its load
/// again when its metrics come back.
#[tokio::test]
async fn failing_metrics_go_stale_rank_last_and_recover() {
    let (a, b) = (FakeLlm::start("a").await, FakeLlm::start("b").await);
    let (port, _refusing) = e2e::refused_port();
    let dead = SocketAddr::from(([127, 0, 0, 1], port));
    a.set_metrics(Some(llamacpp_metrics(0, 0, 0.0)));
    b.set_metrics(Some(llamacpp_metrics(3, 1, 0.5)));
    let picker = LoadPicker::start(
        "stale",
        &config(r#"{"interval": "20ms", "staleAfter": "500ms"}"#),
        vec![dead, a.addr, b.addr],
    )
    .unwrap();
    until("a and b scraped", || {
        fresh(&picker, a.addr) && fresh(&picker, b.addr)
    })
    .await;
    until("a, b, then the dead one", || {
        picker.pick(None).unwrap() == [a.addr, b.addr, dead]
    })
    .await;
    let dead_status = picker.status()[0].clone();
    assert!(!dead_status.fresh && dead_status.load.is_none());
    assert!(dead_status.error.is_some(), "{dead_status:?}");

    // a's metrics fail: it keeps its last load for a while, then ranks after b.
    a.set_metrics(None);
    until("a is stale", || !fresh(&picker, a.addr)).await;
    let order = picker.pick(None).unwrap();
    assert_eq!(order[0], b.addr, "{order:?}");
    let a_status = picker.status()[1].clone();
    assert!(
        a_status.error.as_deref().unwrap_or("").contains("404"),
        "{a_status:?}"
    );
    assert_eq!(a_status.load.and_then(|l| l.queue), Some(0.0));

    a.set_metrics(Some(llamacpp_metrics(0, 0, 0.0)));
    until("a first again", || {
        fresh(&picker, a.addr) && picker.pick(None).unwrap()[0] == a.addr
    })
    .await;
    assert_eq!(picker.status()[1].error, None);
}

/// `port` sends the scrapes to another port than the serving one; a `path` that answers no
/// load gauge is a failed scrape, and says why.
#[tokio::test]
async fn port_and_path_choose_where_the_metrics_are() {
    let server = FakeLlm::start("m").await;
    server.set_metrics(Some(llamacpp_metrics(1, 0, 0.0)));
    let (port, _refusing) = e2e::refused_port();
    let serving = SocketAddr::from(([127, 0, 0, 1], port));
    let moved = LoadPicker::start(
        "port",
        &config(&format!(
            r#"{{"interval": "20ms", "port": {}}}"#,
            server.addr.port()
        )),
        vec![serving],
    )
    .unwrap();
    until("fresh through the metrics port", || fresh(&moved, serving)).await;
    assert_eq!(moved.status()[0].load.and_then(|l| l.running), Some(1.0));

    let wrong = LoadPicker::start(
        "path",
        &config(r#"{"interval": "20ms", "path": "/v1/models"}"#),
        vec![server.addr],
    )
    .unwrap();
    until("the wrong path fails", || wrong.status()[0].error.is_some()).await;
    let error = wrong.status()[0].error.clone().unwrap();
    assert!(error.contains("no load gauge"), "{error}");
    assert!(!wrong.status()[0].fresh);
}

/// Thirty requests begun between two scrapes on three equally loaded servers: ten each. The
/// interval is long so that no scrape lands during the burst.
#[tokio::test]
async fn requests_in_flight_spread_a_burst_between_scrapes() {
    let servers = [
        FakeLlm::start("a").await,
        FakeLlm::start("b").await,
        FakeLlm::start("c").await,
    ];
    for s in &servers {
        s.set_metrics(Some(llamacpp_metrics(2, 0, 0.25)));
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let picker =
        LoadPicker::start("burst", &config(r#"{"interval": "1h"}"#), addrs.clone()).unwrap();
    until("every server scraped", || {
        picker.status().iter().all(|s| s.fresh)
    })
    .await;
    let guards: Vec<InFlight> = (0..30)
        .map(|_| picker.begin(picker.pick(None).unwrap()[0]))
        .collect();
    let in_flight: Vec<u64> = picker.status().iter().map(|s| s.in_flight).collect();
    assert_eq!(in_flight, [10, 10, 10]);
    drop(guards);
    assert!(picker.status().iter().all(|s| s.in_flight == 0));
}

/// Once the picker is dropped its server sees no more scrapes (a hot reload leaks no task).
#[tokio::test]
async fn dropping_the_picker_stops_its_scrapes() {
    let server = FakeLlm::start("s").await;
    server.set_metrics(Some(llamacpp_metrics(0, 0, 0.0)));
    let picker = LoadPicker::start(
        "drop",
        &config(r#"{"interval": "10ms"}"#),
        vec![server.addr],
    )
    .unwrap();
    until("a few scrapes", || scrapes(&server) >= 3).await;
    drop(picker);
    // A scrape already on the wire may still land; after that, nothing, over many intervals.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_drop = scrapes(&server);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        scrapes(&server),
        after_drop,
        "scrapes went on after the drop"
    );
}

/// A writer for the test's log lines.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        text.matches(needle).count()
    }
}

/// A failing endpoint is logged when it starts failing and when it answers again, not at
/// every failed round; the same for the whole pool losing its fresh metrics. (The runtime of
/// `#[tokio::test]` runs the scrape task on this thread, under this thread's subscriber.)
#[tokio::test]
async fn failures_are_logged_once_per_change() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let server = FakeLlm::start("flaky").await;
    let picker = LoadPicker::start(
        "flaky",
        &config(r#"{"interval": "10ms", "staleAfter": "50ms"}"#),
        vec![server.addr],
    )
    .unwrap();
    until("ten failed scrapes", || scrapes(&server) >= 10).await;
    assert_eq!(logs.count("metrics scrape failed"), 1);
    assert_eq!(logs.count("no endpoint has fresh metrics"), 1);

    server.set_metrics(Some(llamacpp_metrics(0, 0, 0.0)));
    until("fresh", || fresh(&picker, server.addr)).await;
    let seen = scrapes(&server);
    until("ten good scrapes", || scrapes(&server) >= seen + 10).await;
    assert_eq!(logs.count("metrics scrape answers again"), 1);
    assert_eq!(logs.count("fresh metrics again"), 1);

    server.set_metrics(None);
    until("the pool's metrics are stale again", || {
        logs.count("no endpoint has fresh metrics") == 2
    })
    .await;
    let seen = scrapes(&server);
    until("ten more failed scrapes", || scrapes(&server) >= seen + 10).await;
    assert_eq!(logs.count("metrics scrape failed"), 2);
    assert_eq!(logs.count("no endpoint has fresh metrics"), 2);
    assert!(logs.count("answered 404") >= 1);
}
