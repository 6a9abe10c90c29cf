//! The legacy HTTP+SSE transport (protocol 2024-11-05), for clients that
//! predate Streamable HTTP: `GET <route>/sse` opens an event stream whose
//! first event, `endpoint`, names where to POST (`message?sessionId=…`,
//! relative to the stream's URL); every answer and notification travels on
//! the stream, and each POST is answered `202 Accepted`.
//!
//! Unlike Streamable HTTP sessions this one is a live connection: its state
//! (the stream, the client's capabilities once it initialized, its requests in
//! flight) lives in this process and ends when the stream closes. With several
//! replicas, the POSTs must reach the replica holding the stream (session
//! affinity on `sessionId`); elsewhere they get 404.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{StatusCode, Uri};
use rmcp::model::GetMeta as _;
use rmcp::model::{
    ClientCapabilities, ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData,
    ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::ServerHandler as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::downstream::ResponseStream;
use super::era::{self, Era};
use super::inflight::Inflight;
use super::interest;
use super::prefs::SessionPrefs;
use super::{accepted, body, jsonrpc_refusal, parse, plain, sse_reply, HttpFront, Reply};
use crate::core::context::CallContext;
use crate::core::mux::Multiplexer;
use crate::core::tool_limit::ToolLimit;
use crate::front::answers::{Delivery, PendingAnswers};

/// Most legacy SSE sessions open at once per endpoint (each holds a connection).
const MAX_SESSIONS: usize = 10_000;

/// The open legacy SSE sessions of one endpoint.
#[derive(Default)]
pub(super) struct SseSessions {
    open: Mutex<HashMap<String, Arc<SseSession>>>,
}

struct SseSession {
    stream: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    /// The client's version and capabilities, once it sent `initialize`.
    client: OnceLock<(ProtocolVersion, Arc<ClientCapabilities>)>,
}

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SseSession>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<Arc<SseSession>> {
        self.lock().get(id).cloned()
    }
}

/// Whether `uri` is a legacy SSE stream request (`…/sse`).
pub(super) fn is_stream_path(uri: &Uri) -> bool {
    uri.path().trim_end_matches('/').ends_with("/sse")
}

/// The `sessionId` of a legacy message POST, if the URI has one.
pub(super) fn session_param(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sessionId="))
}

impl HttpFront {
    /// `GET …/sse`: a new legacy session and its stream.
    pub(super) fn sse_open(&self) -> Reply {
        // Whoever knows the id can post into the session: it must be unguessable.
        let id = match self.rng.hex_id(16) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "legacy SSE session refused: no session id can be made");
                return plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: no session id can be made now",
                );
            }
        };
        let (stream, messages) = mpsc::unbounded_channel();
        {
            let mut open = self.sse_sessions.lock();
            if open.len() >= MAX_SESSIONS {
                tracing::warn!(
                    limit = MAX_SESSIONS,
                    "legacy SSE session refused: too many open"
                );
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable: too many open SSE sessions",
                );
            }
            let session = SseSession {
                stream: stream.clone(),
                client: OnceLock::new(),
            };
            open.insert(id.clone(), Arc::new(session));
        }
        tracing::debug!("legacy SSE session opened");
        self.relay_notices(
            interest::NoticeStream::Messages(stream),
            interest::Reader::Session(Arc::from(id.as_str())),
        );
        // The session ends with its stream: when the client goes away the stream is dropped,
        // which cancels this token.
        let closed = CancellationToken::new();
        let sessions = self.sse_sessions.clone();
        let (mux, prefs, inflight) = (self.mux.clone(), self.prefs.clone(), self.inflight.clone());
        let ended = closed.clone();
        let session_id = id.clone();
        tokio::spawn(async move {
            ended.cancelled().await;
            sessions.lock().remove(&session_id);
            inflight.cancel_session(&session_id);
            interest::release(&mux, prefs.forget(&session_id));
            tracing::debug!("legacy SSE session closed");
        });
        let endpoint = Bytes::from(format!("event: endpoint\ndata: message?sessionId={id}\n\n"));
        // Open while the session's senders live: the relay task and requests in flight hold
        // clones, the session map holds one until the stream is dropped.
        sse_reply(body::SseStream::open_ended(
            VecDeque::from([endpoint]),
            messages,
            closed.drop_guard(),
        ))
    }

    /// `POST …?sessionId=…`: one message of a legacy SSE session.
    pub(super) fn sse_post(
        &self,
        session_id: &str,
        bytes: &[u8],
        tool_limit: Option<ToolLimit>,
        caller: Option<Arc<crate::policy::Caller>>,
    ) -> Reply {
        let Some(session) = self.sse_sessions.get(session_id) else {
            return jsonrpc_refusal(
                StatusCode::NOT_FOUND,
                None,
                ErrorData::invalid_request(
                    "Session not found: the SSE stream of this sessionId is closed or on another replica; open a new one",
                    None,
                ),
            );
        };
        let message = match parse(bytes) {
            Ok(m) => m,
            Err(error) => return jsonrpc_refusal(StatusCode::BAD_REQUEST, None, error),
        };
        match message {
            ClientJsonRpcMessage::Request(r) => {
                let task = SseRequest {
                    mux: self.mux.clone(),
                    prefs: self.prefs.clone(),
                    answers: self.answers.clone(),
                    inflight: self.inflight.clone(),
                    session_id: Arc::from(session_id),
                    session,
                    tool_limit,
                    caller,
                };
                tokio::spawn(task.serve(r.id, r.request));
                accepted()
            }
            ClientJsonRpcMessage::Notification(n) => {
                if let ClientNotification::CancelledNotification(c) = n.notification {
                    if let Some(id) = c.params.request_id {
                        self.inflight.cancel(session_id, id);
                    }
                }
                accepted()
            }
            ClientJsonRpcMessage::Response(r) => self.sse_answer(session_id, r.id, Ok(r.result)),
            ClientJsonRpcMessage::Error(e) => match e.id {
                Some(id) => self.sse_answer(session_id, id, Err(e.error)),
                None => accepted(),
            },
        }
    }

    fn sse_answer(
        &self,
        session_id: &str,
        id: RequestId,
        answer: Result<rmcp::model::ClientResult, ErrorData>,
    ) -> Reply {
        match self.answers.answer(session_id, id, answer) {
            Delivery::Delivered => accepted(),
            Delivery::Unknown => jsonrpc_refusal(
                StatusCode::BAD_REQUEST,
                None,
                ErrorData::invalid_request(
                    "Bad Request: no question with this id is waiting for an answer",
                    None,
                ),
            ),
        }
    }
}

