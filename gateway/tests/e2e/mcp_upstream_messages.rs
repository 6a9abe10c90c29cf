//! What travels besides calls, between Python SDK targets (`tests/python/mcp_server.py` on
//! stdio, legacy SSE and Streamable HTTP) and a client of the gateway (rmcp, Streamable HTTP):
//! log messages, filtered by the client's level and named after their target; `roots/list`
//! questions answered by the client of the call; resource subscriptions, held once upstream
//! and delivered only to the sessions that subscribed.

#![allow(deprecated)] // Logging and roots are deprecated by 2026-07-28 but still relayed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ErrorData, GetMeta as _, Implementation, ListRootsResult,
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    ReadResourceRequestParams, ResourceContents, ResourceUpdatedNotificationParam, Root,
    ServerNotification, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RequestContext, RoleClient,
    RunningService,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ClientHandler;
use serde_json::{json, Value};

use crate::mcp::{connect_as, mcp_config, step, wait_until};
use crate::mcp_upstream_interop::{call, federation, text, PyServer, TARGETS};
use e2e::Gateway;

/// The root every recording client reports.
const ROOT: &str = "file:///work/project";

/// A client that records log messages and resource updates, and has one root.
#[derive(Clone, Default)]
struct Recording {
    logs: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
    updates: Arc<Mutex<Vec<String>>>,
    progress: Arc<Mutex<Vec<f64>>>,
    with_roots: bool,
}

impl Recording {
    fn logs(&self) -> Vec<(String, String)> {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.iter()
            .map(|l| {
                let text = l
                    .data
                    .as_str()
                    .map_or_else(|| l.data.to_string(), str::to_owned);
                (l.logger.clone().unwrap_or_default(), text)
            })
            .collect()
    }

    fn progress(&self) -> Vec<f64> {
        let mut seen = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        seen.sort_by(f64::total_cmp);
        seen
    }

    fn updates(&self) -> Vec<String> {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ClientHandler for Recording {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(params.progress);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(params.uri);
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(vec![Root::new(ROOT)]))
    }

    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        if self.with_roots {
            caps = ClientCapabilities::builder().enable_roots().build();
        }
        ClientConfig::new(caps, Implementation::new("messages-test-client", "1.0.0"))
    }
}

type Client = RunningService<RoleClient, Recording>;

/// Calls `tool` and returns its text, or the error's message.
async fn call_text(c: &Client, gw: &Gateway, tool: &str, args: Value) -> String {
    let r = step(tool, c.call_tool(call(tool, args)))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}\nstderr:\n{}", gw.stderr()));
    text(&r)
}

/// What a target says the gateway asked it for (its `interest` tool).
async fn interest(c: &Client, gw: &Gateway, target: &str) -> Value {
    let raw = call_text(c, gw, &format!("{target}_interest"), json!({})).await;
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{target}_interest: {e}: {raw}"))
}

#[tokio::test]
async fn log_messages_reach_the_calling_client_at_its_level() {
    let f = federation().await;
    let client = Recording::default();
    let c = connect_as(&f.gw, client.clone()).await;
    let entry = |target: &str, level: &str| (target.to_owned(), format!("chatty {level}"));

    // No level set: what the target sends (all three) reaches the client of the call, named
    // after the target, whether the target's transport tags the message with its call
    // (Streamable HTTP) or not (stdio, SSE: the only call in flight).
    for target in TARGETS {
        let got = call_text(&c, &f.gw, &format!("{target}_chatty"), json!({})).await;
        assert_eq!(got, "chatted");
        let all: Vec<_> = ["debug", "info", "warning"]
            .iter()
            .map(|l| entry(target, l))
            .collect();
        wait_until(&format!("{target}'s three log messages"), || {
            let logs = client.logs();
            all.iter().all(|e| logs.contains(e))
        })
        .await;
    }

    // Warning and up: the targets are asked for it, and the gateway filters.
    step(
        "set level",
        c.peer()
            .set_level(SetLevelRequestParams::new(LoggingLevel::Warning)),
    )
    .await
    .unwrap_or_else(|e| panic!("setLevel: {e}\nstderr:\n{}", f.gw.stderr()));
    client
        .logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    for target in TARGETS {
        call_text(&c, &f.gw, &format!("{target}_chatty"), json!({})).await;
    }
    wait_until("the warnings", || {
        let logs = client.logs();
        TARGETS.iter().all(|t| logs.contains(&entry(t, "warning")))
    })
    .await;
    // Debug and info were sent before each warning on the same stream, so had they been
    // relayed they would be here by now; a little grace for the client's handler tasks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = client.logs();
    assert_eq!(logs.len(), TARGETS.len(), "only the warnings: {logs:?}");
    for target in TARGETS {
        let asked = interest(&c, &f.gw, target).await;
        assert_eq!(asked["levels"], json!(["warning"]), "{target}: {asked}");
    }
    let _ = c.cancel().await;
    drop((f.sse, f.http));
}

