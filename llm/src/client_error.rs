//! Errors in the client's own API format: whole error responses, mid-stream error events,
//! and a provider's error body re-worded for a client of the other format.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use crate::{ClientApi, ProviderApi};

/// The content type of every error body.
pub const JSON: &str = "application/json";

/// What went wrong, in terms both formats have names for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 (and 422).
    InvalidRequest,
    /// 401.
    Authentication,
    /// 402.
    Billing,
    /// 403.
    Permission,
    /// 404.
    NotFound,
    /// 413.
    RequestTooLarge,
    /// 429.
    RateLimit,
    /// 504 (and 408).
    Timeout,
    /// 503 and Anthropic's 529.
    Overloaded,
    /// Any other 5xx.
    Server,
}

impl ErrorKind {
    /// The kind an HTTP status means; other 4xx read as an invalid request.
    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            401 => ErrorKind::Authentication,
            402 => ErrorKind::Billing,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimit,
            408 | 504 => ErrorKind::Timeout,
            503 | 529 => ErrorKind::Overloaded,
            s if s >= 500 => ErrorKind::Server,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// Anthropic's `error.type` (its documented names per status).
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Billing => "billing_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Server => "api_error",
        }
    }

    /// OpenAI's `error.type` and `error.code`. OpenAI's own names are loose (its SDKs pick
    /// the exception class by HTTP status alone); these follow the ones its API sends most.
    pub fn openai_type_code(self) -> (&'static str, Option<&'static str>) {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::RequestTooLarge => {
                ("invalid_request_error", None)
            }
            ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
            ErrorKind::Billing => ("insufficient_quota", Some("insufficient_quota")),
            ErrorKind::Permission => ("invalid_request_error", Some("permission_denied")),
            ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
            ErrorKind::Timeout => ("server_error", Some("timeout")),
            ErrorKind::Overloaded => ("server_error", Some("overloaded")),
            ErrorKind::Server => ("server_error", None),
        }
    }
}

fn error_json(api: ClientApi, kind: ErrorKind, message: &str) -> Value {
    if api.is_anthropic() {
        json!({"type": "error", "error": {"type": kind.anthropic_type(), "message": message}})
    } else {
        let (kind, code) = kind.openai_type_code();
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }
}

/// A whole error response for a client of `api`: status, content type, body.
/// OpenAI: `{"error":{"message","type","param","code"}}`; Anthropic:
/// `{"type":"error","error":{"type","message"}}`.
pub fn error_response(
    api: ClientApi,
    status: StatusCode,
    kind: ErrorKind,
    message: &str,
) -> (StatusCode, &'static str, Bytes) {
    let body = error_json(api, kind, message).to_string();
    (status, JSON, Bytes::from(body))
}

/// An error event that ends a stream already under way (the status line is long gone).
///
/// Anthropic: `event: error` with the error object; its SDKs raise an `APIStatusError` on it.
/// OpenAI: a `data:` line whose JSON has an `error` object, and no `[DONE]` after it (that
/// would claim a normal end). The Python `openai` SDK's stream reader raises `APIError` with
/// the message on any event whose data has a truthy `error` key; clients that do not look
/// see a chunk without `choices` and then the end of the stream.
pub fn error_event(api: ClientApi, kind: ErrorKind, message: &str) -> Bytes {
    let data = error_json(api, kind, message).to_string();
    Bytes::from(if api.is_anthropic() {
        format!("event: error\ndata: {data}\n\n")
    } else {
        format!("data: {data}\n\n")
    })
}

/// An error event for a Responses client whose stream the gateway writes: `event: error`
/// with the fields OpenAI's Responses stream reference gives it (`type: error`, `code`,
/// `message`, `param`, `sequence_number`), plus the `error` object, on which the `openai`
/// SDKs' stream readers raise `APIError` with the message.
pub(crate) fn responses_error_event(kind: ErrorKind, message: &str, seq: u64) -> Bytes {
    let (kind_name, code) = kind.openai_type_code();
    let data = json!({"type": "error", "code": code.unwrap_or(kind_name), "message": message,
        "param": null, "sequence_number": seq,
        "error": {"message": message, "type": kind_name, "param": null, "code": code}});
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

/// The message and kind of a provider's error body, of either format (also the shapes of
/// OpenAI-compatible servers: vLLM's top-level `message`, llama.cpp's `error.message`), or
/// the body's text when it is none of them.
pub fn read_error_body(status: StatusCode, body: &[u8]) -> (ErrorKind, String) {
    let by_status = ErrorKind::from_status(status);
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let text: String = text.chars().take(1000).collect();
        let message = if text.is_empty() {
            format!("provider answered {status}")
        } else {
            text
        };
        return (by_status, message);
    };
    let message = v
        .get("error")
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(Value::as_str)
        .or_else(|| v.get("message").and_then(Value::as_str))
        // Some AWS services (and Bedrock's runtime on some errors) write `Message`.
        .or_else(|| v.get("Message").and_then(Value::as_str))
        .or_else(|| v.get("detail").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| format!("provider answered {status}"));
    (by_status, message)
}

