//! The texts of LLM API bodies, which guards read and may rewrite.
//!
//! Requests (OpenAI chat completions, Responses, embeddings, legacy completions; Anthropic
//! Messages and count_tokens): the string values of the top-level `messages`, `system`,
//! `prompt`, `input` and `instructions`: a message's `content` (a string, or the `text` of
//! its parts, tool results' `content` included), a system prompt as a string or text
//! blocks, prompt and input strings. Tool call arguments, images and everything else are
//! not read. Only the top-level members that changed are written again, so a body in which
//! nothing changed is sent byte for byte, and in a changed one every other member is too.
//!
//! Complete responses in the client's format: OpenAI `choices[].message.content` (and
//! `choices[].text`), Anthropic `content[].text`, Responses `output[].content[].text`.

use std::fmt;

use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The request members whose texts are read.
const REQUEST_KEYS: &[&str] = &["messages", "system", "prompt", "input", "instructions"];

/// A body that is not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("the body is not a JSON object: {0}")]
pub struct BodyError(#[from] serde_json::Error);

/// The top-level members of a JSON object, in order, values undecoded.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((k, v));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Calls `f` on each text of the request `body`, in order; `f` may change it. Returns the new
/// body when some text changed (`None`: send `body` as it is).
pub fn map_request(
    body: &[u8],
    f: &mut dyn FnMut(&mut String),
) -> Result<Option<Bytes>, BodyError> {
    let members: Members = serde_json::from_slice(body)?;
    let mut rewritten: Vec<Option<String>> = Vec::with_capacity(members.0.len());
    for (key, raw) in &members.0 {
        if !REQUEST_KEYS.contains(&key.as_str()) {
            rewritten.push(None);
            continue;
        }
        let mut v: Value = serde_json::from_str(raw.get())?;
        let mut changed = false;
        let mut g = |s: &mut String| {
            let old = s.clone();
            f(s);
            changed |= *s != old;
        };
        match key.as_str() {
            "messages" | "input" => visit_messages(&mut v, &mut g),
            _ => visit_content(&mut v, &mut g),
        }
        rewritten.push(changed.then(|| v.to_string()));
    }
    if rewritten.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    for (i, ((key, raw), new)) in members.0.iter().zip(&rewritten).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(Value::from(key.as_str()).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(new.as_deref().unwrap_or(raw.get()).as_bytes());
    }
    out.push(b'}');
    Ok(Some(Bytes::from(out)))
}

/// The texts of a request body, in the order [`map_request`] visits them.
pub fn request_texts(body: &[u8]) -> Result<Vec<String>, BodyError> {
    let mut texts = Vec::new();
    map_request(body, &mut |s| texts.push(s.clone()))?;
    Ok(texts)
}

/// `messages` (or `input`): a string, or a list of strings and messages.
fn visit_messages(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => f(s),
                    Value::Object(m) => {
                        if let Some(c) = m.get_mut("content") {
                            visit_content(c, f);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// A content value: a string, or parts whose `text` (and a tool result's `content`) are read.
fn visit_content(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(parts) => {
            for part in parts {
                match part {
                    Value::String(s) => f(s),
                    Value::Object(m) => {
                        if let Some(Value::String(s)) = m.get_mut("text") {
                            f(s);
                        }
                        if let Some(c) = m.get_mut("content") {
                            visit_content(c, f);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Calls `f` on each text of a complete response `body` in a client's format; the new body
/// when some text changed.
pub fn map_response(
    body: &[u8],
    f: &mut dyn FnMut(&mut String),
) -> Result<Option<Bytes>, BodyError> {
    let mut v: Value = serde_json::from_slice(body)?;
    let mut changed = false;
    let mut g = |s: &mut String| {
        let old = s.clone();
        f(s);
        changed |= *s != old;
    };
    if let Some(Value::Array(choices)) = v.get_mut("choices") {
        for c in choices {
            if let Some(m) = c.get_mut("message") {
                if let Some(content) = m.get_mut("content") {
                    visit_content(content, &mut g);
                }
            }
            if let Some(Value::String(s)) = c.get_mut("text") {
                g(s);
            }
        }
    }
    if let Some(content) = v.get_mut("content") {
        visit_content(content, &mut g);
    }
    if let Some(Value::Array(output)) = v.get_mut("output") {
        for item in output {
            if let Some(content) = item.get_mut("content") {
                visit_content(content, &mut g);
            }
        }
    }
    Ok(changed.then(|| Bytes::from(v.to_string())))
}
