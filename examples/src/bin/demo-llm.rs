//! `demo-llm`: a tiny OpenAI-compatible "model" for the quickstart, so the `ai` route can be
//! tried with no API key and no model download. It is not a language model: it answers
//! `You said: <the last user message>`, word by word when streamed, with token counts that
//! are word counts.
//!
//! ```text
//! demo-llm [PORT]          # default 4030
//! ```
//!
//! Endpoints: `POST /v1/chat/completions` (JSON, or SSE `data:` chunks ending with
//! `data: [DONE]`, with a usage chunk when `stream_options.include_usage`), `GET /v1/models`.

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Context;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream;
use serde_json::{json, Value};

/// The model name it answers to (any name is accepted; this one is listed).
const MODEL: &str = "demo-echo";
/// Pause between streamed words, so a stream can be seen arriving.
const WORD_DELAY: Duration = Duration::from_millis(40);

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().context("usage: demo-llm [PORT]")?,
        None => 4030,
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    eprintln!("demo-llm: OpenAI-compatible echo model on http://127.0.0.1:{port}/v1");
    axum::serve(listener, app).await.context("serving")
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "demo"}]}))
}

/// The text of the last user message (string content or text parts).
fn last_user_text(req: &Value) -> String {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

async fn chat(Json(req): Json<Value>) -> Response {
    if !req["messages"].is_array() {
        let error =
            json!({"error": {"message": "messages is required", "type": "invalid_request_error"}});
        return (axum::http::StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let input = last_user_text(&req);
    let reply = format!("You said: {input}");
    let model = req["model"].as_str().unwrap_or(MODEL).to_string();
    let words: Vec<String> = reply.split_inclusive(' ').map(str::to_string).collect();
    let prompt_tokens = input.split_whitespace().count() as u64;
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": words.len(),
        "total_tokens": prompt_tokens + words.len() as u64,
    });
    if req["stream"] != Value::Bool(true) {
        return Json(json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let with_usage = req["stream_options"]["include_usage"] == Value::Bool(true);
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend(
        words
            .iter()
            .map(|w| chunk(json!({"content": w}), Value::Null)),
    );
    events.push(chunk(json!({}), json!("stop")));
    if with_usage {
        events.push(json!({
            "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [], "usage": usage,
        }));
    }
    let data: Vec<String> = events
        .iter()
        .map(Value::to_string)
        .chain(std::iter::once("[DONE]".to_string()))
        .collect();
    let stream = stream::unfold(data.into_iter(), |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(WORD_DELAY).await;
        Some((Ok::<_, Infallible>(Event::default().data(next)), rest))
    });
    Sse::new(stream).into_response()
}
