//! `tools/call`, `prompts/get` and `resources/read` sent straight to an `mcp` (Streamable HTTP)
//! target from the caller's own task.
//!
//! rmcp's client hands every request through its service loop and its transport worker (two
//! tasks, four channel hops, a spawned task per response stream) before and after the HTTP
//! exchange; on the gateway's hottest path that machinery cost more CPU than the exchange
//! itself. Once rmcp's transport has opened the session ([`SessionRoute`]), a call is POSTed
//! here, within that session, on the same pooled connections, and its answer read in place:
//! a JSON body, or an SSE stream whose progress goes to the caller's client in order, whose
//! questions (elicitation, sampling) go to exactly the client whose call this is, and whose
//! last message is the result. rmcp's connection still does everything else: the handshake,
//! the GET stream of list changes, lists, and re-opening the session. This module is only the
//! wire: ids, timeouts, cancellation and the target's state are the engine's
//! ([`super::engine`]), shared with requests that go through rmcp.
//!
//! A 404 means the session is gone and the call was not run: the session is forgotten and
//! the caller retries on a new one. A stream that breaks after an event with an id is resumed
//! with `Last-Event-ID` (up to [`MAX_RESUMES`] times); one that ends without a result and
//! cannot be resumed is a transport failure after the call was sent, so it is not retried (the
//! tool may have run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use rmcp::model::{
    CancelledNotification, CancelledNotificationParam, ClientJsonRpcMessage, ClientNotification,
    ClientRequest, ClientResult, EmptyResult, ErrorCode, ErrorData, GetMeta as _, NumberOrString,
    ProgressToken, RequestId, ServerJsonRpcMessage, ServerNotification, ServerRequest,
    ServerResult,
};
use rmcp::transport::streamable_http_client::{StreamableHttpError, StreamableHttpPostResponse};
use rmcp::ServiceError;

use super::engine::Failure;
use super::Upstream;
use crate::upstream::announce::Changed;
use crate::upstream::call::Call;
use crate::upstream::client::{ask_client, Ability};
use crate::upstream::http_client::{HttpError, McpHttpClient, SessionRoute};
use crate::upstream::list_cache::list_changed;
use crate::upstream::logging;
use crate::MuxError;

/// Request ids of direct calls: strings, so they never meet rmcp's numeric ids in the session.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How often a call's broken response stream is resumed before the call fails.
const MAX_RESUMES: u32 = 3;
/// The wait before resuming, unless the target's `retry:` field says otherwise.
const RESUME_DELAY: Duration = Duration::from_millis(100);
/// The longest wait before resuming, whatever the target says.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(5);

/// A fresh string id and progress token for `request`, and the JSON-RPC message that carries it.
pub(super) fn prepare(
    mut request: ClientRequest,
) -> (RequestId, ProgressToken, ClientJsonRpcMessage) {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let name: Arc<str> = format!("sb-{n}").into();
    let id = RequestId::String(name.clone());
    let token = ProgressToken(NumberOrString::String(name));
    // Progress normally comes on the call's own stream and goes straight to the client (see
    // `on_notification`); a target may also send it on its GET stream, which rmcp's connection
    // reads and relays through the router the engine registered.
    request.get_meta_mut().set_progress_token(token.clone());
    let message = ClientJsonRpcMessage::request(request, id.clone());
    (id, token, message)
}

