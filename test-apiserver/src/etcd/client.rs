//! etcd v3 through its JSON gRPC gateway (`/v3/kv/*`, `/v3/watch`) with reqwest: the etcd-client
//! crate needs `protoc` at build time, which CI machines lack. Keys and values are base64 in the
//! JSON; int64 fields come back as strings. Every call fails over between the endpoints given.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// What an etcd call can fail with, as the API server needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The revision asked for was compacted away (gRPC OutOfRange, etcd's ErrCompacted).
    #[error("required revision {0} has been compacted")]
    Compacted(i64),
    /// A revision newer than the store's (etcd's ErrFutureRev).
    #[error("required revision is a future revision")]
    FutureRevision,
    /// No endpoint answered.
    #[error("no etcd endpoint reachable: {0}")]
    Unavailable(String),
    /// etcd answered with an error.
    #[error("etcd error: {0}")]
    Server(String),
}

/// One key-value pair as etcd returns it.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub value: Bytes,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// The answer to a range read.
#[derive(Debug, Clone)]
pub struct RangeResult {
    /// The store revision the read was served at (the header's revision).
    pub revision: i64,
    pub kvs: Vec<Kv>,
    /// Whether more keys were left out by the limit.
    pub more: bool,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone)]
pub enum TxnOutcome {
    /// Written at this revision; `prev` is the replaced or deleted pair when asked for.
    Done { revision: i64, prev: Option<Kv> },
    /// The compare failed; `current` is the key as it is now (None: absent).
    Failed { current: Option<Kv> },
}

/// One change from a watch.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub deleted: bool,
    pub kv: Kv,
    pub prev: Option<Kv>,
}

/// One message from a watch stream.
#[derive(Debug, Clone)]
pub enum WatchMessage {
    /// Changes, in revision order.
    Events(Vec<WatchEvent>),
    /// Nothing changed under the prefix up to this revision (a progress notification or
    /// the created answer).
    Progress(i64),
    /// The start revision was compacted (etcd cancelled the watch).
    Compacted(i64),
    /// The stream broke; the caller restarts from its last revision.
    Broken(String),
}

/// A client for a set of etcd endpoints (`http://127.0.0.1:2379`, ...).
#[derive(Clone)]
pub struct EtcdClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<String>,
    /// Index of the endpoint that answered last: tried first.
    current: AtomicUsize,
    http: reqwest::Client,
    /// A client without a total timeout, for watch streams.
    streaming: reqwest::Client,
}

/// How long a call retries while no member can serve it (an election after a member died).
const RETRY_FOR: Duration = Duration::from_secs(10);

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

/// The key just past every key that starts with `prefix` (etcd's range_end for a prefix).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn parse_kv(v: &Value) -> Option<Kv> {
    let key = B64.decode(v.get("key")?.as_str()?).ok()?;
    let value = match v.get("value").and_then(Value::as_str) {
        Some(s) => B64.decode(s).ok()?,
        None => Vec::new(),
    };
    Some(Kv {
        key: String::from_utf8(key).ok()?,
        value: Bytes::from(value),
        create_revision: int(v.get("create_revision").unwrap_or(&Value::Null)),
        mod_revision: int(v.get("mod_revision").unwrap_or(&Value::Null)),
    })
}

fn header_revision(v: &Value) -> i64 {
    int(v.pointer("/header/revision").unwrap_or(&Value::Null))
}

impl EtcdClient {
    /// A client over these endpoints (base URLs without a path).
    pub fn new(endpoints: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let streaming = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        let endpoints = endpoints
            .into_iter()
            .map(|e| e.trim_end_matches('/').to_string())
            .collect();
        EtcdClient {
            inner: Arc::new(Inner {
                endpoints,
                current: AtomicUsize::new(0),
                http,
                streaming,
            }),
        }
    }

