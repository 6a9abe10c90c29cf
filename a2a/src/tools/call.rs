//! The A2A client side of a tool call: builds the message, posts it to the agent's JSON-RPC
//! endpoint (blocking `SendMessage` / `message/send`, or `SendStreamingMessage` /
//! `message/stream` when the card says the agent streams), and folds the answer into an
//! [`Outcome`], sending one progress text per event on the way.
//!
//! Why hand-written and not an A2A client crate: the adapter must speak both dialects against
//! the same agent (a2a.md §1: 1.0 and 0.3 live side by side), tolerate odd fields, and stay
//! bounded (response size cap, stream read only up to a terminal or interrupted state). The
//! JSON shapes involved are small; `eventsource-stream` does the SSE framing.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::card::AgentCardInfo;
use super::outcome::Outcome;
use super::skills::CallArgs;
use crate::headers::{is_event_stream, A2A_VERSION};
use crate::method::{A2aMethod, Dialect};

/// How long a best-effort `CancelTask` may take.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest error body quoted in a message.
const MAX_QUOTED_BODY: usize = 512;

/// Why a call did not give an A2A result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallFailure {
    /// A JSON-RPC error from the agent (`reason`: the 1.0 `ErrorInfo.reason`, if any).
    Rpc {
        code: i64,
        message: String,
        reason: Option<String>,
        data: Option<Value>,
    },
    /// A non-success HTTP status without a JSON-RPC error in the body.
    Http { status: u16, body: String },
    /// The agent could not be reached, or the connection broke.
    Transport(String),
    /// The agent took longer than the call timeout.
    Timeout(Duration),
    /// The agent answered something that is not an A2A response.
    Protocol(String),
    /// The MCP client cancelled the call.
    Cancelled,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Rpc {
                code,
                message,
                reason,
                ..
            } => {
                write!(f, "the agent answered with JSON-RPC error {code}")?;
                if let Some(r) = reason {
                    write!(f, " ({r})")?;
                }
                write!(f, ": {message}")
            }
            CallFailure::Http { status, body } if body.is_empty() => {
                write!(f, "the agent answered HTTP {status}")
            }
            CallFailure::Http { status, body } => {
                write!(f, "the agent answered HTTP {status}: {body}")
            }
            CallFailure::Transport(cause) => write!(f, "cannot reach the agent: {cause}"),
            CallFailure::Timeout(d) => {
                write!(f, "the agent did not answer within {}", fmt_duration(*d))
            }
            CallFailure::Protocol(cause) => {
                write!(f, "the agent sent an invalid response: {cause}")
            }
            CallFailure::Cancelled => write!(f, "the call was cancelled"),
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.as_millis() % 1000 == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

impl CallFailure {
    /// Reads a JSON-RPC `error` object (either dialect; 1.0 puts a `google.rpc.ErrorInfo` in
    /// the `data` array).
    pub fn from_rpc_error(err: &Value) -> CallFailure {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(-32603);
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_owned();
        let data = err.get("data").cloned();
        let reason = data
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find_map(|d| d.get("reason").and_then(Value::as_str))
            })
            .map(str::to_owned);
        CallFailure::Rpc {
            code,
            message,
            reason,
            data,
        }
    }

    /// A hint for the model on what to do about a known error, if any.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            CallFailure::Rpc { code: -32001, .. } => {
                Some("The taskId is not known to the agent: call again without taskId to start a new task.")
            }
            CallFailure::Rpc { code: -32004, .. } => Some(
                "The agent does not support this; if you passed a taskId of a finished task, \
                 call again without taskId (keep contextId to stay in the conversation).",
            ),
            CallFailure::Timeout(_) | CallFailure::Transport(_) => {
                Some("The agent may be down or slow; try again later.")
            }
            _ => None,
        }
    }
}

/// What a call needs to reach the agent.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub http: &'a reqwest::Client,
    pub card: &'a AgentCardInfo,
    /// Extra headers sent on every request (credentials, tenancy).
    pub headers: &'a HeaderMap,
    /// The target's `backendAuth`, set on every request.
    pub auth: Option<&'a backend_auth::BackendAuth>,
    /// Largest response (a blocking body, or a whole stream) read from the agent.
    pub max_response_bytes: usize,
}

