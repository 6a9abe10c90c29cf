//! Answers requests for the RFC 9728 metadata of a listener's `mcpAuthentication` routes
//! (see [`crate::model::discovery`]), before any route is chosen.
//!
//! The documents are public by nature (a client reads them before it has a token), so they
//! are never challenged, any origin may read them (browser-based MCP clients fetch them
//! cross-origin; no credentials are involved), and they may be cached for an hour.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::body::Body;
use crate::model::discovery::ProtectedResources;

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// The answer to `parts` when its path is one of the listener's metadata documents.
pub(crate) fn answer(
    table: &ProtectedResources,
    parts: &http::request::Parts,
) -> Option<Response<Body>> {
    let document = table.get(parts.uri.path())?;
    let mut h = http::HeaderMap::new();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let (status, body) = match parts.method {
        Method::GET | Method::HEAD => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            let bytes = Bytes::copy_from_slice(document.as_bytes());
            (StatusCode::OK, crate::body::full(bytes))
        }
        Method::OPTIONS => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW),
            );
            // Whatever headers the browser asks to send (`mcp-protocol-version`, ...): the
            // answer is the same public document.
            if let Some(asked) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            (StatusCode::NO_CONTENT, crate::body::empty())
        }
        _ => {
            h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            (StatusCode::METHOD_NOT_ALLOWED, crate::body::empty())
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    Some(resp)
}