/// One request of a legacy SSE session, served on its own task; the answer
/// goes on the session's stream.
struct SseRequest {
    mux: Multiplexer,
    prefs: Arc<SessionPrefs>,
    answers: Arc<PendingAnswers>,
    inflight: Arc<Inflight>,
    session_id: Arc<str>,
    session: Arc<SseSession>,
    /// The embedder's per-tool limit, from the POST that carried the request.
    tool_limit: Option<ToolLimit>,
    /// Who sent this message, when the route has `mcpAuthorization` rules.
    caller: Option<Arc<crate::policy::Caller>>,
}

impl SseRequest {
    async fn serve(self, id: RequestId, request: ClientRequest) {
        let answer = match request {
            ClientRequest::InitializeRequest(init) => self.initialize(&init.params).await,
            request => self.call(&id, request).await,
        };
        let message = match answer {
            Ok(mut result) => {
                era::shape_result(&mut result, &Era::Legacy);
                ServerJsonRpcMessage::response(result, id)
            }
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        if self.session.stream.send(message).is_err() {
            tracing::debug!("legacy SSE answer dropped: the stream is closed");
        }
    }

    async fn initialize(
        &self,
        params: &rmcp::model::InitializeRequestParams,
    ) -> Result<ServerResult, ErrorData> {
        self.mux.server_config().await;
        let result = self.mux.negotiate_initialize(params)?;
        let client = (
            result.protocol_version.clone(),
            Arc::new(params.capabilities.clone()),
        );
        let _ = self.session.client.set(client);
        Ok(ServerResult::InitializeResult(result))
    }

    async fn call(
        &self,
        id: &RequestId,
        request: ClientRequest,
    ) -> Result<ServerResult, ErrorData> {
        let Some((version, capabilities)) = self.session.client.get().cloned() else {
            return Err(ErrorData::invalid_request(
                "the session has not been initialized: send initialize first",
                None,
            ));
        };
        let cancel = CancellationToken::new();
        let _registration =
            self.inflight
                .register(self.session_id.clone(), id.clone(), cancel.clone());
        let ctx = CallContext {
            cancel,
            progress_token: request.get_meta().get_progress_token(),
            downstream: Some(Arc::new(ResponseStream {
                messages: self.session.stream.clone(),
                answers: Some((self.answers.clone(), self.session_id.clone())),
            })),
            protocol_version: version,
            client_capabilities: capabilities,
            record: None,
            log_interest: self.prefs.log_interest(&self.session_id),
            tool_limit: self.tool_limit.clone(),
            caller: self.caller.clone(),
        };
        let own =
            interest::session_request(&self.prefs, &self.mux, &self.session_id, &request, &ctx)
                .await;
        let result = match own {
            Some(result) => result,
            None => self.mux.handle(request, &ctx).await,
        };
        interest::note_created_task(&self.prefs, &self.mux, &self.session_id, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_and_message_urls() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert!(is_stream_path(&uri("/mcp/sse")));
        assert!(is_stream_path(&uri("/mcp/sse/")));
        assert!(!is_stream_path(&uri("/mcp")));
        assert!(!is_stream_path(&uri("/mcp/ssex")));
        assert_eq!(
            session_param(&uri("/mcp/message?sessionId=ab12")),
            Some("ab12")
        );
        assert_eq!(
            session_param(&uri("/mcp/message?x=1&sessionId=cd")),
            Some("cd")
        );
        assert_eq!(session_param(&uri("/mcp/message")), None);
    }
}
