//! The LLM test stack: [`FakeLlm`], a loopback provider speaking the OpenAI chat completions and
//! Anthropic Messages wire formats with scripted faults; [`LlamaServer`], a real model
//! (SmolLM2-135M-Instruct on `llama-cpp-python`'s OpenAI-compatible server); and
//! [`run_sdk_client`], the official Python `openai` and `anthropic` SDKs run against a base URL
//! (`tests/python/llm_client.py`), whose parsers are the judges of every stream.
//!
//! [`FakeLlm`] serves, on one port:
//! - `POST /v1/chat/completions` (OpenAI; JSON, or SSE when `"stream": true`);
//! - `POST /v1/messages` (Anthropic; JSON, or the named SSE events when `"stream": true`);
//! - `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`
//!   (Gemini), `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:...`
//!   (Vertex AI, the same body);
//! - `POST /model/{id}/converse` and `/converse-stream` (Bedrock; the stream in binary
//!   event-stream frames);
//! - `POST /v1/messages/count_tokens`, `GET /v1/models`;
//! - `GET /metrics`: the text set with [`FakeLlm::set_metrics`] (e.g. [`llamacpp_metrics`],
//!   the model-server gauges an endpoint picker reads), 404 until set.
//!
//! Each request takes the next [`Step`] of its script ([`FakeLlm::script`]), else the default
//! step ([`FakeLlm::set_default`], [`Step::Answer`] at first), and answers the [`Reply`] set with
//! [`FakeLlm::set_reply`]. Every request is recorded ([`FakeLlm::requests`]).

mod anthropic;
pub mod bedrock;
pub mod gemini;
mod llama;
mod sdk;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use llama::{require_llama, smollm2_gguf, LlamaServer, LLAMA_READY_TIMEOUT};
pub use sdk::{run_sdk_client, Sdk, SdkRun, SdkRunOptions};

pub mod openai;

/// One tool call of a [`Reply`].
#[derive(Clone, Debug)]
pub struct ToolCall {
    /// `call_...` (OpenAI) or `toolu_...` (Anthropic); the same id is sent in both formats.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments (an object).
    pub arguments: Value,
}

impl ToolCall {
    /// The arguments' JSON text in about three pieces, as providers stream them (split on
    /// character boundaries; the pieces concatenate to `arguments.to_string()`).
    pub fn argument_pieces(&self) -> Vec<String> {
        let s = self.arguments.to_string();
        let chars: Vec<char> = s.chars().collect();
        let size = chars.len().div_ceil(3).max(1);
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }
}

/// What a successful answer says.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The assistant text ("" for none); streamed as word tokens (each keeps its leading space).
    pub text: String,
    /// A tool call after the text.
    pub tool_call: Option<ToolCall>,
    /// Usage: input tokens.
    pub input_tokens: u64,
    /// Usage: output tokens.
    pub output_tokens: u64,
    /// Usage: cached input tokens (OpenAI `prompt_tokens_details.cached_tokens`, Anthropic
    /// `cache_read_input_tokens`).
    pub cached_tokens: u64,
    /// Anthropic only: `message_delta` repeats the input and cache usage (the API does since
    /// 2025; older streams had only `output_tokens` there).
    pub full_delta_usage: bool,
    /// Pause before each token frame of a stream.
    pub token_delay: Duration,
    /// Stream the text in pieces of this many characters instead of words (0: words), so
    /// that a word (an e-mail address) is split across events.
    pub token_chars: usize,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            text: "Hello from the fake provider.".to_string(),
            tool_call: None,
            input_tokens: 11,
            output_tokens: 7,
            cached_tokens: 0,
            full_delta_usage: false,
            token_delay: Duration::ZERO,
            token_chars: 0,
        }
    }
}

impl Reply {
    /// A reply with a tool call `name(arguments)` after `text`.
    pub fn with_tool(text: &str, name: &str, arguments: Value) -> Reply {
        Reply {
            text: text.to_string(),
            tool_call: Some(ToolCall {
                id: "call_fake_1".to_string(),
                name: name.to_string(),
                arguments,
            }),
            ..Reply::default()
        }
    }

