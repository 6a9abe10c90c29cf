//! Same-format requests: the client's body goes to the provider byte for byte, except the
//! `model` value (the provider's model name) and, for streamed OpenAI chat, `stream_options`
//! asking for usage. Only the top-level object is split (into raw, undecoded values), so
//! unknown fields, key order, number formatting and whitespace inside values all survive.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::LlmError;

/// The top-level fields of a JSON object, in order, values undecoded.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push((k, v));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// What the gateway needs to know of a request before choosing a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// The `model` the client asked for, if any.
    pub model: Option<String>,
    /// Whether the client asked for a stream (`"stream": true`).
    pub stream: bool,
    /// Whether the client asked for usage in the stream itself
    /// (`stream_options.include_usage: true`, OpenAI chat only). When it did not, the usage
    /// chunk the gateway asks for on its behalf is not forwarded to it.
    pub client_wants_usage: bool,
}

/// Reads [`RequestInfo`] from a request body of any of the JSON APIs.
pub fn inspect_request(body: &[u8]) -> Result<RequestInfo, LlmError> {
    #[derive(Deserialize)]
    struct Head {
        model: Option<String>,
        stream: Option<bool>,
        stream_options: Option<StreamOptions>,
    }
    #[derive(Deserialize)]
    struct StreamOptions {
        include_usage: Option<bool>,
    }
    let head: Head = serde_json::from_slice(body)
        .map_err(|e| LlmError::InvalidRequest(format!("not a JSON object of the API: {e}")))?;
    Ok(RequestInfo {
        model: head.model,
        stream: head.stream.unwrap_or(false),
        client_wants_usage: head
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// The body with `model` set to `model` (added if absent; left as is when `model` is
/// `None`) and, when `usage_if_streamed` and the body asks for a stream,
/// `stream_options.include_usage: true` (other `stream_options` fields kept). Everything
/// else is copied byte for byte. Also returns what [`inspect_request`] reads (the client's
/// model, before the rewrite), from the same single parse.
pub fn rewrite_body(
    body: &[u8],
    model: Option<&str>,
    usage_if_streamed: bool,
) -> Result<(Vec<u8>, RequestInfo), LlmError> {
    let fields: Fields = serde_json::from_slice(body)
        .map_err(|e| LlmError::InvalidRequest(format!("not a JSON object: {e}")))?;
    let mut info = RequestInfo::default();
    for (key, raw) in &fields.0 {
        match key.as_str() {
            "model" => info.model = serde_json::from_str(raw.get()).ok(),
            "stream" => info.stream = serde_json::from_str(raw.get()).unwrap_or(false),
            "stream_options" => {
                info.client_wants_usage = serde_json::from_str::<Value>(raw.get())
                    .ok()
                    .and_then(|o| o.get("include_usage").and_then(Value::as_bool))
                    .unwrap_or(false)
            }
            _ => {}
        }
    }
    let ask_usage = usage_if_streamed && info.stream;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let mut model_done = false;
    let mut usage_done = false;
    let mut first = true;
    let mut put_key = |out: &mut Vec<u8>, key: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        // A String always serializes.
        serde_json::to_writer(&mut *out, key).unwrap_or_default();
        out.push(b':');
    };
    for (key, raw) in &fields.0 {
        put_key(&mut out, key);
        match key.as_str() {
            "model" if model.is_some() => {
                serde_json::to_writer(&mut out, &model).unwrap_or_default();
                model_done = true;
            }
            "stream_options" if ask_usage => {
                let mut options: Map<String, Value> = serde_json::from_str(raw.get())
                    .map_err(|e| LlmError::InvalidRequest(format!("stream_options: {e}")))?;
                options.insert("include_usage".into(), Value::Bool(true));
                serde_json::to_writer(&mut out, &options).unwrap_or_default();
                usage_done = true;
            }
            _ => out.extend_from_slice(raw.get().as_bytes()),
        }
    }
    if let (Some(model), false) = (model, model_done) {
        put_key(&mut out, "model");
        serde_json::to_writer(&mut out, model).unwrap_or_default();
    }
    if ask_usage && !usage_done {
        put_key(&mut out, "stream_options");
        out.extend_from_slice(br#"{"include_usage":true}"#);
    }
    out.push(b'}');
    Ok((out, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_model_changes_and_the_rest_is_byte_identical() {
        let body = br#"{"model": "fast",  "messages":[{"role":"user","content":"hi","x_extra":1.50}],"zeta":{"b":1,"a":2},"alpha":null}"#;
        let (out, info) = rewrite_body(body, Some("gpt-4.1-mini"), true).unwrap();
        assert_eq!(
            info,
            RequestInfo {
                model: Some("fast".into()),
                stream: false,
                client_wants_usage: false
            }
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi","x_extra":1.50}],"zeta":{"b":1,"a":2},"alpha":null}"#
        );
    }

    #[test]
    fn stream_usage_is_asked_and_other_options_kept() {
        let (out, info) =
            rewrite_body(br#"{"stream":true,"messages":[]}"#, Some("m"), true).unwrap();
        assert!(info.stream && !info.client_wants_usage && info.model.is_none());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"stream":true,"messages":[],"model":"m","stream_options":{"include_usage":true}}"#
        );
        let out = rewrite_body(
            br#"{"model":"a","stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}"#,
            None,
            true,
        )
        .unwrap()
        .0;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "a");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["include_obfuscation"], false);
    }

    #[test]
    fn inspect_reads_model_stream_and_usage_wish() {
        let info = inspect_request(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#,
        )
        .unwrap();
        assert_eq!(
            info,
            RequestInfo {
                model: Some("m".into()),
                stream: true,
                client_wants_usage: true
            }
        );
        assert!(!inspect_request(br#"{"messages":[]}"#).unwrap().stream);
        assert!(inspect_request(b"[1]").is_err());
        assert!(inspect_request(b"{").is_err());
        assert!(rewrite_body(b"[]", Some("m"), false).is_err());
        assert!(rewrite_body(b"{\"a\":1", Some("m"), false).is_err());
    }
}

/// The body without `model` and with `anthropic_version: version` unless it has one (see
/// [`crate::vertex_anthropic_body`]); the other fields byte for byte.
pub(crate) fn vertex_anthropic_body(body: &[u8], version: &str) -> Result<bytes::Bytes, LlmError> {
    let fields: Fields = serde_json::from_slice(body)
        .map_err(|e| LlmError::InvalidRequest(format!("not a JSON object: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + 48);
    out.push(b'{');
    let mut first = true;
    let mut has_version = false;
    for (key, raw) in &fields.0 {
        match key.as_str() {
            "model" => continue,
            "anthropic_version" => has_version = true,
            _ => {}
        }
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).unwrap_or_default();
        out.push(b':');
        out.extend_from_slice(raw.get().as_bytes());
    }
    if !has_version {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"anthropic_version\":");
        serde_json::to_writer(&mut out, version).unwrap_or_default();
    }
    out.push(b'}');
    Ok(bytes::Bytes::from(out))
}

#[cfg(test)]
mod vertex_tests {
    use super::*;

    #[test]
    fn vertex_anthropic_body_moves_the_model_out_and_adds_the_version() {
        let body =
            br#"{"model":"claude-x","max_tokens":5, "messages":[{"role":"user","content":"hi"}]}"#;
        let out = vertex_anthropic_body(body, "vertex-2023-10-16").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"anthropic_version":"vertex-2023-10-16"}"#
        );
        let kept = br#"{"anthropic_version":"vertex-2099","messages":[]}"#;
        let out = vertex_anthropic_body(kept, "vertex-2023-10-16").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"anthropic_version":"vertex-2099","messages":[]}"#
        );
        assert!(vertex_anthropic_body(b"[1]", "v").is_err());
        assert_eq!(
            crate::vertex_anthropic_path("p-1", "us-east5", "claude-sonnet-4-5@20250929", true),
            "/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
        );
    }
}
