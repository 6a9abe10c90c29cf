//! WebSocket upgrades on HTTP routes: the client's `Connection: upgrade` + `Upgrade: websocket`
//! request goes upstream with those two headers (every other hop-by-hop header is still
//! removed); when the upstream answers `101 Switching Protocols`, the client gets that 101 with
//! the upstream's headers and the gateway copies bytes both ways between the two upgraded
//! connections until either side closes. Any other answer is an ordinary response.
//!
//! Only HTTP/1.1 requests upgrade: HTTP/2 has no `Upgrade` (RFC 9113 §8.2.2), and other
//! protocols (`h2c`) are not tunnelled, so for them the headers are removed as before. The
//! gateway never reads the tunnelled bytes, so any WebSocket extension or subprotocol the two
//! ends agree on (`Sec-WebSocket-*` headers pass unchanged) works.
//!
//! The data path calls in at four marked places (`upgrade (call site N of 4)` in `mod.rs`),
//! with everything else here, so the calls can follow the policy code wherever it moves.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use super::error::ProxyError;
use crate::body::{self, Body};
use crate::metrics::Metrics;

/// How long the upstream's connection may take to be handed over after its 101. hyper hands
/// it over as soon as it has read the 101, so this only bounds a bug, never a slow peer.
const HANDOVER: Duration = Duration::from_secs(10);

/// The one protocol tunnelled.
const WEBSOCKET: &str = "websocket";

/// A client's request to switch to WebSocket, taken from the request before its hop-by-hop
/// headers are removed.
pub(crate) struct ClientUpgrade {
    /// The client connection's side: hyper completes it once the 101 has been written.
    on_upgrade: OnUpgrade,
    /// The client's `Upgrade` value, sent upstream as it came.
    protocol: HeaderValue,
}

/// When `parts` asks, over HTTP/1.1, to switch to WebSocket and its connection can be upgraded
/// (hyper's server put the upgrade in the extensions), takes the upgrade out of the request.
/// `None` for any other request, which is proxied as before.
pub(crate) fn take(parts: &mut http::request::Parts) -> Option<ClientUpgrade> {
    let protocol = websocket_request(parts.version, &parts.headers)?;
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(ClientUpgrade {
        on_upgrade,
        protocol,
    })
}

/// The `Upgrade` value of an HTTP/1.1 request whose `Connection` lists `upgrade` and whose
/// `Upgrade` offers `websocket` (both case-insensitive, on any of their lines).
fn websocket_request(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 {
        return None;
    }
    let lists = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            // `websocket` has no version; a `websocket/13` style value still names it.
            .any(|t| {
                let t = t.trim();
                let name = t.split('/').next().unwrap_or(t);
                name.eq_ignore_ascii_case(token)
            })
    };
    if !lists(header::CONNECTION, "upgrade") || !lists(header::UPGRADE, WEBSOCKET) {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
}

impl ClientUpgrade {
    /// Puts back, in the upstream request's headers, the two that hop-by-hop removal took out.
    pub(crate) fn restore_request_headers(&self, headers: &mut HeaderMap) {
        set_upgrade_headers(headers, self.protocol.clone());
    }

    /// The client's answer, from the upstream's `resp`, with its hop-by-hop headers removed.
    /// A 101 starts the tunnel (a task of its own, counted in `switchboard_active_connections`
    /// while open and in `switchboard_upgrades_total` when it ends) and answers the client 101
    /// with the upstream's headers and `Connection` and `Upgrade` set again; any other answer
    /// goes back as an ordinary response.
    pub(crate) async fn respond(
        self,
        mut resp: Response<Body>,
        route: &str,
        upstream: &(dyn std::fmt::Display + Sync),
        metrics: &Arc<Metrics>,
    ) -> Result<Response<Body>, ProxyError> {
        let protocol = resp.headers().get(header::UPGRADE).cloned();
        super::headers::remove_hop_by_hop(resp.headers_mut());
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Ok(resp);
        }
        let upstream_side = hyper::upgrade::on(&mut resp);
        // A 101 has no body.
        let (mut parts, _) = resp.into_parts();
        let protocol = protocol.unwrap_or(self.protocol);
        // The upstream's side first: if it cannot be had, the client gets a 502 instead of a
        // 101 followed by a dead connection.
        let upstream_io = match tokio::time::timeout(HANDOVER, upstream_side).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return Err(handover_failed(upstream, route, metrics, &e)),
            Err(_) => {
                return Err(handover_failed(
                    upstream,
                    route,
                    metrics,
                    &format!("not handed over within {HANDOVER:?}"),
                ))
            }
        };
        set_upgrade_headers(&mut parts.headers, protocol);
        tokio::spawn(tunnel(
            self.on_upgrade,
            upstream_io,
            route.to_string(),
            upstream.to_string(),
            metrics.clone(),
        ));
        Ok(Response::from_parts(parts, body::empty()))
    }
}

