//! Reading a target's answers: statuses and their meaning for rmcp (auth challenges, 429/5xx
//! metadata), bounded body reads, and SSE event streams with rmcp's event size limit.

use futures_util::StreamExt as _;
use http::header::{CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyDataStream, BodyExt as _};
use netkit::InlineBody;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpError,
};
use sse_stream::SseStream;

use super::{client_err, invalid, HttpError, SseEvents, MAX_RETRY_AFTER_BYTES};

/// The `Content-Length` of a response, if it says one.
pub(super) fn content_length(response: &Response<InlineBody>) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An HTTP error status as a client error (what reqwest's `error_for_status` did).
pub(super) fn error_for_status(status: StatusCode) -> Result<(), StreamableHttpError<HttpError>> {
    if status.is_client_error() || status.is_server_error() {
        return Err(invalid(format!("HTTP status {status}")));
    }
    Ok(())
}

/// A 401 or 403 with a `WWW-Authenticate` challenge becomes rmcp's auth errors.
pub(super) fn auth_challenge(
    response: &Response<InlineBody>,
) -> Result<(), StreamableHttpError<HttpError>> {
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return Ok(());
    }
    let Some(header) = response.headers().get(WWW_AUTHENTICATE) else {
        return Ok(());
    };
    let header = header.to_str().map_err(|_| {
        StreamableHttpError::UnexpectedServerResponse(
            "invalid www-authenticate header value".into(),
        )
    })?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            header.to_owned(),
        )));
    }
    Err(StreamableHttpError::InsufficientScope(
        InsufficientScopeError::new(header.to_owned(), scope_of(header)),
    ))
}

/// The `scope=` parameter of a `WWW-Authenticate` value, quoted or not.
pub(super) fn scope_of(header: &str) -> Option<String> {
    let start = header.to_ascii_lowercase().find("scope=")? + "scope=".len();
    let value = &header[start..];
    if let Some(quoted) = value.strip_prefix('"') {
        return quoted.find('"').map(|end| quoted[..end].to_owned());
    }
    let end = value
        .find(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .unwrap_or(value.len());
    (end > 0).then(|| value[..end].to_owned())
}

/// 429 and 5xx keep only their status and a bounded `Retry-After`.
pub(super) fn http_status_error(
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<HttpStatusError> {
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .filter(|v| v.as_bytes().len() <= MAX_RETRY_AFTER_BYTES)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Some(HttpStatusError::new(status.as_u16(), retry_after))
}

/// Whether a `Content-Type` value's essence is `expected` (case-insensitive, parameters ignored).
pub(super) fn media_type_is(value: &[u8], expected: &str) -> bool {
    value
        .split(|b| *b == b';')
        .next()
        .and_then(|essence| std::str::from_utf8(essence).ok())
        .is_some_and(|essence| {
            essence
                .trim_matches([' ', '\t'])
                .eq_ignore_ascii_case(expected)
        })
}

/// The whole body, or `ResponseBodyTooLarge` past `max` bytes (counted, not trusted from
/// `Content-Length`).
pub(super) async fn read_bounded(
    response: Response<InlineBody>,
    max: usize,
) -> Result<Vec<u8>, StreamableHttpError<HttpError>> {
    if content_length(&response).is_some_and(|n| n > max as u64) {
        return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
    }
    let mut incoming = response.into_body();
    let mut body = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let Ok(chunk) = frame.map_err(|e| client_err(&e))?.into_data() else {
            continue; // trailers
        };
        if chunk.len() > max - body.len() {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `max` bytes of a diagnostic body; the rest is not read.
pub(super) async fn read_prefix(response: Response<InlineBody>, max: usize) -> String {
    let mut stream = BodyDataStream::new(response.into_body());
    let mut body = Vec::new();
    while body.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let n = chunk.len().min(max - body.len());
                body.extend_from_slice(&chunk[..n]);
            }
            Some(Err(_)) => return "<failed to read response body>".to_owned(),
            None => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The response body as SSE events (parsed by `sse-stream`, as rmcp does), failing once an
/// event grows past `max_event` bytes.
pub(super) fn sse_events(response: Response<InlineBody>, max_event: usize) -> SseEvents {
    let mut size = netkit::sse::EventSize::new(max_event);
    let bytes = BodyDataStream::new(response.into_body())
        .map(move |chunk| match chunk {
            Ok(chunk) if size.observe(&chunk) => Ok(chunk),
            Ok(_) => Err(EventStreamError::EventTooLarge(max_event)),
            Err(e) => Err(EventStreamError::Body(HttpError::of(&e))),
        })
        // Nothing after the first error: the stream is cut there.
        .scan(false, |failed, item| {
            let item = (!*failed).then_some(item);
            *failed = item.as_ref().is_some_and(Result::is_err);
            futures_util::future::ready(item)
        });
    SseStream::from_bytes_stream(bytes).boxed()
}

#[derive(Debug, thiserror::Error)]
enum EventStreamError {
    #[error(transparent)]
    Body(HttpError),
    #[error("SSE event exceeded the maximum size of {0} bytes")]
    EventTooLarge(usize),
}
