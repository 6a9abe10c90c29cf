//! The access log as a log collector sees it: stderr is a pipe, so lines carry no ANSI colours
//! (even with `NO_COLOR` empty, which asks for nothing), every field is there in both formats,
//! and every line logged before SIGTERM is written before the process exits (lines go through
//! a buffered writer thread, which must be drained at shutdown).

use std::time::Duration;

use e2e::{client, routes_config, with_settings, Gateway, Upstream};

use crate::{assert_exits_0, with_hosts, ONE_ROUTE};

/// A gateway with [`ONE_ROUTE`] to a fresh upstream, `settings` in its `config:` section, and
/// `NO_COLOR` set but empty (as if unset: colours would be allowed on a terminal).
async fn start(settings: &str) -> (Upstream, Gateway) {
    let up = Upstream::start("up").await;
    let mut config = routes_config(ONE_ROUTE);
    if !settings.is_empty() {
        config = with_settings(settings, &config);
    }
    let config = with_hosts(&config, &["up"], std::slice::from_ref(&up));
    let gw = Gateway::start_with_env(&config, |_| {}, &[("NO_COLOR", String::new())]).await;
    (up, gw)
}

/// Waits for the access line of `path` and returns it.
async fn line_for(gw: &Gateway, path: &str) -> String {
    let found = e2e::eventually(Duration::from_secs(5), || async {
        gw.stderr().lines().any(|l| l.contains(path))
    })
    .await;
    let log = gw.stderr();
    assert!(found, "no access line for {path}:\n{log}");
    log.lines().find(|l| l.contains(path)).unwrap().to_string()
}

#[tokio::test]
async fn text_access_line_on_a_pipe_has_every_field_and_no_colours() {
    let (_up, gw) = start("").await;
    let r = client().get(gw.url("/hello-text")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let line = line_for(&gw, "path=/hello-text").await;
    for wanted in [
        "  INFO access: request method=GET path=/hello-text host=\"127.0.0.1\" client=127.0.0.1:",
        " route=main/r backend=\"",
        " status=200 attempts=1 ",
        &format!(" bytes={} duration_ms=", body.len()),
        " complete=true error=\"\" subject=\"\" a2a.method=\"\" a2a.task_id=\"\" a2a.context_id=\"\" \
         a2a.state=\"\" mcp.method=\"\" mcp.tool=\"\" mcp.target=\"\"",
    ] {
        assert!(line.contains(wanted), "no {wanted:?} in {line:?}");
    }
    let log = gw.stderr();
    assert!(log.contains(" INFO ") && log.contains("ready"), "{log}");
    assert!(
        !log.contains("\x1b["),
        "ANSI escapes in a piped log:\n{log:?}"
    );
}

#[tokio::test]
async fn json_access_line_has_every_field() {
    let (_up, gw) = start("logging: { format: json }").await;
    let r = client()
        .get(gw.url("/hello-json?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = line_for(&gw, "/hello-json").await;
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["target"], "access", "{v}");
    assert_eq!(v["message"], "request", "{v}");
    assert_eq!(v["method"], "GET", "{v}");
    assert_eq!(v["path"], "/hello-json", "{v}");
    assert_eq!(v["host"], "127.0.0.1", "{v}");
    assert!(
        v["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{v}"
    );
    assert_eq!(v["route"], "main/r", "{v}");
    assert!(v["backend"].is_string(), "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["attempts"], 1, "{v}");
    assert!(v["bytes"].is_u64(), "{v}");
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["error"], "", "{v}");
    for k in [
        "a2a.method",
        "a2a.task_id",
        "a2a.context_id",
        "a2a.state",
        "mcp.method",
        "mcp.tool",
        "mcp.target",
    ] {
        assert_eq!(v[k], "", "{k} in {v}");
    }
    // The gateway's own events are JSON lines too, with their fields, without colours.
    let log = gw.stderr();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let listening = events
        .iter()
        .find(|e| e["message"] == "admin endpoints listening")
        .unwrap_or_else(|| panic!("no admin event:\n{log}"));
    assert_eq!(listening["addr"], gw.admin.to_string(), "{listening}");
    assert!(!log.contains("\x1b["), "{log:?}");
}

#[tokio::test]
async fn every_access_line_logged_before_sigterm_is_written() {
    const N: usize = 300;
    let (_up, mut gw) = start("").await;
    let http = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let (http, url) = (http.clone(), gw.url(&format!("/flush-{i}")));
        tasks.spawn(async move {
            let r = http.get(url).send().await.expect("request");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
        });
        if tasks.len() >= 16 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // At once: the last lines are still in the writer's buffer.
    gw.signal(libc::SIGTERM);
    assert_exits_0(&mut gw, Duration::from_secs(10)).await;
    let count = |log: &str| {
        (0..N)
            .filter(|i| log.contains(&format!(" path=/flush-{i} ")))
            .count()
    };
    // The pipe reader may still be reading what the process wrote before it exited.
    e2e::eventually(Duration::from_secs(5), || async {
        gw.stderr().contains("stopped")
    })
    .await;
    let log = gw.stderr();
    assert_eq!(count(&log), N, "access lines lost at shutdown:\n{log}");
    assert!(log.contains("stopped"), "the last event was lost:\n{log}");
}