#[tokio::test]
async fn roots_questions_are_answered_by_the_client_of_the_call() {
    let f = federation().await;
    let with_roots = connect_as(
        &f.gw,
        Recording {
            with_roots: true,
            ..Recording::default()
        },
    )
    .await;
    let without = connect_as(&f.gw, Recording::default()).await;
    for target in TARGETS {
        let tool = format!("{target}_roots");
        assert_eq!(
            call_text(&with_roots, &f.gw, &tool, json!({})).await,
            ROOT,
            "{}",
            f.gw.stderr()
        );
        let r = step(&tool, without.call_tool(call(&tool, json!({}))))
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}\nstderr:\n{}", f.gw.stderr()));
        assert_eq!(r.is_error, Some(true), "{tool} without roots: {r:?}");
        assert!(
            text(&r).contains("did not declare roots support"),
            "{tool}: {}",
            text(&r)
        );
    }
    let _ = with_roots.cancel().await;
    let _ = without.cancel().await;
    drop((f.sse, f.http));
}

#[tokio::test]
async fn resource_updates_reach_only_the_sessions_subscribed() {
    let f = federation().await;
    let (one, other) = (Recording::default(), Recording::default());
    let a = connect_as(&f.gw, one.clone()).await;
    let b = connect_as(&f.gw, other.clone()).await;
    let resources = step("list resources", a.list_all_resources())
        .await
        .unwrap_or_else(|e| panic!("resources/list: {e}\nstderr:\n{}", f.gw.stderr()));
    for target in ["py-http", "py-stdio"] {
        let exposed = resources
            .iter()
            .map(|r| r.uri.clone())
            .find(|u| u.contains(target))
            .unwrap_or_else(|| panic!("{target}'s resource in {resources:?}"));
        // Read through the gateway (for py-http, POSTed straight from the request's task).
        let read = step(
            "read",
            a.read_resource(ReadResourceRequestParams::new(&exposed)),
        )
        .await
        .unwrap_or_else(|e| panic!("resources/read: {e}\nstderr:\n{}", f.gw.stderr()));
        match read.contents.as_slice() {
            [ResourceContents::TextResourceContents { uri, text, .. }] => {
                assert_eq!((uri.as_str(), text.as_str()), (exposed.as_str(), "hello"));
            }
            other => panic!("{target}: unexpected contents {other:?}"),
        }
        for c in [&a, &b] {
            step(
                "subscribe",
                c.peer().subscribe(SubscribeRequestParams::new(&exposed)),
            )
            .await
            .unwrap_or_else(|e| panic!("subscribe: {e}\nstderr:\n{}", f.gw.stderr()));
        }
        let asked = interest(&a, &f.gw, target).await;
        assert_eq!(asked["subscribed"], json!(["note://greeting"]), "{asked}");

        // b leaves; the target keeps the subscription for a.
        step(
            "unsubscribe",
            b.peer()
                .unsubscribe(UnsubscribeRequestParams::new(&exposed)),
        )
        .await
        .unwrap_or_else(|e| panic!("unsubscribe: {e}\nstderr:\n{}", f.gw.stderr()));
        let asked = interest(&a, &f.gw, target).await;
        assert_eq!(asked["subscribed"], json!(["note://greeting"]), "{asked}");

        let touched = call_text(
            &b,
            &f.gw,
            &format!("{target}_touch"),
            json!({"uri": "note://greeting"}),
        )
        .await;
        assert_eq!(touched, "touched");
        wait_until(&format!("{target}'s update"), || {
            one.updates().contains(&exposed)
        })
        .await;

        // The last one leaves: the target is told.
        step(
            "unsubscribe",
            a.peer()
                .unsubscribe(UnsubscribeRequestParams::new(&exposed)),
        )
        .await
        .unwrap_or_else(|e| panic!("unsubscribe: {e}\nstderr:\n{}", f.gw.stderr()));
        let asked = interest(&a, &f.gw, target).await;
        assert_eq!(asked["subscribed"], json!([]), "{asked}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        other.updates().is_empty(),
        "b unsubscribed before: {:?}",
        other.updates()
    );
    assert_eq!(
        one.updates().len(),
        2,
        "one update per target: {:?}",
        one.updates()
    );

    // A resource of a target that takes no subscriptions is refused clearly... all three
    // Python targets take them, so an unknown URI stands in: not found.
    let err = step(
        "subscribe to an unknown resource",
        a.peer()
            .subscribe(SubscribeRequestParams::new("nowhere://x")),
    )
    .await
    .expect_err("unknown resource");
    assert!(err.to_string().contains("Unknown resource"), "{err}");
    let _ = a.cancel().await;
    let _ = b.cancel().await;
    drop((f.sse, f.http));
}

/// A 2026-07-28 client (rmcp, `server/discover`) gets resource updates and list changes on a
/// `subscriptions/listen` stream, each tagged with the stream's id; the targets hold the
/// subscription while the stream is open, and drop it when the client closes it.
#[tokio::test]
async fn a_modern_client_listens_for_resource_updates() {
    let f = federation().await;
    let transport = StreamableHttpClientTransport::from_uri(f.gw.url("/mcp"));
    let mode = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let c = step(
        "discover",
        Recording::default().serve_with_lifecycle(transport, mode),
    )
    .await
    .unwrap_or_else(|e| panic!("discover: {e}\nstderr:\n{}", f.gw.stderr()));
    let resources = step("list resources", c.list_all_resources())
        .await
        .unwrap_or_else(|e| panic!("resources/list: {e}\nstderr:\n{}", f.gw.stderr()));
    let exposed = resources
        .iter()
        .map(|r| r.uri.clone())
        .find(|u| u.contains("py-http"))
        .unwrap_or_else(|| panic!("py-http's resource in {resources:?}"));
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .resource_subscription(&exposed)
        .resource_subscription("switchboard+nowhere:x://y")
        .build();
    let mut subscription = step("listen", c.peer().listen(filter))
        .await
        .unwrap_or_else(|e| panic!("listen: {e}\nstderr:\n{}", f.gw.stderr()));
    let acknowledged = subscription.acknowledged().clone();
    assert_eq!(acknowledged.tools_list_changed, Some(true));
    assert_eq!(
        acknowledged.resource_subscriptions,
        Some(vec![exposed.clone()]),
        "the unknown resource is left out"
    );
    let asked = interest(&c, &f.gw, "py-http").await;
    assert_eq!(asked["subscribed"], json!(["note://greeting"]), "{asked}");

    let touched = call_text(
        &c,
        &f.gw,
        "py-http_touch",
        json!({"uri": "note://greeting"}),
    )
    .await;
    assert_eq!(touched, "touched");
    let n = step("the update", subscription.next())
        .await
        .unwrap_or_else(|e| panic!("next: {e}\nstderr:\n{}", f.gw.stderr()))
        .unwrap_or_else(|| panic!("the stream ended\nstderr:\n{}", f.gw.stderr()));
    match &n {
        ServerNotification::ResourceUpdatedNotification(u) => assert_eq!(u.params.uri, exposed),
        other => panic!("expected the resource update, got {other:?}"),
    }
    assert_eq!(
        n.get_meta().subscription_id().as_ref(),
        Some(subscription.id())
    );

    // Closing the stream releases the subscription at the target.
    let _ = subscription.cancel().await;
    wait_for_interest(&c, &f.gw, "py-http", json!([])).await;
    let _ = c.cancel().await;
    drop((f.sse, f.http));
}

/// Waits (at most 10 s) until `target` says its subscriptions are `want`.
async fn wait_for_interest(c: &Client, gw: &Gateway, target: &str, want: Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let asked = interest(c, gw, target).await;
        if asked["subscribed"] == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{target} still has {asked}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Streamable HTTP target that closes a call's response stream midway (SEP-1699: the Python
/// SDK with an event store) is resumed by the gateway with `Last-Event-ID`: the client gets
/// every progress notification and the result, none the wiser.
#[tokio::test]
async fn a_call_stream_the_target_closes_is_resumed() {
    let server = PyServer::start_with("streamable-http", &["--resumable"]).await;
    let targets = format!(
        "- {{ name: py-resumable, mcp: {{ url: \"{}\" }}, timeout: 20s }}",
        server.url()
    );
    let gw = Gateway::start(&mcp_config("failClosed", &targets)).await;
    let client = Recording::default();
    let c = connect_as(&gw, client.clone()).await;
    let got = call_text(&c, &gw, "interrupted", json!({"n": 4})).await;
    assert_eq!(got, "resumed 4", "stderr:\n{}", gw.stderr());
    wait_until("all four progress notifications", || {
        client.progress() == [1.0, 2.0, 3.0, 4.0]
    })
    .await;
    let _ = c.cancel().await;
    drop(server);
}