    /// The text split into tokens: words, each with the spaces before it.
    pub fn text_tokens(&self) -> Vec<String> {
        if self.token_chars > 0 {
            let chars: Vec<char> = self.text.chars().collect();
            return chars
                .chunks(self.token_chars)
                .map(|c| c.iter().collect())
                .collect();
        }
        let mut tokens = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        for ch in self.text.chars() {
            if ch.is_whitespace() && in_word {
                tokens.push(std::mem::take(&mut cur));
                in_word = false;
            } else if !ch.is_whitespace() {
                in_word = true;
            }
            cur.push(ch);
        }
        if !cur.is_empty() {
            tokens.push(cur);
        }
        tokens
    }
}

/// What one request gets.
#[derive(Clone, Debug)]
pub enum Step {
    /// The [`Reply`], in the request's format (streamed when it asked to).
    Answer,
    /// `429` with the format's rate-limit error; `Retry-After: VALUE` when given.
    RateLimited {
        /// The `Retry-After` header value (seconds or an HTTP date), or none.
        retry_after: Option<String>,
    },
    /// `503` with the format's error object.
    Unavailable,
    /// Any status with the format's error object.
    Status(u16),
    /// Waits this long before the response headers, then answers.
    DelayHeaders(Duration),
    /// Streams `N` token frames, then drops the connection (no `[DONE]`, no `message_stop`).
    /// Non-streamed: half the JSON body, then the connection drops.
    CutAfter(usize),
    /// Streams `N` token frames, then sends nothing more until the client goes away.
    /// Non-streamed: the headers, then nothing.
    StallAfter(usize),
    /// Streams `N` token frames, then a frame whose JSON is cut, then the rest of the stream.
    /// Non-streamed: a `200` whose JSON body lacks its last byte.
    MalformedAfter(usize),
    /// Streams `N` token frames, then the format's mid-stream error (an `error` event, or an
    /// OpenAI error object in a `data:` line) and ends. Non-streamed: `500`.
    ErrorAfter(usize),
}

/// The wire format of a request, from its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `/v1/chat/completions`.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
    /// `.../models/{model}:generateContent` (`:streamGenerateContent`): Gemini or Vertex AI.
    Gemini,
    /// `/model/{id}/converse` (`/converse-stream`).
    Bedrock,
}

/// One request as the fake provider saw it.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The raw body.
    pub body: Bytes,
}

impl LlmRequest {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<bin>").to_string())
            .unwrap_or_default()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

/// A frame of a stream: bytes to write, and whether it counts as a token for the faults.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The SSE text of the frame ("" for a binary one).
    pub text: String,
    /// A binary frame (Bedrock's event stream), sent instead of `text`.
    pub binary: Option<Bytes>,
    /// A content delta (text or tool arguments).
    pub token: bool,
}

impl Frame {
    fn token(text: String) -> Frame {
        Frame {
            text,
            binary: None,
            token: true,
        }
    }

    fn other(text: String) -> Frame {
        Frame {
            text,
            binary: None,
            token: false,
        }
    }

    fn binary(bytes: Bytes, token: bool) -> Frame {
        Frame {
            text: String::new(),
            binary: Some(bytes),
            token,
        }
    }

    fn into_bytes(self) -> Bytes {
        self.binary.unwrap_or_else(|| Bytes::from(self.text))
    }
}

struct LlmState {
    name: String,
    script: Mutex<VecDeque<Step>>,
    default: Mutex<Step>,
    reply: Mutex<Reply>,
    models: Mutex<Vec<String>>,
    recorded: Mutex<Vec<LlmRequest>>,
    metrics: Mutex<Option<String>>,
    served: AtomicUsize,
}