/// A random UUID v4 (message ids, JSON-RPC ids), from the system CSPRNG.
pub fn random_uuid() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // No CSPRNG (never seen in practice): ids only need to be unique, not secret.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The user message of a call in `dialect`; `skill` goes in `metadata.skillId` as a hint.
pub fn build_message(dialect: Dialect, args: &CallArgs, skill: Option<&str>) -> Value {
    let mut m = match dialect {
        Dialect::V1 => json!({
            "messageId": random_uuid(),
            "role": "ROLE_USER",
            "parts": [{"text": args.message}],
        }),
        Dialect::V03 => json!({
            "kind": "message",
            "messageId": random_uuid(),
            "role": "user",
            "parts": [{"kind": "text", "text": args.message}],
        }),
    };
    if let Some(c) = &args.context_id {
        m["contextId"] = json!(c);
    }
    if let Some(t) = &args.task_id {
        m["taskId"] = json!(t);
    }
    if let Some(s) = skill {
        m["metadata"] = json!({ "skillId": s });
    }
    m
}

/// The JSON-RPC request sending `message`.
pub fn send_request(card: &AgentCardInfo, message: Value, streaming: bool) -> Value {
    let method = if streaming {
        A2aMethod::SendStreamingMessage
    } else {
        A2aMethod::SendMessage
    };
    let mut params = json!({ "message": message });
    match card.dialect {
        Dialect::V1 => {
            if let Some(t) = &card.tenant {
                params["tenant"] = json!(t);
            }
        }
        // 0.3 agents differ on the default; the adapter always waits for the answer.
        Dialect::V03 if !streaming => params["configuration"] = json!({ "blocking": true }),
        Dialect::V03 => {}
    }
    rpc(card.dialect, method, params)
}

/// The JSON-RPC request cancelling `task_id`.
pub fn cancel_request(card: &AgentCardInfo, task_id: &str) -> Value {
    let mut params = json!({ "id": task_id });
    if let (Dialect::V1, Some(t)) = (card.dialect, &card.tenant) {
        params["tenant"] = json!(t);
    }
    rpc(card.dialect, A2aMethod::CancelTask, params)
}

fn rpc(dialect: Dialect, method: A2aMethod, params: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": random_uuid(),
        // Every method used here exists in both dialects.
        "method": method.jsonrpc_name(dialect).unwrap_or(method.as_str()),
        "params": params,
    })
}

