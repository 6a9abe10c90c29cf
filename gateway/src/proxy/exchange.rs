//! One request as the phases see it: what they read and change on its way through a route's
//! plan, and what the request side leaves for the response side.

use backend_auth::{BackendAuth, Credential};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{a2a, upgrade, Conn};
use crate::body::{self, Body, BoxError};
use crate::model::matcher::{PathMatcher, RequestMatch};
use crate::model::plan::ErrorFormat;
use crate::model::route::Route;

/// A request on its way through a route's plan.
pub(crate) struct Exchange<'r> {
    /// Where it came from.
    pub conn: Conn,
    /// Method, URI and headers; phases change the headers in place.
    pub parts: http::request::Parts,
    /// The body, in whichever form the phases so far left it.
    pub body: RequestBody,
    /// The route that matched.
    pub route: &'r Route,
    /// The match that selected it (its path prefix is what `urlRewrite` and A2A cards read).
    pub matched: &'r RequestMatch,
    /// The path and query to send upstream, when `urlRewrite` changed them.
    pub rewritten: Option<String>,
    /// CORS headers the response gets, decided on the request.
    pub cors_headers: Option<HeaderMap>,
    /// The caller, when the route's authentication policy found one (`None`: no policy, or
    /// an anonymous request it let through).
    pub identity: Option<authn::Identity>,
    /// What the A2A relay learned of the request, for the response side.
    pub a2a: Option<a2a::Exchange>,
    /// The `backendAuth` credential set in the headers, with its source (a 401 may replace it).
    pub credential: Option<(&'r BackendAuth, Credential)>,
    /// A WebSocket upgrade the client asked for: sent once, never mirrored, tunnelled on a 101.
    pub upgrade: Option<upgrade::ClientUpgrade>,
    /// The route's rate-limit decision, whose `X-RateLimit-*` headers the response gets.
    pub rate_limit: Option<ratelimit::Decision>,
    /// The LLM API the client speaks, on a route to `ai` backends: the gateway's own
    /// refusals are written in its error format.
    pub llm_api: Option<llm::ClientApi>,
}

/// A request body as the phases leave it.
pub(crate) enum RequestBody {
    /// As the connection delivers it, before the body limit applies.
    Incoming(Incoming),
    /// Streamed as it arrives.
    Stream(Body),
    /// Read whole (an A2A call, or a body kept for retries).
    Read(Bytes),
}

impl<'r> Exchange<'r> {
    /// A request that just matched `route`.
    pub fn new(
        conn: Conn,
        parts: http::request::Parts,
        body: Incoming,
        route: &'r Route,
        matched: &'r RequestMatch,
    ) -> Self {
        let mut ex = Exchange {
            llm_api: None,
            conn,
            parts,
            body: RequestBody::Incoming(body),
            route,
            matched,
            rewritten: None,
            cors_headers: None,
            identity: None,
            a2a: None,
            credential: None,
            upgrade: None,
            rate_limit: None,
        };
        if route.plan.errors == ErrorFormat::Llm {
            ex.llm_api = llm::ClientApi::detect(&ex.parts.method, &ex.below_prefix());
        }
        ex
    }

    /// The request path below the route's path prefix (`/llm/v1/messages` on `/llm` gives
    /// `/v1/messages`), which LLM API detection and passthrough read.
    pub fn below_prefix(&self) -> String {
        let path = self.parts.uri.path();
        let rest = match &self.matched.path {
            PathMatcher::Prefix(prefix) if prefix != "/" => path
                .strip_prefix(prefix.trim_end_matches('/'))
                .unwrap_or(path),
            _ => path,
        };
        if rest.starts_with('/') {
            rest.to_string()
        } else {
            format!("/{rest}")
        }
    }

    /// The path and query to send upstream.
    pub fn path_and_query(&self) -> String {
        match &self.rewritten {
            Some(p) => p.clone(),
            None => self
                .parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        }
    }

    /// Takes the request's method, URI and headers, leaving an empty request in their place
    /// (for a terminal that hands the request on whole).
    pub fn take_parts(&mut self) -> http::request::Parts {
        let (empty, ()) = http::Request::new(()).into_parts();
        std::mem::replace(&mut self.parts, empty)
    }

    /// Gives the client `budget` (its bind's `bodyReadTimeout`) to send the request body,
    /// counted from now, the end of its headers. A body already complete is left alone.
    pub fn limit_body_read_time(&mut self, budget: std::time::Duration) {
        if let RequestBody::Incoming(b) = &self.body {
            if http_body::Body::is_end_stream(b) {
                return;
            }
        }
        self.body = match self.take_body() {
            RequestBody::Incoming(b) => {
                let b = b.map_err(|e| -> BoxError { Box::new(e) });
                RequestBody::Stream(body::ReadDeadline::new(b, budget).boxed())
            }
            other => other,
        };
    }

    /// Takes the body, leaving an empty one in its place.
    pub fn take_body(&mut self) -> RequestBody {
        std::mem::replace(&mut self.body, RequestBody::Read(Bytes::new()))
    }

    /// Whether the body is known to be empty: nothing to stream, keep or copy.
    pub fn body_is_empty(&self) -> bool {
        let declared_empty = self
            .parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0")
            && !self
                .parts
                .headers
                .contains_key(http::header::TRANSFER_ENCODING);
        declared_empty
            || match &self.body {
                RequestBody::Incoming(b) => http_body::Body::is_end_stream(b),
                RequestBody::Stream(b) => http_body::Body::is_end_stream(b),
                RequestBody::Read(b) => b.is_empty(),
            }
    }
}

impl RequestBody {
    /// The body as a stream, whatever its form.
    pub fn into_stream(self) -> Body {
        match self {
            RequestBody::Incoming(b) => b.map_err(|e| -> BoxError { Box::new(e) }).boxed(),
            RequestBody::Stream(b) => b,
            RequestBody::Read(b) => body::full(b),
        }
    }
}
