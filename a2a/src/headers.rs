//! A2A service-parameter headers: which ones the relay passes both ways, and the version a
//! request asks for.
//!
//! Dropping `A2A-Version` silently downgrades a 1.0 client to 0.3 (the agent answers -32009),
//! and agents echo activated extensions in `A2A-Extensions` (legacy `X-A2A-Extensions`), so all
//! three are forwarded upstream and back. Spec §3.6.1 also allows `?A2A-Version=` as a query
//! parameter, which a2a-sdk ignores: the gateway copies it into the header.

use http::{HeaderMap, HeaderValue};

pub const A2A_VERSION: &str = "a2a-version";
pub const A2A_EXTENSIONS: &str = "a2a-extensions";
pub const X_A2A_EXTENSIONS: &str = "x-a2a-extensions";

/// Headers to forward in both directions, unchanged.
pub const PASSTHROUGH: [&str; 3] = [A2A_VERSION, A2A_EXTENSIONS, X_A2A_EXTENSIONS];

/// The version an empty or missing `A2A-Version` means (spec §3.6).
pub const DEFAULT_VERSION: &str = "0.3";

/// The `Major.Minor` version the request asks for: the header, else the `A2A-Version` query
/// parameter, else 0.3. An unreadable header counts as missing.
pub fn requested_version(headers: &HeaderMap, query: Option<&str>) -> String {
    let from_header = headers
        .get(A2A_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    from_header
        .map(str::to_owned)
        .or_else(|| query_version(query))
        .unwrap_or_else(|| DEFAULT_VERSION.to_owned())
}

fn query_version(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(A2A_VERSION))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Sets `A2A-Version` from the query parameter when the header is absent, so agents that
/// ignore the query parameter see the caller's version. Returns whether it set the header.
pub fn copy_query_version_to_header(headers: &mut HeaderMap, query: Option<&str>) -> bool {
    if headers.contains_key(A2A_VERSION) {
        return false;
    }
    let Some(version) = query_version(query) else {
        return false;
    };
    match HeaderValue::from_str(&version) {
        Ok(value) => {
            headers.insert(A2A_VERSION, value);
            true
        }
        Err(_) => false,
    }
}

/// Whether a response `Content-Type` is an SSE stream (relay frame by frame, no buffering).
pub fn is_event_stream(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_header_query_or_default() {
        let mut h = HeaderMap::new();
        assert_eq!(requested_version(&h, None), "0.3");
        assert_eq!(requested_version(&h, Some("a=1&A2A-Version=1.0")), "1.0");
        h.insert(A2A_VERSION, HeaderValue::from_static(" "));
        assert_eq!(requested_version(&h, None), "0.3", "empty header means 0.3");
        h.insert(A2A_VERSION, HeaderValue::from_static("1.0"));
        assert_eq!(requested_version(&h, Some("A2A-Version=0.3")), "1.0");
        h.insert(A2A_VERSION, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(requested_version(&h, None), "0.3");
    }

    #[test]
    fn query_version_is_copied_only_when_header_absent() {
        let mut h = HeaderMap::new();
        assert!(copy_query_version_to_header(
            &mut h,
            Some("A2A-Version=1.0")
        ));
        assert_eq!(h[A2A_VERSION], "1.0");
        assert!(!copy_query_version_to_header(
            &mut h,
            Some("A2A-Version=0.3")
        ));
        assert_eq!(h[A2A_VERSION], "1.0");
        let mut h = HeaderMap::new();
        assert!(!copy_query_version_to_header(&mut h, Some("x=1")));
        assert!(!copy_query_version_to_header(
            &mut h,
            Some("A2A-Version=%0A")
        ));
        assert!(h.is_empty());
    }

    #[test]
    fn event_stream_content_types() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_event_stream(Some(&v(
            "text/event-stream; charset=utf-8"
        ))));
        assert!(is_event_stream(Some(&v("Text/Event-Stream"))));
        assert!(!is_event_stream(Some(&v("application/a2a+json"))));
        assert!(!is_event_stream(None));
    }
}