impl Endpoint<'_> {
    fn post(&self, body: &Value, accept: &'static str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .post(self.card.endpoint.clone())
            .headers(self.headers.clone())
            .header(http::header::ACCEPT, accept)
            .json(body);
        // 1.0 methods need the header (without it a 1.0 agent assumes 0.3, a2a.md §1); a 0.3
        // client sends none.
        if self.card.dialect == Dialect::V1 {
            rb = rb.header(A2A_VERSION, HeaderValue::from_static("1.0"));
        }
        rb
    }

    /// Sends `request` with the target's credential.
    async fn execute(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallFailure> {
        backend_auth::send(self.auth, request)
            .await
            .map_err(|e| CallFailure::Transport(e.to_string()))?
            .map_err(|e| CallFailure::Transport(describe_reqwest(&e)))
    }

    /// Sends the call's message and folds the answer into `outcome`, with one progress text
    /// per event on `progress`. Streams when the card says the agent can. Returns when the
    /// task is terminal or interrupted, or the agent is done answering.
    pub async fn send(
        &self,
        args: &CallArgs,
        skill: Option<&str>,
        outcome: &mut Outcome,
        progress: &UnboundedSender<String>,
    ) -> Result<(), CallFailure> {
        let streaming = self.card.streaming;
        let message = build_message(self.card.dialect, args, skill);
        let body = send_request(self.card, message, streaming);
        let accept = if streaming {
            "text/event-stream, application/json"
        } else {
            "application/json"
        };
        let resp = self.execute(self.post(&body, accept)).await?;
        let status = resp.status();
        if is_event_stream(resp.headers().get(http::header::CONTENT_TYPE)) && status.is_success() {
            return self.read_stream(resp, outcome, progress).await;
        }
        let bytes = read_capped(resp, self.max_response_bytes)
            .await
            .map_err(CallFailure::Transport)?;
        let result = rpc_result(status, &bytes)?;
        let update = outcome.apply(&result);
        if let Some(text) = update.progress_text() {
            let _ = progress.send(text);
        }
        if update == super::outcome::Update::Unknown {
            return Err(CallFailure::Protocol(format!(
                "the result is neither a task nor a message: {}",
                quote(&result.to_string())
            )));
        }
        Ok(())
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        outcome: &mut Outcome,
        progress: &UnboundedSender<String>,
    ) -> Result<(), CallFailure> {
        let max = self.max_response_bytes;
        let mut seen = 0usize;
        let bytes = resp.bytes_stream().map(move |chunk| match chunk {
            Ok(b) => {
                seen += b.len();
                if seen > max {
                    Err(format!(
                        "the stream is larger than the limit of {max} bytes"
                    ))
                } else {
                    Ok(b)
                }
            }
            Err(e) => Err(describe_reqwest(&e)),
        });
        let mut events = bytes.eventsource();
        while let Some(item) = events.next().await {
            let ev = item.map_err(|e| {
                CallFailure::Transport(format!("the agent's event stream broke: {e}"))
            })?;
            if ev.data.trim().is_empty() {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                // A non-JSON frame is not an A2A event; skip it rather than fail the call.
                continue;
            };
            if let Some(err) = v.get("error") {
                return Err(CallFailure::from_rpc_error(err));
            }
            if ev.event == "error" {
                return Err(CallFailure::from_rpc_error(&v));
            }
            // JSON-RPC streams wrap each event in `result`; tolerate bare events too.
            let result = v.get("result").unwrap_or(&v);
            let update = outcome.apply(result);
            if let Some(text) = update.progress_text() {
                let _ = progress.send(text);
            }
            if outcome.is_done() {
                break;
            }
        }
        Ok(())
    }

    /// Best-effort `CancelTask` / `tasks/cancel` for a call that was abandoned.
    pub async fn cancel(&self, task_id: &str) -> Result<(), CallFailure> {
        let body = cancel_request(self.card, task_id);
        let resp = self
            .execute(self.post(&body, "application/json").timeout(CANCEL_TIMEOUT))
            .await?;
        let status = resp.status();
        let bytes = read_capped(resp, 64 * 1024)
            .await
            .map_err(CallFailure::Transport)?;
        rpc_result(status, &bytes).map(|_| ())
    }
}

/// The `result` of a JSON-RPC response body, or why there is none. A JSON-RPC error wins
/// over the HTTP status (agents send errors with 200 or with 4xx/5xx).
pub fn rpc_result(status: reqwest::StatusCode, body: &[u8]) -> Result<Value, CallFailure> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(err) = parsed.as_ref().and_then(|v| v.get("error")) {
        return Err(CallFailure::from_rpc_error(err));
    }
    if !status.is_success() {
        return Err(CallFailure::Http {
            status: status.as_u16(),
            body: quote(&String::from_utf8_lossy(body)),
        });
    }
    match parsed {
        Some(mut v) => match v.get_mut("result") {
            Some(r) => Ok(r.take()),
            None => Err(CallFailure::Protocol(format!(
                "no `result` or `error` in {}",
                quote(&v.to_string())
            ))),
        },
        None => Err(CallFailure::Protocol(format!(
            "the body is not JSON: {}",
            quote(&String::from_utf8_lossy(body))
        ))),
    }
}