    /// The endpoints this client fails over between.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// POSTs `body` to `path`, trying each endpoint from the last good one; an endpoint that
    /// refuses the connection or answers "unavailable" (no leader yet after a member died) is
    /// skipped, and the round is retried for up to `RETRY_FOR`.
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        loop {
            match self.call_round(path, &body).await {
                Err(EtcdError::Unavailable(e)) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!("etcd unavailable, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn call_round(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let n = self.inner.endpoints.len();
        if n == 0 {
            return Err(EtcdError::Unavailable("no endpoints".into()));
        }
        let start = self.inner.current.load(Ordering::Relaxed);
        let mut last_err = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let url = format!("{}{}", self.inner.endpoints[idx], path);
            let resp = match self.inner.http.post(&url).json(body).send().await {
                Ok(r) => r,
                Err(e) => {
                    last_err = format!("{url}: {e}");
                    continue;
                }
            };
            let status = resp.status();
            let value: Value = match resp.json().await {
                Ok(v) => v,
                Err(e) => {
                    last_err = format!("{url}: {status}: {e}");
                    continue;
                }
            };
            if let Some(code) = value.get("code").and_then(Value::as_i64) {
                let msg = value
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if code == 11 && msg.contains("compacted") {
                    return Err(EtcdError::Compacted(0));
                }
                if code == 11 && msg.contains("future") {
                    return Err(EtcdError::FutureRevision);
                }
                // Unavailable / deadline exceeded / no leader: another member may serve it.
                if matches!(code, 4 | 14) || msg.contains("leader") {
                    last_err = format!("{url}: {msg}");
                    continue;
                }
                return Err(EtcdError::Server(msg));
            }
            self.inner.current.store(idx, Ordering::Relaxed);
            return Ok(value);
        }
        Err(EtcdError::Unavailable(last_err))
    }

    /// Reads `[key, end)` (or just `key` when `end` is None) at `revision` (0: latest).
    pub async fn range(
        &self,
        key: &str,
        end: Option<&[u8]>,
        revision: i64,
        limit: i64,
    ) -> Result<RangeResult, EtcdError> {
        let mut body = json!({ "key": b64(key.as_bytes()) });
        if let Some(end) = end {
            body["range_end"] = json!(b64(end));
        }
        if revision > 0 {
            body["revision"] = json!(revision.to_string());
        }
        if limit > 0 {
            body["limit"] = json!(limit.to_string());
        }
        let v = self.call("/v3/kv/range", body).await.map_err(|e| match e {
            EtcdError::Compacted(_) => EtcdError::Compacted(revision),
            other => other,
        })?;
        let kvs = v
            .get("kvs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(parse_kv).collect())
            .unwrap_or_default();
        Ok(RangeResult {
            revision: header_revision(&v),
            kvs,
            more: v.get("more").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Reads one key at the latest revision.
    pub async fn get(&self, key: &str) -> Result<(i64, Option<Kv>), EtcdError> {
        let r = self.range(key, None, 0, 0).await?;
        Ok((r.revision, r.kvs.into_iter().next()))
    }

    /// A conditional write: `compare` (etcd Compare JSON objects) then `success` requests;
    /// on failure the key is read back in the same transaction.
    async fn txn(
        &self,
        key: &str,
        compare: Vec<Value>,
        success: Vec<Value>,
    ) -> Result<TxnOutcome, EtcdError> {
        let body = json!({
            "compare": compare,
            "success": success,
            "failure": [{ "request_range": { "key": b64(key.as_bytes()) } }],
        });
        let v = self.call("/v3/kv/txn", body).await?;
        let responses = v.get("responses").and_then(Value::as_array);
        if v.get("succeeded").and_then(Value::as_bool).unwrap_or(false) {
            let prev = responses.and_then(|r| r.first()).and_then(|r| {
                r.pointer("/response_put/prev_kv")
                    .or_else(|| r.pointer("/response_delete_range/prev_kvs/0"))
                    .and_then(parse_kv)
            });
            Ok(TxnOutcome::Done {
                revision: header_revision(&v),
                prev,
            })
        } else {
            let current = responses
                .and_then(|r| r.first())
                .and_then(|r| r.pointer("/response_range/kvs/0"))
                .and_then(parse_kv);
            Ok(TxnOutcome::Failed { current })
        }
    }

    /// Writes `key` only when it does not exist.
    pub async fn create(&self, key: &str, value: &[u8]) -> Result<TxnOutcome, EtcdError> {
        let k = b64(key.as_bytes());
        self.txn(
            key,
            vec![json!({"target": "CREATE", "key": k, "create_revision": "0", "result": "EQUAL"})],
            vec![json!({"request_put": {"key": k, "value": b64(value)}})],
        )
        .await
    }

    /// Writes `key` only when its mod revision is still `expected` (optimistic concurrency).
    pub async fn update(
        &self,
        key: &str,
        value: &[u8],
        expected: i64,
    ) -> Result<TxnOutcome, EtcdError> {
        let k = b64(key.as_bytes());
        self.txn(
            key,
            vec![json!({"target": "MOD", "key": k, "mod_revision": expected.to_string(), "result": "EQUAL"})],
            vec![json!({"request_put": {"key": k, "value": b64(value), "prev_kv": true}})],
        )
        .await
    }

    /// Deletes `key` only when its mod revision is still `expected`.
    pub async fn delete(&self, key: &str, expected: i64) -> Result<TxnOutcome, EtcdError> {
        let k = b64(key.as_bytes());
        self.txn(
            key,
            vec![json!({"target": "MOD", "key": k, "mod_revision": expected.to_string(), "result": "EQUAL"})],
            vec![json!({"request_delete_range": {"key": k, "prev_kv": true}})],
        )
        .await
    }

    /// An unconditional put (tests and fixtures).
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<i64, EtcdError> {
        let v = self
            .call(
                "/v3/kv/put",
                json!({"key": b64(key.as_bytes()), "value": b64(value)}),
            )
            .await?;
        Ok(header_revision(&v))
    }

    /// Deletes every key under `prefix` (tests).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<i64, EtcdError> {
        let v = self
            .call(
                "/v3/kv/deleterange",
                json!({"key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix))}),
            )
            .await?;
        Ok(header_revision(&v))
    }

    /// Compacts the history up to `revision` (physically: older revisions are gone when this
    /// returns), so reads and watches from before it fail as compacted.
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        self.call(
            "/v3/kv/compaction",
            json!({"revision": revision.to_string(), "physical": true}),
        )
        .await
        .map(|_| ())
    }

    /// The current store revision.
    pub async fn current_revision(&self) -> Result<i64, EtcdError> {
        Ok(self.range("\0", None, 0, 1).await?.revision)
    }

    /// Watches every key under `prefix` from `start_revision` (inclusive), with progress
    /// notifications. Messages arrive on the returned receiver until the stream breaks or is
    /// cancelled; the task ends when the receiver is dropped.
    pub fn watch_prefix(&self, prefix: &str, start_revision: i64) -> mpsc::Receiver<WatchMessage> {
        let (tx, rx) = mpsc::channel(64);
        let client = self.clone();
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            let msg = match client.watch_once(&prefix, start_revision, &tx).await {
                Ok(()) => return,
                Err(e) => WatchMessage::Broken(e),
            };
            let _ = tx.send(msg).await;
        });
        rx
    }

    async fn watch_once(
        &self,
        prefix: &str,
        start_revision: i64,
        tx: &mpsc::Sender<WatchMessage>,
    ) -> Result<(), String> {
        let body = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
            "prev_kv": true,
            "progress_notify": true,
        }});
        let n = self.inner.endpoints.len();
        let start = self.inner.current.load(Ordering::Relaxed);
        let mut resp = None;
        let mut last_err = String::from("no endpoints");
        for i in 0..n {
            let url = format!("{}/v3/watch", self.inner.endpoints[(start + i) % n]);
            match self.inner.streaming.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    resp = Some(r);
                    break;
                }
                Ok(r) => last_err = format!("{url}: {}", r.status()),
                Err(e) => last_err = format!("{url}: {e}"),
            }
        }
        let resp = resp.ok_or(last_err)?;
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                // Nobody listens any more: drop the etcd stream now, not at its next message.
                _ = tx.closed() => return Ok(()),
            };
            let chunk = match next {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("watch stream ended".into()),
            };
            buf.extend_from_slice(&chunk);
            // The gateway writes one JSON object per line.
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                if let Some(err) = v.get("error") {
                    return Err(err.to_string());
                }
                let Some(result) = v.get("result") else {
                    continue;
                };
                let msg = watch_message(result);
                let stop = matches!(msg, WatchMessage::Compacted(_));
                if tx.send(msg).await.is_err() {
                    return Ok(());
                }
                if stop {
                    return Ok(());
                }
            }
        }
    }
}

fn watch_message(result: &Value) -> WatchMessage {
    let compact = int(result.get("compact_revision").unwrap_or(&Value::Null));
    if compact > 0 {
        return WatchMessage::Compacted(compact);
    }
    if result.get("canceled").and_then(Value::as_bool) == Some(true) {
        let reason = result
            .get("cancel_reason")
            .and_then(Value::as_str)
            .unwrap_or("watch cancelled");
        return WatchMessage::Broken(reason.to_string());
    }
    if result.get("created").and_then(Value::as_bool) == Some(true) {
        // The created answer's header is the store's revision, not a promise that older
        // events under the prefix were delivered: no progress.
        return WatchMessage::Progress(0);
    }
    let events: Vec<WatchEvent> = result
        .get("events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(WatchEvent {
                        deleted: e.get("type").and_then(Value::as_str) == Some("DELETE"),
                        kv: parse_kv(e.get("kv")?)?,
                        prev: e.get("prev_kv").and_then(parse_kv),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if events.is_empty() {
        WatchMessage::Progress(header_revision(result))
    } else {
        WatchMessage::Events(events)
    }
}
