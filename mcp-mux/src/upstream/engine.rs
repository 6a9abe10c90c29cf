//! The one upstream request engine: every request to a target, whatever carries it, goes
//! through [`Upstream::request_once`].
//!
//! A request travels on one of two [`Wire`]s: rmcp's session (stdio, legacy SSE, lists and
//! everything else), or a POST straight within a Streamable HTTP session for calls (see
//! [`super::direct`]). The wire only sends and reads; the bookkeeping is done here once, for
//! both:
//!
//! 1. connect (or reuse the connection), counting the request as the target's in-flight use;
//! 2. hand the request to its wire, which names its id and progress token;
//! 3. register the progress route and the question enrolment, both RAII guards that end with
//!    this future, whether it completes, times out, or is dropped by a caller who left;
//! 4. wait for the answer, bounded by the target's timeout and the downstream cancellation;
//! 5. on timeout or cancellation, or when this future is dropped before the answer (the
//!    client went away), tell the target to stop (`notifications/cancelled`);
//! 6. settle the target's state: a transport failure drops the connection, anything else
//!    (an answer, even an error answer) shows the target is up.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt as _;
use rmcp::model::{
    CancelledNotificationParam, ClientRequest, GetMeta as _, RequestId, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RequestHandle, RoleClient};
use rmcp::ServiceError;

use super::call::{self, Call};
use super::http_client::{McpHttpClient, SessionRoute};
use super::logging::LogInterest;
use super::{health, Attempt, Connection, Upstream};
use crate::MuxError;

/// A failed request, and whether it surely never reached the target (so it may be sent again
/// on a new connection whatever its method).
pub(super) struct Failure {
    pub(super) error: MuxError,
    pub(super) unsent: bool,
}

impl Failure {
    /// A failure after the request may have been run.
    pub(super) fn sent(error: MuxError) -> Self {
        Failure {
            error,
            unsent: false,
        }
    }
}

/// How a request reaches the target.
enum Wire<'c> {
    /// Through rmcp's session: its service loop assigns the id and reads the answer.
    Session,
    /// POSTed within the Streamable HTTP session the connection opened (calls only).
    Direct(&'c McpHttpClient, Arc<SessionRoute>),
}

impl Upstream {
    /// One attempt; the flag says whether the request reached the transport.
    pub(super) async fn request_once(
        &self,
        request: ClientRequest,
        ctx: Option<&Call>,
    ) -> (Result<ServerResult, MuxError>, bool) {
        // A fan-out (a list) does not wait for a target that failed lately; a request for
        // one target (a call) always tries, so a target that is back serves it at once.
        let attempt = match &request {
            ClientRequest::ListToolsRequest(_)
            | ClientRequest::ListPromptsRequest(_)
            | ClientRequest::ListResourcesRequest(_)
            | ClientRequest::ListResourceTemplatesRequest(_) => Attempt::UnlessBackingOff,
            _ => Attempt::Always,
        };
        let _in_flight = self.usage.begin();
        let conn = match self.connect_if(attempt).await {
            Ok(c) => c,
            Err(e) => return (Err(e), false),
        };
        let wire = wire_for(&conn, &request);
        // Counted among the calls in flight before it is sent: see `enrol_pending`.
        let mut enrolled = self.questions.enrol_pending(self.name(), ctx);
        let (id, progress_token, answer) = match &wire {
            Wire::Session => match self.send_in_session(&conn, request, ctx).await {
                Ok(handle) => {
                    let (id, token) = (handle.id.clone(), handle.progress_token.clone());
                    (id, token, Either::Left(self.session_answer(handle)))
                }
                Err(failure) => return self.settle(&conn, Err(failure)).await,
            },
            Wire::Direct(http, route) => {
                let (id, token, message) = super::direct::prepare(request);
                let exchange = self.exchange(http, route, message, id.clone(), ctx);
                (id, token, Either::Right(exchange))
            }
        };
        // Built here, before the next await, so that the answer's future is stored once (a
        // local still held across that await would get a slot of its own beside `timed`).
        let timed = with_timeout(self.target.timeout, answer, self.name());
        // Registered before the answer is polled: a direct call is POSTed only then, so its
        // first progress event finds its route; both end when this future does.
        let progress = self.progress.route(self.name(), progress_token, ctx).await;
        if let Some(enrolled) = &mut enrolled {
            enrolled.identify(id.clone());
        }
        // Until the answer is in, the request is the target's to stop: if this future is
        // dropped (the client went away), timed out or cancelled, the guard tells it.
        let mut outstanding = Outstanding {
            upstream: self,
            conn: &conn,
            wire: &wire,
            id: Some(id),
            reason: "abandoned by the downstream client",
        };
        let result = tokio::select! {
            r = timed => r,
            () = call::cancelled(ctx) => Err(Failure::sent(MuxError::Cancelled {
                target: self.name().to_owned(),
            })),
        };
        drop((progress, enrolled));
        match &result {
            Err(Failure {
                error: MuxError::Cancelled { .. },
                ..
            }) => outstanding.reason = "cancelled by the downstream client",
            Err(Failure {
                error: MuxError::Timeout { .. },
                ..
            }) => outstanding.reason = "timed out at the gateway",
            // Answered, or the transport failed: there is nothing left to stop.
            _ => outstanding.id = None,
        }
        drop(outstanding);
        self.settle(&conn, result).await
    }