/// A provider's error response re-worded for a client of `client` (same status). A body
/// already in the client's family goes through unchanged.
pub fn translate_error_body(
    client: ClientApi,
    provider: ProviderApi,
    status: StatusCode,
    body: &[u8],
) -> (StatusCode, &'static str, Bytes) {
    // Gemini's `{"error":{"code","message","status"}}` looks like OpenAI's at a glance but
    // is not: only OpenAI and Anthropic providers have a family a client shares.
    let same_family = if client.is_anthropic() {
        provider.is_anthropic()
    } else {
        provider.is_openai()
    };
    if same_family && serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("error").is_some())
    {
        return (status, JSON, Bytes::copy_from_slice(body));
    }
    let (kind, message) = read_error_body(status, body);
    error_response(client, status, kind, &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn error_bodies_in_each_format() {
        let (status, ct, b) = error_response(
            ClientApi::AnthropicMessages,
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RateLimit,
            "slow down",
        );
        assert_eq!((status.as_u16(), ct), (429, "application/json"));
        assert_eq!(
            body(&b),
            json!({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})
        );
        let (_, _, b) = error_response(
            ClientApi::OpenAiChat,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "bad",
        );
        assert_eq!(
            body(&b),
            json!({"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}})
        );
    }

    #[test]
    fn anthropic_names_per_status() {
        for (status, name) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "timeout_error"),
            (529, "overloaded_error"),
        ] {
            let kind = ErrorKind::from_status(StatusCode::from_u16(status).unwrap());
            assert_eq!(kind.anthropic_type(), name, "{status}");
        }
    }

    #[test]
    fn mid_stream_events() {
        let e = error_event(ClientApi::AnthropicMessages, ErrorKind::Overloaded, "gone");
        let text = std::str::from_utf8(&e).unwrap();
        let data = text
            .strip_prefix("event: error\ndata: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(data).unwrap(),
            json!({"type":"error","error":{"type":"overloaded_error","message":"gone"}})
        );
        let e = error_event(ClientApi::OpenAiChat, ErrorKind::Server, "gone");
        let text = std::str::from_utf8(&e).unwrap();
        assert!(
            text.starts_with("data: {") && text.ends_with("}\n\n"),
            "{text}"
        );
        assert!(!text.contains("[DONE]"));
        let data: Value = serde_json::from_str(&text[6..]).unwrap();
        assert_eq!(data["error"]["message"], "gone");
    }

    #[test]
    fn provider_errors_are_reworded() {
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (s, _, b) = translate_error_body(
            ClientApi::OpenAiChat,
            ProviderApi::AnthropicMessages,
            StatusCode::from_u16(529).unwrap(),
            anthropic,
        );
        assert_eq!(s.as_u16(), 529);
        assert_eq!(body(&b)["error"]["message"], "Overloaded");
        assert_eq!(body(&b)["error"]["type"], "server_error");
        let openai = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let (_, _, b) = translate_error_body(
            ClientApi::AnthropicMessages,
            ProviderApi::OpenAiChat,
            StatusCode::TOO_MANY_REQUESTS,
            openai,
        );
        assert_eq!(
            body(&b),
            json!({"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}})
        );
        // Same family: untouched.
        let (_, _, b) = translate_error_body(
            ClientApi::OpenAiChat,
            ProviderApi::OpenAiChat,
            StatusCode::TOO_MANY_REQUESTS,
            openai,
        );
        assert_eq!(&b[..], &openai[..]);
        // vLLM's shape, and plain text.
        let vllm =
            br#"{"object":"error","message":"model not found","type":"NotFoundError","code":404}"#;
        let (_, _, b) = translate_error_body(
            ClientApi::AnthropicMessages,
            ProviderApi::OpenAiChat,
            StatusCode::NOT_FOUND,
            vllm,
        );
        assert_eq!(body(&b)["error"]["message"], "model not found");
        assert_eq!(body(&b)["error"]["type"], "not_found_error");
        let (_, _, b) = translate_error_body(
            ClientApi::OpenAiChat,
            ProviderApi::OpenAiChat,
            StatusCode::BAD_GATEWAY,
            b"upstream down\n",
        );
        assert_eq!(body(&b)["error"]["message"], "upstream down");
        let (_, _, b) = translate_error_body(
            ClientApi::OpenAiChat,
            ProviderApi::OpenAiChat,
            StatusCode::BAD_GATEWAY,
            b"",
        );
        assert_eq!(
            body(&b)["error"]["message"],
            "provider answered 502 Bad Gateway"
        );
    }
}
