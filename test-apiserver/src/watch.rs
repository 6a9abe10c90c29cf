//! Watch: JSON lines `{"type": ..., "object": ...}` from an etcd watch of the resource's
//! prefix, starting after the revision asked for. A compacted start revision answers one ERROR
//! event (a `Status` with code 410, reason Expired), so clients relist. BOOKMARK events carry
//! the last revision known to hold no unsent change (from events and etcd progress
//! notifications).

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::etcd::{WatchEvent, WatchMessage};
use crate::resources::ResourceInfo;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::{decode_as, ListOptions, Store};

/// Parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub resource: ResourceInfo,
    pub namespace: Option<String>,
    pub resource_version: Option<String>,
    pub labels: Selector,
    pub fields: Selector,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
    /// `Accept: ...;as=PartialObjectMetadata`: objects reduced to their metadata.
    pub metadata_only: bool,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(ri: &ResourceInfo, rev: i64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": ri.kind, "apiVersion": ri.api_version(), "metadata": meta})
}

fn gone(rev: i64, compacted: i64) -> Value {
    ApiError::gone(format!("too old resource version: {rev} ({compacted})")).to_status()
}

/// Starts the watch; the lines arrive on the receiver. The producer stops when the receiver
/// is dropped (client gone), at the timeout, or when `stop` is cancelled.
pub fn start(
    store: Store,
    req: WatchRequest,
    stop: CancellationToken,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        tokio::select! {
            _ = run(store, req, &tx) => {}
            _ = stop.cancelled() => {}
        }
    });
    rx
}

type Tx = mpsc::Sender<Result<Bytes, std::io::Error>>;

async fn send(tx: &Tx, b: Bytes) -> bool {
    tx.send(Ok(b)).await.is_ok()
}

/// The line of an object event, reduced to metadata when asked for.
fn object_line(req: &WatchRequest, kind: &str, object: &Value) -> Bytes {
    if req.metadata_only {
        line(kind, &crate::store::partial_metadata(object))
    } else {
        line(kind, object)
    }
}

async fn run(store: Store, req: WatchRequest, tx: &Tx) {
    let _ = tokio::time::timeout(req.timeout, watch(store, req.clone(), tx)).await;
}

async fn watch(store: Store, req: WatchRequest, tx: &Tx) {
    let ri = &req.resource;
    let ns = req.namespace.as_deref();
    // Where to start: after `rev`. Absent or "0": the current state as ADDED events first.
    let given = req
        .resource_version
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "0");
    let mut rev: i64 = match given {
        Some(s) if !req.send_initial_events => match s.parse() {
            Ok(r) => r,
            Err(_) => {
                let e = ApiError::bad_request(format!("invalid resource version: {s:?}"));
                let _ = send(tx, line("ERROR", &e.to_status())).await;
                return;
            }
        },
        _ => {
            let opts = ListOptions {
                labels: req.labels.clone(),
                fields: req.fields.clone(),
                ..Default::default()
            };
            let list = match store.list(ri, ns, &opts).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = send(tx, line("ERROR", &e.to_status())).await;
                    return;
                }
            };
            let rev = list["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            for item in list["items"].as_array().into_iter().flatten() {
                if !send(tx, object_line(&req, "ADDED", item)).await {
                    return;
                }
            }
            if req.send_initial_events
                && req.bookmarks
                && !send(tx, line("BOOKMARK", &bookmark(ri, rev, true))).await
            {
                return;
            }
            rev
        }
    };
    let prefix = Store::list_prefix(ri, ns);
    let mut bookmark_timer = tokio::time::interval(req.bookmark_interval);
    bookmark_timer.tick().await;
    // Re-established after a broken stream (an etcd member gone) from the last revision.
    'reconnect: loop {
        let mut events = store.etcd.watch_prefix(&prefix, rev + 1);
        loop {
            tokio::select! {
                msg = events.recv() => {
                    let Some(msg) = msg else { break };
                    match msg {
                        WatchMessage::Events(evs) => {
                            for ev in evs {
                                rev = rev.max(ev.kv.mod_revision);
                                if let Some((kind, obj)) = convert(&req, &ev) {
                                    if !send(tx, object_line(&req, kind, &obj)).await {
                                        return;
                                    }
                                }
                            }
                        }
                        WatchMessage::Progress(r) => rev = rev.max(r),
                        WatchMessage::Compacted(c) => {
                            let _ = send(tx, line("ERROR", &gone(rev, c))).await;
                            return;
                        }
                        WatchMessage::Broken(_) => break,
                    }
                }
                _ = bookmark_timer.tick() => {
                    if req.bookmarks && !send(tx, line("BOOKMARK", &bookmark(ri, rev, false))).await {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        continue 'reconnect;
    }
}

/// The watch event for one etcd change, as the selectors see it: an object entering the
/// selection is ADDED, leaving it DELETED.
fn convert(req: &WatchRequest, ev: &WatchEvent) -> Option<(&'static str, Value)> {
    let sel = |o: &Value| req.labels.matches(o) && req.fields.matches(o);
    let prev = ev.prev.as_ref().and_then(|p| decode_as(p, &req.resource));
    if ev.deleted {
        let mut obj = prev?;
        // The deletion's revision, so a client resuming from it does not see it again.
        obj["metadata"]["resourceVersion"] = json!(ev.kv.mod_revision.to_string());
        return sel(&obj).then_some(("DELETED", obj));
    }
    let obj = decode_as(&ev.kv, &req.resource)?;
    let now = sel(&obj);
    let before = prev.as_ref().is_some_and(sel);
    match (before, now) {
        (_, true) if ev.kv.create_revision == ev.kv.mod_revision => Some(("ADDED", obj)),
        (true, true) => Some(("MODIFIED", obj)),
        (false, true) => Some(("ADDED", obj)),
        (true, false) => Some(("DELETED", obj)),
        (false, false) => None,
    }
}