impl Upstream {
    /// The POST and its answer (the wire of [`Upstream::request_once`] for direct calls).
    pub(super) async fn exchange(
        &self,
        http: &McpHttpClient,
        route: &Arc<SessionRoute>,
        message: ClientJsonRpcMessage,
        id: RequestId,
        ctx: Option<&Call>,
    ) -> Result<ServerResult, Failure> {
        let id = &id;
        let transport = |message: String, unsent: bool| Failure {
            error: MuxError::Transport {
                target: self.name().to_owned(),
                message,
            },
            unsent,
        };
        let mut events = match http.post_in_session(route, message).await {
            Ok(StreamableHttpPostResponse::Json(answer, _)) => {
                return self
                    .answer(answer, id)
                    .unwrap_or_else(|| Err(self.unexpected("a JSON body that is not the answer")));
            }
            Ok(StreamableHttpPostResponse::Sse(events, _)) => events,
            Ok(StreamableHttpPostResponse::Accepted) => {
                return Err(self.unexpected("202 Accepted to a request"));
            }
            Ok(_) => return Err(self.unexpected("an answer of an unknown kind")),
            Err(StreamableHttpError::SessionExpired) => {
                http.forget_session();
                return Err(transport("the session expired (HTTP 404)".into(), true));
            }
            Err(StreamableHttpError::Client(e)) => {
                let unsent = HttpError::unsent(&e);
                return Err(transport(e.to_string(), unsent));
            }
            Err(e) => return Err(transport(e.to_string(), false)),
        };
        // A stream that breaks after an event with an id is resumed where it broke (a GET
        // with `Last-Event-ID`), as many targets close long streams on purpose (SEP-1699).
        let mut last_event_id: Option<String> = None;
        let mut retry = RESUME_DELAY;
        let mut resumed = 0;
        loop {
            let broke = loop {
                let event = match events.next().await {
                    None => break "the response stream ended without an answer".to_owned(),
                    Some(Err(e)) => break format!("the response stream broke: {e}"),
                    Some(Ok(event)) => event,
                };
                if let Some(event_id) = event.id.filter(|i| !i.is_empty()) {
                    last_event_id = Some(event_id);
                }
                if let Some(ms) = event.retry {
                    retry = Duration::from_millis(ms).min(MAX_RESUME_DELAY);
                }
                // Events without data prime the stream for resumption; nothing to read.
                let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                    continue;
                };
                if let Some(answer) = self.on_event(http, route, &data, id, ctx).await {
                    return answer;
                }
            };
            let Some(last) = last_event_id.clone() else {
                return Err(transport(broke, false));
            };
            if resumed == MAX_RESUMES {
                return Err(transport(
                    format!("{broke}; resumed {MAX_RESUMES} times already, giving up"),
                    false,
                ));
            }
            resumed += 1;
            tokio::time::sleep(retry).await;
            tracing::debug!(mcp_target = %self.name(), last_event_id = %last, "resuming the call's response stream");
            events = Box::pin(http.resume_in_session(route, &last))
                .await
                .map_err(|e| {
                    transport(
                        format!("{broke}; resuming it with Last-Event-ID failed: {e}"),
                        false,
                    )
                })?;
        }
    }

    /// One message on the call's stream: a notification or question is handled; the call's
    /// answer is returned.
    async fn on_event(
        &self,
        http: &McpHttpClient,
        route: &Arc<SessionRoute>,
        data: &str,
        id: &RequestId,
        ctx: Option<&Call>,
    ) -> Option<Result<ServerResult, Failure>> {
        let message = match crate::jsonrpc_parse::server_message(data.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(mcp_target = %self.name(), error = %e, "unreadable message on the response stream, skipped");
                return None;
            }
        };
        match message {
            ServerJsonRpcMessage::Notification(n) => {
                self.on_notification(n.notification, ctx).await;
                None
            }
            ServerJsonRpcMessage::Request(r) => {
                // Boxed: questions are rare, and their future (a round trip to the client and
                // a POST back) would otherwise be part of every call's.
                Box::pin(async {
                    let answer = self.on_question(r.request, ctx).await;
                    let reply = match answer {
                        Ok(result) => ClientJsonRpcMessage::response(result, r.id),
                        Err(error) => ClientJsonRpcMessage::error(error, Some(r.id)),
                    };
                    if let Err(e) = http.post_in_session(route, reply).await {
                        tracing::warn!(mcp_target = %self.name(), error = %e, "the answer to the target's question was not delivered");
                    }
                })
                .await;
                None
            }
            other => self.answer(other, id),
        }
    }

    /// The call's answer, if `message` is it.
    fn answer(
        &self,
        message: ServerJsonRpcMessage,
        id: &RequestId,
    ) -> Option<Result<ServerResult, Failure>> {
        match message {
            ServerJsonRpcMessage::Response(r) if &r.id == id => Some(Ok(r.result)),
            ServerJsonRpcMessage::Error(e) if e.id.as_ref().is_none_or(|i| i == id) => {
                Some(Err(Failure {
                    error: MuxError::Service {
                        target: self.name().to_owned(),
                        source: ServiceError::McpError(e.error),
                    },
                    unsent: false,
                }))
            }
            _ => None,
        }
    }

    fn unexpected(&self, what: &str) -> Failure {
        Failure {
            error: MuxError::Transport {
                target: self.name().to_owned(),
                message: format!("unexpected answer: {what}"),
            },
            unsent: false,
        }
    }

    /// A notification on the call's stream: progress and log messages go to the caller's
    /// client; list changes, resource updates and task notices are announced as when they
    /// arrive on rmcp's connection; the rest is logged.
    async fn on_notification(&self, n: ServerNotification, ctx: Option<&Call>) {
        match n {
            ServerNotification::ProgressNotification(p) => {
                if let Some((downstream, token)) = ctx.and_then(Call::progress_route) {
                    let mut params = p.params;
                    params.progress_token = token;
                    if !downstream.progress(params).await {
                        tracing::debug!(mcp_target = %self.name(), "progress not delivered: the client is gone");
                    }
                }
            }
            ServerNotification::ToolListChangedNotification(_) => {
                list_changed(&self.lists, &*self.notices, Changed::Tools);
            }
            ServerNotification::PromptListChangedNotification(_) => {
                list_changed(&self.lists, &*self.notices, Changed::Prompts);
            }
            ServerNotification::ResourceListChangedNotification(_) => {
                list_changed(&self.lists, &*self.notices, Changed::Resources);
            }
            ServerNotification::ResourceUpdatedNotification(u) => {
                self.notices.resource_updated(self.name(), &u.params.uri);
            }
            ServerNotification::TaskStatusNotification(t) => {
                self.notices.task_status(self.name(), t.params);
            }
            #[allow(deprecated)]
            ServerNotification::LoggingMessageNotification(m) => {
                let call = ctx.and_then(|c| Some((c.downstream.as_deref()?, c.log_interest)));
                logging::relay(&*self.notices, self.name(), m.params, call).await;
            }
            other => {
                tracing::debug!(mcp_target = %self.name(), notification = ?other, "notification on a call's stream not relayed");
            }
        }
    }

    /// A request from the target on the call's stream: a question for this call's client,
    /// or a ping.
    async fn on_question(
        &self,
        request: ServerRequest,
        ctx: Option<&Call>,
    ) -> Result<ClientResult, ErrorData> {
        if matches!(request, ServerRequest::PingRequest(_)) {
            return Ok(ClientResult::EmptyResult(EmptyResult {}));
        }
        let Some(ability) = Ability::of(&request) else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                "the gateway does not relay this request from a target",
                None,
            ));
        };
        let Some(asker) = ctx.and_then(Call::asker) else {
            return Err(ErrorData::invalid_request(
                "the gateway has no client for this call to relay the question to",
                None,
            ));
        };
        // The target withdraws a question by ending the call, which ends this stream read.
        ask_client(
            self.name(),
            &asker,
            ability,
            request,
            std::future::pending(),
        )
        .await
    }

    /// Tells the target to stop a call nobody waits for any more, without holding up the
    /// caller: the notification is POSTed from its own task.
    pub(super) fn withdraw_direct(
        &self,
        http: &McpHttpClient,
        route: &Arc<SessionRoute>,
        id: RequestId,
        reason: &str,
    ) {
        let note = ClientJsonRpcMessage::notification(ClientNotification::CancelledNotification(
            CancelledNotification::new(CancelledNotificationParam::new(
                Some(id),
                Some(reason.to_owned()),
            )),
        ));
        let http = http.clone();
        let route = route.clone();
        let target = self.name().to_owned();
        tokio::spawn(async move {
            if let Err(e) = http.post_in_session(&route, note).await {
                tracing::debug!(mcp_target = %target, error = %e, "cancellation not delivered");
            }
        });
    }
}
