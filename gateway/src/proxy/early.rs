//! Answers given before the request body was read: a `401`, `403`, `429`, a redirect, a `404`
//! for no route. The body still on its way is read and thrown away before the answer goes
//! out, so the connection stays usable for the client's next request, as nginx does.
//!
//! Left unread, hyper closes an HTTP/1.1 connection once the answer is written, without
//! saying so in the answer: a client that reuses the connection for its next request (an
//! MCP client fetching the metadata its `401` named, say) sees "server disconnected" instead
//! of an answer, and clients retry such a failure only for some requests. A body too large
//! or too slow to throw away in passing, or one the client waits to send until told to
//! (`Expect: 100-continue`), gets `Connection: close` on the answer instead, so the client
//! knows not to reuse the connection.

use std::time::Duration;

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT};
use http::{HeaderMap, HeaderValue, Response, Version};
use http_body_util::BodyExt;

use super::exchange::RequestBody;
use crate::body::Body;

/// At most this much of an unread body is read to keep its connection.
pub const DISCARD_LIMIT: u64 = 64 * 1024;
/// For at most this long.
pub const DISCARD_TIME: Duration = Duration::from_millis(500);

/// What the request head said of its body, taken before the head is handed on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Announced {
    version: Version,
    /// `Content-Length`, when declared and valid.
    length: Option<u64>,
    /// `Expect: 100-continue`: the client sends the body only once told to.
    waits_for_continue: bool,
}

impl Announced {
    /// What `headers` announce of a request's body.
    pub fn of(version: Version, headers: &HeaderMap) -> Self {
        Announced {
            version,
            length: headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            waits_for_continue: headers
                .get(EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        }
    }
}

/// A request body an answer left unread, with what its head said of it.
pub(crate) struct Unread {
    body: RequestBody,
    announced: Announced,
}

impl Unread {
    /// What is left of `body` to settle, if anything: nothing for a body read or ended, so a
    /// request answered the usual way pays no more than this check.
    pub fn of(body: RequestBody, parts: &http::request::Parts) -> Option<Unread> {
        Self::with(body, || Announced::of(parts.version, &parts.headers))
    }

    /// Like [`Unread::of`], the head's announcement read only when needed.
    fn with(body: RequestBody, announced: impl FnOnce() -> Announced) -> Option<Unread> {
        let ended = match &body {
            RequestBody::Read(_) => true,
            RequestBody::Incoming(b) => http_body::Body::is_end_stream(b),
            RequestBody::Stream(b) => http_body::Body::is_end_stream(b),
        };
        (!ended).then(|| Unread {
            body,
            announced: announced(),
        })
    }
}

/// Reads and drops what is left of the body (of a request answered without it) within
/// [`DISCARD_LIMIT`] and [`DISCARD_TIME`]; when that is not possible, `resp` says
/// `Connection: close` (HTTP/1.x; an HTTP/2 stream is reset on its own).
pub(crate) async fn settle(resp: Response<Body>, unread: Unread) -> Response<Body> {
    let Unread { body, announced } = unread;
    if discard(announced, body).await || announced.version >= Version::HTTP_2 {
        return resp;
    }
    let mut resp = resp;
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Whether `body` was read to its end (or needed no reading).
async fn discard(announced: Announced, body: RequestBody) -> bool {
    if announced.waits_for_continue || announced.length.is_some_and(|n| n > DISCARD_LIMIT) {
        return false;
    }
    let mut body = body.into_stream();
    let read_all = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DISCARD_LIMIT {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DISCARD_TIME, read_all)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// What `serve` does with what an answer left: settles it, if anything is left.
    async fn settle(
        resp: Response<Body>,
        announced: Announced,
        body: RequestBody,
    ) -> Response<Body> {
        match Unread::with(body, || announced) {
            Some(unread) => super::settle(resp, unread).await,
            None => resp,
        }
    }

    fn answer() -> Response<Body> {
        Response::new(crate::body::empty())
    }

    fn announced(headers: &[(&str, &str)]) -> Announced {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Announced::of(Version::HTTP_11, &map)
    }

    fn streamed(chunks: Vec<&'static [u8]>) -> RequestBody {
        let frames = chunks
            .into_iter()
            .map(|c| Ok::<_, crate::body::BoxError>(http_body::Frame::data(Bytes::from(c))));
        RequestBody::Stream(
            http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed(),
        )
    }

    fn says_close(resp: &Response<Body>) -> bool {
        resp.headers().get(CONNECTION).is_some_and(|v| v == "close")
    }

    #[tokio::test]
    async fn a_small_body_is_read_and_the_connection_kept() {
        let resp = settle(answer(), announced(&[]), streamed(vec![b"abc", b"def"])).await;
        assert!(!says_close(&resp));
    }

    #[tokio::test]
    async fn a_body_read_already_needs_nothing() {
        let resp = settle(answer(), announced(&[]), RequestBody::Read(Bytes::new())).await;
        assert!(!says_close(&resp));
    }

    #[tokio::test]
    async fn a_large_declared_body_closes_without_reading() {
        let resp = settle(
            answer(),
            announced(&[("content-length", "10000000")]),
            streamed(vec![b"x"]),
        )
        .await;
        assert!(says_close(&resp));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_as_it_arrives_closes() {
        let big: &'static [u8] =
            Box::leak(vec![b'x'; DISCARD_LIMIT as usize + 1].into_boxed_slice());
        let resp = settle(answer(), announced(&[]), streamed(vec![big])).await;
        assert!(says_close(&resp));
    }

    #[tokio::test]
    async fn a_client_waiting_for_continue_is_not_asked_for_its_body() {
        let resp = settle(
            answer(),
            announced(&[("expect", "100-continue"), ("content-length", "3")]),
            streamed(vec![b"abc"]),
        )
        .await;
        assert!(says_close(&resp));
    }

    #[tokio::test]
    async fn a_body_that_does_not_come_closes_after_the_discard_time() {
        let never = RequestBody::Stream(
            http_body_util::StreamBody::new(futures_util::stream::pending::<
                Result<http_body::Frame<Bytes>, crate::body::BoxError>,
            >())
            .boxed(),
        );
        let resp = settle(answer(), announced(&[]), never).await;
        assert!(says_close(&resp));
    }
}