/// `s` trimmed and cut to [`MAX_QUOTED_BODY`] bytes for an error message.
fn quote(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_QUOTED_BODY {
        return s.to_owned();
    }
    let mut end = MAX_QUOTED_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A reqwest error with its causes (`connection refused`, `timed out`), which its own
/// `Display` leaves out.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// Reads a whole body, failing past `max` bytes instead of buffering without bound.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Bytes, String> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe_reqwest(&e))? {
        if buf.len() + chunk.len() > max {
            return Err(format!(
                "the response is larger than the limit of {max} bytes"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn card(dialect: Dialect, tenant: Option<&str>) -> AgentCardInfo {
        let u = Url::parse("http://a/rpc").unwrap();
        AgentCardInfo {
            name: "A".into(),
            description: String::new(),
            endpoint: u.clone(),
            dialect,
            tenant: tenant.map(str::to_owned),
            streaming: false,
            skills: vec![],
            card_url: u,
        }
    }

    fn args() -> CallArgs {
        CallArgs {
            message: "hi".into(),
            context_id: Some("c".into()),
            task_id: Some("t".into()),
        }
    }

    #[test]
    fn uuids_are_v4_shaped_and_distinct() {
        let a = random_uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, random_uuid());
    }

    #[test]
    fn messages_in_both_dialects() {
        let m = build_message(Dialect::V1, &args(), Some("echo"));
        assert_eq!(m["role"], "ROLE_USER");
        assert_eq!(m["parts"], json!([{"text": "hi"}]));
        assert_eq!(m["contextId"], "c");
        assert_eq!(m["taskId"], "t");
        assert_eq!(m["metadata"]["skillId"], "echo");
        assert!(m.get("kind").is_none());
        let m = build_message(
            Dialect::V03,
            &CallArgs {
                message: "x".into(),
                context_id: None,
                task_id: None,
            },
            None,
        );
        assert_eq!(m["kind"], "message");
        assert_eq!(m["role"], "user");
        assert_eq!(m["parts"], json!([{"kind": "text", "text": "x"}]));
        assert!(m.get("contextId").is_none() && m.get("metadata").is_none());
    }

    #[test]
    fn method_names_per_dialect_and_streaming() {
        let v1 = card(Dialect::V1, Some("ten"));
        let r = send_request(&v1, json!({}), true);
        assert_eq!(r["method"], "SendStreamingMessage");
        assert_eq!(r["params"]["tenant"], "ten");
        assert_eq!(send_request(&v1, json!({}), false)["method"], "SendMessage");
        let v03 = card(Dialect::V03, None);
        let r = send_request(&v03, json!({}), false);
        assert_eq!(r["method"], "message/send");
        assert_eq!(r["params"]["configuration"]["blocking"], true);
        assert_eq!(
            send_request(&v03, json!({}), true)["method"],
            "message/stream"
        );
        assert_eq!(cancel_request(&v03, "t1")["method"], "tasks/cancel");
        let c = cancel_request(&v1, "t1");
        assert_eq!(c["method"], "CancelTask");
        assert_eq!(c["params"], json!({"id": "t1", "tenant": "ten"}));
    }

    #[test]
    fn rpc_results_and_errors() {
        let ok = reqwest::StatusCode::OK;
        assert_eq!(
            rpc_result(ok, br#"{"jsonrpc":"2.0","id":1,"result":{"task":{}}}"#).unwrap(),
            json!({"task": {}})
        );
        let e = rpc_result(
            ok,
            br#"{"error":{"code":-32001,"message":"Task nope not found","data":[{"@type":"x","reason":"TASK_NOT_FOUND"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the agent answered with JSON-RPC error -32001 (TASK_NOT_FOUND): Task nope not found"
        );
        assert!(e.hint().unwrap().contains("without taskId"));
        let e = rpc_result(reqwest::StatusCode::BAD_GATEWAY, b"upstream down").unwrap_err();
        assert_eq!(e.to_string(), "the agent answered HTTP 502: upstream down");
        let e = rpc_result(
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"error":{"code":-32600,"message":"bad"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, CallFailure::Rpc { code: -32600, .. }), "{e:?}");
        assert!(matches!(
            rpc_result(ok, b"<html>"),
            Err(CallFailure::Protocol(_))
        ));
        assert!(matches!(
            rpc_result(ok, b"{}"),
            Err(CallFailure::Protocol(_))
        ));
        let long = "x".repeat(5000);
        let e =
            rpc_result(reqwest::StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes()).unwrap_err();
        assert!(e.to_string().len() < 600);
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(
            CallFailure::Timeout(Duration::from_secs(300)).to_string(),
            "the agent did not answer within 300 s"
        );
        assert_eq!(
            CallFailure::Timeout(Duration::from_millis(1500)).to_string(),
            "the agent did not answer within 1500 ms"
        );
        assert_eq!(
            CallFailure::Transport("refused".into()).to_string(),
            "cannot reach the agent: refused"
        );
    }
}