    /// Hands `request` to rmcp's session.
    async fn send_in_session(
        &self,
        conn: &Connection,
        mut request: ClientRequest,
        ctx: Option<&Call>,
    ) -> Result<RequestHandle<RoleClient>, Failure> {
        if conn.pid.is_some_and(health::process_exited) {
            // Dead before anything was sent (rmcp has not seen its stdout close yet): the
            // request never reached it, so it goes to a new process instead.
            return Err(Failure {
                error: MuxError::Transport {
                    target: self.name().to_owned(),
                    message: "the process has exited".into(),
                },
                unsent: true,
            });
        }
        // No timeout here: the engine applies the target's timeout to both wires alike.
        let mut options = PeerRequestOptions::no_options();
        if conn.modern {
            // rmcp writes its own client capabilities into every modern request; a request
            // that declares others (a task offer, `mux::tasks`) keeps them this way.
            if let Some(caps) = request.get_meta().client_capabilities() {
                let mut meta = rmcp::model::RequestMetaObject::default();
                meta.set_client_capabilities(caps);
                options.meta = Some(meta);
            }
            // A 2026-07-28 target sends log messages only when the request asks, at its level.
            if let Some(LogInterest::AtLeast(level)) = ctx.map(|c| c.log_interest) {
                #[allow(deprecated)]
                request.get_meta_mut().set_log_level(level);
            }
        }
        conn.peer
            .send_request_with_option(request, options)
            .await
            .map_err(|source| Failure {
                error: self.service_error(source),
                unsent: true,
            })
    }

    /// The answer rmcp's session reads for `handle`.
    async fn session_answer(
        &self,
        handle: RequestHandle<RoleClient>,
    ) -> Result<ServerResult, Failure> {
        handle.await_response().await.map_err(|source| {
            // A write that failed (e.g. a broken pipe to a stdio process that has just
            // exited) never reached the target, so the request may be sent again.
            let unsent = matches!(source, ServiceError::TransportSend(_));
            Failure {
                error: self.service_error(source),
                unsent,
            }
        })
    }

    fn service_error(&self, source: ServiceError) -> MuxError {
        MuxError::Service {
            target: self.name().to_owned(),
            source,
        }
    }

    /// The target's state after a request: a transport failure drops the connection (the
    /// next request reconnects); anything else, error answers included, shows it is up.
    async fn settle(
        &self,
        conn: &Arc<Connection>,
        result: Result<ServerResult, Failure>,
    ) -> (Result<ServerResult, MuxError>, bool) {
        match result {
            Ok(answer) => {
                self.set_up(true);
                (Ok(answer), true)
            }
            Err(Failure { error, unsent }) => {
                if error.is_transport_failure() {
                    self.discard(conn).await;
                } else {
                    self.set_up(true);
                }
                (Err(error), !unsent)
            }
        }
    }
}

/// A request sent and not answered yet: dropped while it holds the id, it tells the target
/// to stop (`notifications/cancelled`) from a task of its own, so nobody waits on it.
struct Outstanding<'a> {
    upstream: &'a Upstream,
    conn: &'a Connection,
    wire: &'a Wire<'a>,
    id: Option<RequestId>,
    reason: &'static str,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return; // the runtime is gone: so is the connection
        }
        let target = self.upstream.name();
        tracing::debug!(mcp_target = %target, request_id = %id, reason = self.reason, "withdrawing a request");
        match self.wire {
            Wire::Session => {
                let peer = self.conn.peer.clone();
                let note = CancelledNotificationParam::new(Some(id), Some(self.reason.to_owned()));
                let target = target.to_owned();
                tokio::spawn(async move {
                    if let Err(e) = peer.notify_cancelled(note).await {
                        tracing::debug!(mcp_target = %target, error = %e, "cancellation not delivered");
                    }
                });
            }
            Wire::Direct(http, route) => {
                self.upstream.withdraw_direct(http, route, id, self.reason)
            }
        }
    }
}

/// Calls, prompts and reads go straight to a Streamable HTTP target once rmcp has opened its
/// session; everything else (and every other transport) goes through rmcp.
fn wire_for<'c>(conn: &'c Connection, request: &ClientRequest) -> Wire<'c> {
    let direct = matches!(
        request,
        ClientRequest::CallToolRequest(_)
            | ClientRequest::GetPromptRequest(_)
            | ClientRequest::ReadResourceRequest(_)
    );
    match (direct, &conn.http) {
        (true, Some(http)) => http
            .session_route()
            .map_or(Wire::Session, |route| Wire::Direct(http, route)),
        _ => Wire::Session,
    }
}

/// `answer`, bounded by the target's timeout when it has one.
///
/// A plain function that builds the future rather than an `async fn`: an `async fn` would keep
/// its `answer` argument in its state beside the timeout that took it over, doubling the size
/// of every future up to the front end (each copied whole when it is boxed).
fn with_timeout<'a, F>(
    timeout: Option<Duration>,
    answer: F,
    target: &'a str,
) -> impl Future<Output = Result<ServerResult, Failure>> + 'a
where
    F: Future<Output = Result<ServerResult, Failure>> + 'a,
{
    match timeout {
        None => Either::Left(answer),
        Some(timeout) => Either::Right(tokio::time::timeout(timeout, answer).map(move |r| {
            r.unwrap_or_else(|_| {
                Err(Failure::sent(MuxError::Timeout {
                    target: target.to_owned(),
                    timeout,
                }))
            })
        })),
    }
}
