//! The OpenAI chat-completions wire format as `bench-llm` uses it: the requests the load
//! generator sends, the replies the loopback provider renders once at start, and the checks of
//! what comes back on each path (so a path answering errors quickly cannot look fast).
//!
//! The reply is fixed: `tokens` words (`tok0 tok1 ...`), as one JSON completion or as a stream
//! of one chunk per token between a role chunk and a finish chunk, plus a usage chunk when the
//! request asked for it (`stream_options.include_usage`), then `data: [DONE]`.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::a2a::sse::SseEvent;

/// The model name every path is asked for (LiteLLM maps it to `openai/bench-model`).
pub const MODEL: &str = "bench-model";
/// What the provider says the prompt cost.
const PROMPT_TOKENS: u64 = 9;
/// A fixed id and creation time: the reply is rendered once.
const ID: &str = "chatcmpl-bench";
const CREATED: u64 = 1_765_000_000;

/// The text of the `i`th token of the reply.
fn token(i: usize) -> String {
    format!("tok{i} ")
}

/// The whole reply text for `tokens` tokens.
pub fn reply_text(tokens: usize) -> String {
    (0..tokens).map(token).collect()
}

/// The request body: `stream` asks for a stream with usage.
pub fn request_body(stream: bool, tokens: usize) -> Bytes {
    let mut v = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": tokens,
    });
    if stream {
        v["stream"] = json!(true);
        v["stream_options"] = json!({"include_usage": true});
    }
    Bytes::from(v.to_string())
}

/// What the provider reads of a request: whether to stream, and whether to add usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub stream: bool,
    pub include_usage: bool,
}

/// Reads the two fields the provider answers by; an unparsable body is refused.
pub fn parse_request(body: &[u8]) -> Result<Asked> {
    let v: Value = serde_json::from_slice(body).context("request body is not JSON")?;
    if !v["messages"].is_array() {
        bail!("request has no `messages` array");
    }
    Ok(Asked {
        stream: v["stream"].as_bool().unwrap_or(false),
        include_usage: v["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
    })
}

fn usage(tokens: usize) -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": tokens,
        "total_tokens": PROMPT_TOKENS + tokens as u64,
    })
}

/// The non-streamed completion.
pub fn completion(tokens: usize) -> Bytes {
    Bytes::from(
        json!({
            "id": ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(tokens)},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage(tokens),
        })
        .to_string(),
    )
}

fn chunk(choices: Value, usage: Option<Value>) -> Bytes {
    let mut v = json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": choices,
    });
    if let Some(u) = usage {
        v["usage"] = u;
    }
    Bytes::from(format!("data: {v}\n\n"))
}

/// The streamed reply, one SSE event per element: the role chunk, one chunk per token, the
/// finish chunk, then (if `with_usage`) the usage chunk, then `[DONE]`.
pub fn stream_events(tokens: usize, with_usage: bool) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(tokens + 4);
    out.push(chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    ));
    for i in 0..tokens {
        out.push(chunk(
            json!([{"index": 0, "delta": {"content": token(i)}, "finish_reason": null}]),
            None,
        ));
    }
    out.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        None,
    ));
    if with_usage {
        out.push(chunk(json!([]), Some(usage(tokens))));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// The content of a non-streamed completion, checked to be one.
pub fn completion_content(body: &[u8]) -> Result<String> {
    let v: Value = serde_json::from_slice(body).context("the completion is not JSON")?;
    match v["choices"][0]["message"]["content"].as_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!(
            "no choices[0].message.content in {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
    }
}

/// A stream read so far: the content it carried, whether it ended properly.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// The content deltas joined.
    pub content: String,
    /// `completion_tokens` of the usage chunk, when one came.
    pub usage_tokens: Option<u64>,
    pub done: bool,
    pub chunks: usize,
}

impl StreamState {
    /// Takes one event; returns whether it carried content (the first such is the "first
    /// token"). Events after `[DONE]` and malformed chunks are errors.
    pub fn take(&mut self, ev: &SseEvent) -> Result<bool> {
        if self.done {
            bail!("an event after `data: [DONE]`: {:?}", ev.data);
        }
        if ev.data == "[DONE]" {
            self.done = true;
            return Ok(false);
        }
        let v: Value = serde_json::from_str(&ev.data)
            .with_context(|| format!("a stream chunk is not JSON: {:?}", ev.data))?;
        if v.get("error").is_some() {
            bail!("an error event in the stream: {}", ev.data);
        }
        self.chunks += 1;
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            self.usage_tokens = Some(n);
        }
        match v["choices"][0]["delta"]["content"].as_str() {
            Some(s) if !s.is_empty() => {
                self.content.push_str(s);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Checks a finished stream against the fixed reply of `tokens` tokens.
    pub fn check(&self, tokens: usize) -> Result<()> {
        if !self.done {
            bail!("the stream ended without `data: [DONE]`");
        }
        let want = reply_text(tokens);
        if self.content != want {
            bail!("the stream carried {:?}, expected {want:?}", self.content);
        }
        if self.usage_tokens != Some(tokens as u64) {
            bail!(
                "the stream's usage chunk said {:?} completion tokens, expected {tokens}",
                self.usage_tokens
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::a2a::sse::SseParser;

    #[test]
    fn the_rendered_stream_parses_back_to_the_reply() {
        let mut p = SseParser::new();
        let mut st = StreamState::default();
        let mut firsts = Vec::new();
        for ev in stream_events(5, true) {
            for e in p.push(&ev) {
                firsts.push(st.take(&e).unwrap());
            }
        }
        assert!(!p.has_partial());
        st.check(5).unwrap();
        assert_eq!(st.content, "tok0 tok1 tok2 tok3 tok4 ");
        // Role chunk, 5 tokens, finish, usage, [DONE]: content in the 5 token chunks only.
        assert_eq!(
            firsts,
            [false, true, true, true, true, true, false, false, false]
        );
        // Without the usage chunk the check says so.
        let mut st = StreamState::default();
        for ev in stream_events(2, false) {
            for e in p.push(&ev) {
                st.take(&e).unwrap();
            }
        }
        assert!(st.check(2).unwrap_err().to_string().contains("usage"));
    }

    #[test]
    fn completion_and_request_round_trip() {
        assert_eq!(
            completion_content(&completion(3)).unwrap(),
            "tok0 tok1 tok2 "
        );
        assert!(completion_content(b"{\"error\":{}}").is_err());
        let a = parse_request(&request_body(true, 3)).unwrap();
        assert_eq!(
            a,
            Asked {
                stream: true,
                include_usage: true
            }
        );
        let a = parse_request(&request_body(false, 3)).unwrap();
        assert!(!a.stream && !a.include_usage);
        assert!(parse_request(b"{}").is_err());
        assert!(parse_request(b"nope").is_err());
    }
}
