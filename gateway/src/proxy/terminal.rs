//! Where a plan ends: the reverse proxy to an upstream, or the virtual MCP server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;

use super::access_log::AccessLog;
use super::error::ProxyError;
use super::exchange::{Exchange, RequestBody};
use super::forward::{self, AttemptBody, AttemptStats, Outbound};
use super::{headers, Proxy};
use crate::body::{Body, BoxError};
use crate::model::health;
use crate::model::plan::{Forward, McpServer};
use crate::model::route::RouteBackend;

impl Proxy {
    /// Sends the request to the backend's upstream, with its time limits and retries, and
    /// records the outcome in the backend's passive health.
    pub(crate) async fn forward<'r>(
        &self,
        plan: &'r Forward,
        backend: &RouteBackend,
        ex: &mut Exchange<'r>,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let body = if ex.body_is_empty() {
            AttemptBody::Buffered(Bytes::new())
        } else {
            match ex.take_body() {
                RequestBody::Read(bytes) => AttemptBody::Buffered(bytes),
                stream => AttemptBody::Stream(stream.into_stream()),
            }
        };
        let mut headers = std::mem::take(&mut ex.parts.headers);
        if let Some(upgrade) = &ex.upgrade {
            upgrade.restore_request_headers(&mut headers);
        }
        let out = Outbound {
            method: ex.parts.method.clone(),
            path_and_query: ex.path_and_query(),
            headers,
            body,
            timeouts: plan.timeouts,
            // An upgrade is sent once: its connection is the client's.
            retry: plan.retry.as_ref().filter(|_| ex.upgrade.is_none()),
            started: log.started,
            auth: ex.credential.take(),
            sign: plan.sign.as_ref(),
            tls: plan.tls.clone(),
        };
        let mut stats = AttemptStats::default();
        let result = forward::send(self, &ex.route.key, &plan.upstream, out, &mut stats).await;
        log.attempts = stats.attempts;
        match &result {
            Ok(_) => backend.health.record_success(),
            Err(ProxyError::Connect { .. }) => {
                if backend.health.record_connect_failure() {
                    tracing::warn!(
                        route = %ex.route.key,
                        backend = %backend.name,
                        "backend ejected after {} connect failures in a row; retrying it in {:?}",
                        health::EJECT_AFTER,
                        health::EJECT_FOR
                    );
                }
            }
            Err(_) => {}
        }
        let resp = result?.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed());
        match ex.upgrade.take() {
            Some(upgrade) => {
                upgrade
                    .respond(resp, &ex.route.key, &plan.upstream, &self.metrics)
                    .await
            }
            None => Ok(without_hop_by_hop(resp)),
        }
    }
}

/// Hands the request to the virtual MCP server, within `timeout.request` (counted from the
/// request's arrival, as on the reverse proxy) until its response starts.
pub(crate) async fn serve_mcp(
    server: &Arc<dyn McpServer>,
    timeout: Option<Duration>,
    tool_limit: Option<&mcp_mux::ToolLimit>,
    policy: Option<&Arc<mcp_mux::McpPolicy>>,
    ex: &mut Exchange<'_>,
    log: &mut AccessLog,
) -> Result<Response<Body>, ProxyError> {
    let slot = mcp_mux::RecordSlot::default();
    let mut parts = ex.take_parts();
    parts.extensions.insert(slot.clone());
    // The route's `per: tool` buckets, which the MCP layer checks on each `tools/call`.
    if let Some(limit) = tool_limit {
        parts.extensions.insert(limit.clone());
    }
    // On a loopback bind, the MCP layer accepts only loopback `Host` names by default.
    parts
        .extensions
        .insert(mcp_mux::http::ListenAddr(ex.conn.bind));
    // The MCP layer (and rmcp handlers, through the request parts in their context's
    // extensions) reads the caller from here.
    if let Some(identity) = &ex.identity {
        parts.extensions.insert(identity.clone());
    }
    // The route's `mcpAuthorization`, which the MCP layer checks every item against, with
    // the client's address that rules may read.
    if let Some(policy) = policy {
        parts.extensions.insert(policy.clone());
        parts
            .extensions
            .insert(mcp_mux::ClientAddr(ex.conn.remote.ip()));
    }
    log.mcp = Some(slot);
    let req = Request::from_parts(parts, ex.take_body().into_stream());
    let resp = match timeout {
        None => server.serve(req).await,
        Some(after) => tokio::time::timeout_at(log.started + after, server.serve(req))
            .await
            .map_err(|_| ProxyError::RequestTimeout { after })?,
    };
    Ok(without_hop_by_hop(resp))
}

/// The response with its hop-by-hop headers removed: they described the upstream connection.
fn without_hop_by_hop(mut resp: Response<Body>) -> Response<Body> {
    headers::remove_hop_by_hop(resp.headers_mut());
    resp
}