/// The fake LLM provider on `127.0.0.1:0`; stopped on drop.
pub struct FakeLlm {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<LlmState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts a provider named `name` (its model list is `["NAME-model"]`, its ids
    /// `chatcmpl-NAME-K` / `msg_NAME_K`).
    pub async fn start(name: &str) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM provider");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(LlmState {
            name: name.to_string(),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Step::Answer),
            reply: Mutex::new(Reply::default()),
            models: Mutex::new(vec![format!("{name}-model")]),
            recorded: Mutex::new(Vec::new()),
            metrics: Mutex::new(None),
            served: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { addr, state, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` (the Anthropic SDK's `base_url`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1` (the OpenAI SDK's `base_url`).
    pub fn v1(&self) -> String {
        format!("{}/v1", self.base())
    }

    /// Queues steps: the next requests take them in order, then the default step.
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) {
        lock(&self.state.script).extend(steps);
    }

    /// The step of every request past the script.
    pub fn set_default(&self, step: Step) {
        *lock(&self.state.default) = step;
    }

    /// What [`Step::Answer`] answers.
    pub fn set_reply(&self, reply: Reply) {
        *lock(&self.state.reply) = reply;
    }

    /// The model ids `GET /v1/models` lists.
    pub fn set_models(&self, ids: &[&str]) {
        *lock(&self.state.models) = ids.iter().map(|s| s.to_string()).collect();
    }

    /// What `GET /metrics` answers (Prometheus text); `None`: 404.
    pub fn set_metrics(&self, text: Option<String>) {
        *lock(&self.state.metrics) = text;
    }

    /// The requests received so far (every path), in arrival order.
    pub fn requests(&self) -> Vec<LlmRequest> {
        lock(&self.state.recorded).clone()
    }

    /// The generation requests (every API's) so far.
    pub fn generations(&self) -> Vec<LlmRequest> {
        self.requests()
            .into_iter()
            .filter(|r| format_of(r.path()).is_some())
            .collect()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The load gauges of llama.cpp's own server (`llama-server --metrics`), in its names and
/// format: requests processing and deferred, and the KV-cache usage ratio (1 is full).
/// llama-cpp-python's server has no `/metrics`; the fake provider stands in for it.
pub fn llamacpp_metrics(processing: u32, deferred: u32, kv_cache_usage_ratio: f64) -> String {
    format!(
        "# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.\n\
         # TYPE llamacpp:kv_cache_usage_ratio gauge\n\
         llamacpp:kv_cache_usage_ratio {kv_cache_usage_ratio}\n\
         # HELP llamacpp:requests_processing Number of requests processing.\n\
         # TYPE llamacpp:requests_processing gauge\n\
         llamacpp:requests_processing {processing}\n\
         # HELP llamacpp:requests_deferred Number of requests deferred.\n\
         # TYPE llamacpp:requests_deferred gauge\n\
         llamacpp:requests_deferred {deferred}\n"
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn format_of(path: &str) -> Option<Format> {
    match path {
        "/v1/chat/completions" | "/chat/completions" => Some(Format::OpenAi),
        "/v1/messages" => Some(Format::Anthropic),
        // Claude on Vertex AI: the Messages body under a project's path.
        p if p.contains("/publishers/anthropic/models/")
            && (p.ends_with(":rawPredict") || p.ends_with(":streamRawPredict")) =>
        {
            Some(Format::Anthropic)
        }
        p if p.contains("/models/")
            && (p.ends_with(":generateContent") || p.ends_with(":streamGenerateContent")) =>
        {
            Some(Format::Gemini)
        }
        p if p.starts_with("/model/")
            && (p.ends_with("/converse") || p.ends_with("/converse-stream")) =>
        {
            Some(Format::Bedrock)
        }
        _ => None,
    }
}

/// The model and whether it streams, from a Gemini or Bedrock path (as sent: percent-encoded).
fn model_in_path(format: Format, path: &str) -> (String, bool) {
    let (model, stream) = match format {
        Format::Gemini => {
            let name = path.rsplit("/models/").next().unwrap_or("");
            match name.split_once(':') {
                Some((m, method)) => (m, method == "streamGenerateContent"),
                None => (name, false),
            }
        }
        _ => {
            let rest = path.strip_prefix("/model/").unwrap_or(path);
            match rest.rsplit_once('/') {
                Some((m, op)) => (m, op == "converse-stream"),
                None => (rest, false),
            }
        }
    };
    (model.to_string(), stream)
}

fn json_response(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .expect("a valid response")
}

fn error_response(format: Format, status: u16, message: &str) -> Response {
    let body = match format {
        Format::OpenAi => openai::error(status, message),
        Format::Anthropic => anthropic::error(status, message),
        Format::Gemini => gemini::error(status, message),
        Format::Bedrock => {
            let (body, kind) = bedrock::error(status, message);
            let mut r = json_response(status, &body);
            r.headers_mut()
                .insert("x-amzn-errortype", http::HeaderValue::from_static(kind));
            return r;
        }
    };
    json_response(status, &body)
}

async fn handle(State(st): State<Arc<LlmState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = parts.uri.path().to_string();
    lock(&st.recorded).push(LlmRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        json: json.clone(),
        body,
    });
    if parts.method == http::Method::GET && (path == "/v1/models" || path == "/models") {
        return json_response(200, &openai::models(&lock(&st.models)));
    }
    if parts.method == http::Method::GET && path == "/metrics" {
        return match lock(&st.metrics).clone() {
            Some(text) => Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(Body::from(text))
                .expect("a valid response"),
            None => json_response(404, &openai::error(404, "no metrics")),
        };
    }
    if path == "/v1/messages/count_tokens" {
        return json_response(200, &anthropic::count_tokens(&lock(&st.reply)));
    }
    let Some(format) = format_of(&path) else {
        return json_response(404, &openai::error(404, &format!("no route {path}")));
    };
    if !json.is_object() {
        return error_response(format, 400, "the body is not a JSON object");
    }
    let step = lock(&st.script)
        .pop_front()
        .unwrap_or_else(|| lock(&st.default).clone());
    let reply = lock(&st.reply).clone();
    let n = st.served.fetch_add(1, Ordering::SeqCst) + 1;
    let (model, stream) = match format {
        Format::Gemini | Format::Bedrock => model_in_path(format, &path),
        _ => (
            json["model"].as_str().unwrap_or("fake-model").to_string(),
            json["stream"] == Value::Bool(true),
        ),
    };
    let include_usage = json["stream_options"]["include_usage"] == Value::Bool(true);
    let id = match format {
        Format::OpenAi => format!("chatcmpl-{}-{n}", st.name),
        Format::Anthropic => format!("msg_{}_{n}", st.name),
        Format::Gemini | Format::Bedrock => format!("{}-{n}", st.name),
    };
    let at = match step {
        Step::Answer => None,
        Step::RateLimited { retry_after } => {
            let mut r = error_response(format, 429, "rate limited by the fake provider");
            if let Some(v) = retry_after.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        Step::Unavailable => {
            return error_response(format, 503, "the fake provider is unavailable");
        }
        Step::Status(s) => return error_response(format, s, "scripted failure"),
        Step::DelayHeaders(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Step::CutAfter(k) => Some((Fault::Cut, k)),
        Step::StallAfter(k) => Some((Fault::Stall, k)),
        Step::MalformedAfter(k) => Some((Fault::Malformed, k)),
        Step::ErrorAfter(k) => Some((Fault::Error, k)),
    };
    if !stream {
        let v = match format {
            Format::OpenAi => openai::completion(&reply, &id, &model),
            Format::Anthropic => anthropic::message(&reply, &id, &model),
            Format::Gemini => gemini::response(&reply, &id, &model),
            Format::Bedrock => bedrock::response(&reply),
        };
        return whole(format, v, at.map(|(f, _)| f));
    }
    let frames = match format {
        Format::OpenAi => openai::stream(&reply, &id, &model, include_usage),
        Format::Anthropic => anthropic::stream(&reply, &id, &model),
        Format::Gemini => gemini::stream(&reply, &id, &model),
        Format::Bedrock => bedrock::stream(&reply),
    };
    streamed(format, frames, reply.token_delay, at)
}

/// A fault in the middle of a response.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Cut,
    Stall,
    Malformed,
    Error,
}

/// A non-streamed answer, with `fault` applied.
fn whole(format: Format, v: Value, fault: Option<Fault>) -> Response {
    let text = v.to_string();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = match fault {
        None => return json_response(200, &v),
        Some(Fault::Error) => return error_response(format, 500, "scripted failure"),
        Some(Fault::Malformed) => Body::from(text[..text.len() - 1].to_string()),
        Some(Fault::Cut) => {
            let half = text.len() / 2;
            let head = Bytes::copy_from_slice(&text.as_bytes()[..half]);
            tokio::spawn(async move {
                let _ = tx.send(Ok(head)).await;
                cut(tx).await;
            });
            channel_body(rx)
        }
        Some(Fault::Stall) => {
            tokio::spawn(async move { tx.closed().await });
            channel_body(rx)
        }
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .expect("a valid response")
}

/// Ends the body with an error, which makes the server drop the connection without the
/// chunked terminator; first lets what was sent reach the socket (the server discards its
/// unwritten buffer when the body fails).
async fn cut(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "the fake provider cut the stream",
    );
    let _ = tx.send(Err(e)).await;
}

fn channel_body(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// The index of the frame before which a fault "after `k` tokens" fires: the `k+1`-th token
/// frame, or the frame after the last token frame when there are `k` or fewer (so the fault
/// still comes before the end of the message).
fn fault_index(frames: &[Frame], k: usize) -> usize {
    let tokens: Vec<usize> = (0..frames.len()).filter(|i| frames[*i].token).collect();
    match tokens.get(k) {
        Some(i) => *i,
        None => tokens
            .last()
            .map_or(1, |last| last + 1)
            .min(frames.len().saturating_sub(1)),
    }
}

/// A streamed answer: `frames` written one by one (with `delay` before each token frame), with
/// the fault `at` applied after that many token frames.
fn streamed(
    format: Format,
    frames: Vec<Frame>,
    delay: Duration,
    at: Option<(Fault, usize)>,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let fire_at = at.map(|(fault, k)| (fault, fault_index(&frames, k)));
    tokio::spawn(async move {
        for (i, f) in frames.into_iter().enumerate() {
            if let Some((fault, _)) = fire_at.filter(|(_, at)| *at == i) {
                match fault {
                    Fault::Cut => {
                        cut(tx).await;
                        return;
                    }
                    Fault::Stall => {
                        tx.closed().await;
                        return;
                    }
                    Fault::Error => {
                        let e = match format {
                            Format::OpenAi => Bytes::from(openai::stream_error("scripted failure")),
                            Format::Anthropic => Bytes::from(anthropic::stream_error("Overloaded")),
                            Format::Gemini => Bytes::from(gemini::stream_error("scripted failure")),
                            Format::Bedrock => {
                                bedrock::exception("modelStreamErrorException", "scripted failure")
                            }
                        };
                        let _ = tx.send(Ok(e)).await;
                        return;
                    }
                    Fault::Malformed => {
                        let m = match format {
                            Format::OpenAi | Format::Gemini => openai::malformed(),
                            Format::Anthropic => anthropic::malformed(),
                            // A frame whose CRC does not match its bytes.
                            Format::Bedrock => {
                                let mut f =
                                    bedrock::event("contentBlockDelta", &Value::Null).to_vec();
                                if let Some(last) = f.last_mut() {
                                    *last ^= 0xff;
                                }
                                return drop(tx.send(Ok(Bytes::from(f))).await);
                            }
                        };
                        if tx.send(Ok(Bytes::from(m))).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if f.token && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(f.into_bytes())).await.is_err() {
                return;
            }
        }
    });
    let content_type = match format {
        Format::Bedrock => "application/vnd.amazon.eventstream",
        _ => "text/event-stream",
    };
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(channel_body(rx))
        .expect("a valid response")
}

#[cfg(test)]
mod tests;
