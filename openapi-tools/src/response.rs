//! HTTP response → MCP tool result.
//!
//! JSON becomes `structuredContent` (objects as is, anything else wrapped as `{"data": …}` because
//! legacy MCP peers only accept objects) plus a text copy; `text/*` becomes text; `image/*`
//! becomes image content; other bytes an embedded blob resource. 4xx/5xx become `isError: true`
//! results carrying the status and the first KiB of the body, so the model can correct itself.
//!
//! A tool with an `outputSchema` must answer with `structuredContent` (MCP: a server that
//! declares one MUST return conforming structured results, and clients such as the Python SDK
//! reject a success without it). So for such a tool a 2xx reply that is not a JSON object
//! (XML, plain text, an empty body, a JSON array, a body cut at the size cap) is an
//! `isError: true` result naming what came back, with the start of the body, rather than a
//! success the client would refuse. A body that parses as a JSON object is accepted whatever
//! its `Content-Type` says.

use base64::Engine;
use futures_util::StreamExt;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{json, Value};

/// How much of an error body the model gets to see.
const ERROR_BODY_BYTES: usize = 1024;

/// A tool error result with one text block.
pub fn tool_error(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// Reads up to `cap` bytes of the body; the flag says whether more was cut off.
async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = cap.saturating_sub(out.len());
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

/// Whether a media type (lower-case, parameters removed) is JSON: `application/json`,
/// `*/*+json` (`application/problem+json`, `application/vnd.github+json`) or `*/json`.
pub fn is_json_media(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/json")
}

/// Maps a response to a tool result; `uri` names the request for embedded resources.
/// `structured`: the tool has an `outputSchema`, so a success must carry `structuredContent`.
pub async fn map(
    resp: reqwest::Response,
    cap: usize,
    uri: &str,
    structured: bool,
) -> CallToolResult {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (body, truncated) = match read_capped(resp, cap).await {
        Ok(x) => x,
        Err(e) => {
            return tool_error(format!(
                "HTTP {status}: reading the response body failed: {e}"
            ))
        }
    };
    if status.is_client_error() || status.is_server_error() {
        let shown = &body[..body.len().min(ERROR_BODY_BYTES)];
        let mut text = format!("HTTP {status}");
        if let Some(r) = retry_after {
            text.push_str(&format!(" (Retry-After: {r})"));
        }
        if !shown.is_empty() {
            text.push_str(&format!(": {}", String::from_utf8_lossy(shown)));
        }
        if body.len() > ERROR_BODY_BYTES || truncated {
            text.push_str(" […]");
        }
        return tool_error(text);
    }
    let note = |mut s: String| {
        if truncated {
            s.push_str(&format!("\n[response truncated at {cap} bytes]"));
        }
        s
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if structured {
        return structured_result(status, &essence, &body, truncated, cap);
    }
    if body.is_empty() {
        return CallToolResult::success(vec![ContentBlock::text(format!(
            "HTTP {status} (empty body)"
        ))]);
    }
    let is_json = is_json_media(&essence) || essence.is_empty();
    if is_json && !truncated {
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            let structured = if v.is_object() {
                v.clone()
            } else {
                json!({ "data": v })
            };
            let mut r = CallToolResult::success(vec![ContentBlock::text(v.to_string())]);
            r.structured_content = Some(structured);
            return r;
        }
    }
    if essence.starts_with("image/") && !truncated {
        let data = base64::engine::general_purpose::STANDARD.encode(&body);
        return CallToolResult::success(vec![ContentBlock::image(data, essence)]);
    }
    let textual = essence.starts_with("text/")
        || is_json
        || essence.ends_with("+xml")
        || essence == "application/xml"
        || essence == "application/javascript";
    if textual {
        if let Ok(text) = std::str::from_utf8(&body) {
            return CallToolResult::success(vec![ContentBlock::text(note(text.to_string()))]);
        }
    }
    let blob = base64::engine::general_purpose::STANDARD.encode(&body);
    let mime = if essence.is_empty() {
        "application/octet-stream".to_string()
    } else {
        essence
    };
    let mut blocks = vec![ContentBlock::resource(
        ResourceContents::blob(blob, uri).with_mime_type(mime),
    )];
    if truncated {
        blocks.push(ContentBlock::text(note(String::new())));
    }
    CallToolResult::success(blocks)
}

/// The result of a 2xx reply for a tool with an `outputSchema`: the JSON object as
/// `structuredContent` (and its text copy), or an error saying what came back instead.
fn structured_result(
    status: reqwest::StatusCode,
    essence: &str,
    body: &[u8],
    truncated: bool,
    cap: usize,
) -> CallToolResult {
    let media = if essence.is_empty() {
        "no Content-Type".to_string()
    } else {
        essence.to_string()
    };
    let problem = if body.is_empty() {
        format!("an empty body ({media})")
    } else if truncated {
        format!("a body ({media}) larger than the {cap}-byte response limit")
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.is_object() => {
                let mut r = CallToolResult::success(vec![ContentBlock::text(v.to_string())]);
                r.structured_content = Some(v);
                return r;
            }
            Ok(v) => format!("a JSON {} ({media})", json_kind(&v)),
            Err(_) if is_json_media(essence) || essence.is_empty() => {
                format!("a body that is not valid JSON ({media})")
            }
            Err(_) => media,
        }
    };
    let mut text = format!(
        "HTTP {status}: the API answered with {problem}, not the JSON object this tool's \
         output schema describes, so there is no structured result (the request itself \
         was carried out)"
    );
    let shown = &body[..body.len().min(ERROR_BODY_BYTES)];
    if !shown.is_empty() {
        text.push_str(&format!(": {}", String::from_utf8_lossy(shown)));
        if body.len() > ERROR_BODY_BYTES || truncated {
            text.push_str(" […]");
        }
    }
    tool_error(text)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}