/// `Connection: upgrade` and `Upgrade: PROTOCOL`, in place of whatever hop-by-hop removal and
/// the header policies left.
fn set_upgrade_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// Logs and counts an upstream 101 whose connection could not be taken over.
fn handover_failed(
    upstream: &dyn std::fmt::Display,
    route: &str,
    metrics: &Metrics,
    cause: &dyn std::fmt::Display,
) -> ProxyError {
    metrics.upgrade(route, false);
    ProxyError::Upstream {
        upstream: upstream.to_string(),
        cause: format!("accepted the WebSocket upgrade, but its connection was lost: {cause}"),
    }
}

/// Copies bytes both ways until both sides have closed (one side's end of stream is passed on
/// as a write shutdown to the other), or until either fails.
async fn tunnel(
    client_side: OnUpgrade,
    upstream_io: Upgraded,
    route: String,
    upstream: String,
    metrics: Arc<Metrics>,
) {
    let _open = OpenTunnel::new(&metrics);
    let ok = match client_side.await {
        Err(e) => {
            // The client went away before its 101 was written.
            tracing::info!(route, upstream, error = %e, "WebSocket upgrade: the client's connection was lost before the 101");
            false
        }
        Ok(client_io) => {
            let mut client_io = TokioIo::new(client_io);
            let mut upstream_io = TokioIo::new(upstream_io);
            match tokio::io::copy_bidirectional(&mut client_io, &mut upstream_io).await {
                Ok((to_upstream, to_client)) => {
                    tracing::debug!(
                        route,
                        upstream,
                        to_upstream,
                        to_client,
                        "WebSocket connection closed"
                    );
                    true
                }
                Err(e) => {
                    tracing::info!(route, upstream, error = %e, "WebSocket connection ended with an error");
                    false
                }
            }
        }
    };
    metrics.upgrade(&route, ok);
}

/// Counts an open tunnel in `switchboard_active_connections`: hyper no longer counts the
/// client's connection once it is handed over, but it is still open.
struct OpenTunnel(prometheus_client::metrics::gauge::Gauge);

impl OpenTunnel {
    fn new(metrics: &Metrics) -> Self {
        metrics.active_connections.inc();
        OpenTunnel(metrics.active_connections.clone())
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn websocket_requests_are_recognised() {
        for h in [
            headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]),
            headers(&[
                ("connection", "keep-alive, upgrade"),
                ("upgrade", "WebSocket"),
            ]),
            headers(&[
                ("connection", "keep-alive"),
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
            ]),
        ] {
            assert!(
                websocket_request(Version::HTTP_11, &h).is_some(),
                "{h:?} is a WebSocket upgrade"
            );
        }
    }

    #[test]
    fn other_requests_are_not_upgrades() {
        let ws = headers(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        assert!(websocket_request(Version::HTTP_10, &ws).is_none());
        assert!(websocket_request(Version::HTTP_2, &ws).is_none());
        for h in [
            headers(&[("upgrade", "websocket")]),
            headers(&[("connection", "keep-alive"), ("upgrade", "websocket")]),
            headers(&[("connection", "upgrade"), ("upgrade", "h2c")]),
            headers(&[("connection", "upgrade")]),
            headers(&[("connection", "upgrade"), ("upgrade", "websockets")]),
        ] {
            assert!(
                websocket_request(Version::HTTP_11, &h).is_none(),
                "{h:?} is not a WebSocket upgrade"
            );
        }
    }

    #[test]
    fn upgrade_headers_replace_what_was_left() {
        let mut h = headers(&[("connection", "close"), ("upgrade", "h2c")]);
        set_upgrade_headers(&mut h, HeaderValue::from_static("WebSocket"));
        let all = |name| h.get_all(name).iter().collect::<Vec<_>>();
        assert_eq!(all(header::CONNECTION), ["upgrade"]);
        assert_eq!(all(header::UPGRADE), ["WebSocket"]);
    }
}
