//! [`CallContext`]: what one downstream request brings to the multiplexer,
//! independent of how the client reached it.
//!
//! The multiplexer is served two ways: by our own Streamable HTTP front end
//! ([`crate::front::http`]), which hands notifications to the response stream of the
//! request that caused them, and as an rmcp `ServerHandler` (in-process use,
//! stdio), which sends them through the rmcp peer. [`Downstream`] is that
//! choice; everything above it is shared.

use std::sync::{Arc, OnceLock};

use rmcp::model::{
    ClientCapabilities, ClientResult, ErrorData, ProgressNotificationParam, ProgressToken,
    ProtocolVersion, ServerJsonRpcMessage, ServerNotification, ServerRequest,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::Peer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::logging::LogInterest;
use crate::front::answers::PendingAnswers;
use crate::front::http::mrtr::Rounds;

/// Where notifications and questions (elicitation, sampling) for one
/// downstream request go.
#[derive(Clone)]
pub enum Downstream {
    /// An rmcp session (the multiplexer served as a `ServerHandler`).
    Peer(Peer<RoleServer>),
    /// The response stream of one HTTP request.
    Stream(StreamDownstream),
}

/// The SSE response stream of one HTTP request, and how the client's answers
/// to questions asked on it come back.
#[derive(Clone)]
pub struct StreamDownstream {
    pub(crate) messages: Sink,
    /// A legacy session's questions are asked on the stream and answered by a
    /// POST under the same session id.
    pub(crate) answers: Option<(Arc<PendingAnswers>, Arc<str>)>,
}

/// Where a request's messages go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// One response stream. Unbounded because the sender is an upstream
    /// connection's task, which must never wait on a slow client; the stream
    /// is dropped with its request.
    Direct(mpsc::UnboundedSender<ServerJsonRpcMessage>),
    /// A 2026-07-28 call, whose response changes at each MRTR round trip
    /// (and whose questions park it, see [`crate::front::http::mrtr`]).
    Rounds(Arc<Rounds>),
}

impl Sink {
    fn send(&self, message: ServerJsonRpcMessage) -> bool {
        match self {
            Self::Direct(tx) => tx.send(message).is_ok(),
            Self::Rounds(r) => r.notify(message),
        }
    }
}

impl Downstream {
    /// Sends `n`; false when the client is gone.
    pub(crate) async fn notify(&self, n: ServerNotification) -> bool {
        match self {
            Self::Peer(peer) => peer.send_notification(n).await.is_ok(),
            Self::Stream(s) => s.messages.send(ServerJsonRpcMessage::notification(n)),
        }
    }

    pub(crate) async fn progress(&self, p: ProgressNotificationParam) -> bool {
        self.notify(ServerNotification::ProgressNotification(
            rmcp::model::Notification::new(p),
        ))
        .await
    }

    /// Asks the client `request` and waits for its answer, or for `cancel`.
    pub(crate) async fn ask(
        &self,
        request: ServerRequest,
        cancel: &CancellationToken,
    ) -> Result<ClientResult, ErrorData> {
        let gone = || ErrorData::internal_error("the client went away before answering", None);
        match self {
            Self::Peer(peer) => tokio::select! {
                r = peer.send_request(request) => r.map_err(|e| match e {
                    rmcp::ServiceError::McpError(e) => e,
                    other => ErrorData::internal_error(format!("asking the client failed: {other}"), None),
                }),
                () = cancel.cancelled() => Err(gone()),
            },
            Self::Stream(s) => match (&s.answers, &s.messages) {
                (Some((pending, session)), messages) => {
                    let (id, answer) = pending.ask(session)?;
                    if !messages.send(ServerJsonRpcMessage::request(request, id.clone())) {
                        pending.forget(session, &id);
                        return Err(gone());
                    }
                    tokio::select! {
                        a = answer => a.unwrap_or_else(|_| Err(gone())),
                        () = cancel.cancelled() => {
                            pending.forget(session, &id);
                            Err(gone())
                        }
                    }
                }
                (None, Sink::Rounds(rounds)) => rounds.ask(request, cancel).await,
                (None, Sink::Direct(_)) => Err(ErrorData::invalid_request(
                    "this client cannot be asked questions",
                    None,
                )),
            },
        }
    }
}

/// What the multiplexer needs from the downstream request it serves.
#[derive(Clone)]
pub struct CallContext {
    /// Cancelled when the client cancels the request or goes away.
    pub cancel: CancellationToken,
    /// The client's progress token, if it asked for progress.
    pub progress_token: Option<ProgressToken>,
    /// Where progress and other request-scoped notifications go.
    pub downstream: Option<Downstream>,
    /// The protocol version the client speaks.
    pub protocol_version: ProtocolVersion,
    /// What the client said it can do (sampling, elicitation, roots).
    pub client_capabilities: Arc<ClientCapabilities>,
    /// Filled in with the target that served the request, for logs.
    pub record: Option<Arc<CallRecord>>,
    /// Which of the targets' log messages the client wants relayed with this request.
    pub log_interest: LogInterest,
}

/// What the access log says about one MCP request: its method, the tool,
/// prompt or resource it names, and (once routed) the target that served it.
/// The HTTP front end fills the [`RecordSlot`] it finds in the request's
/// extensions, so the record is there even if the client leaves early.
#[derive(Debug, Default)]
pub struct CallRecord {
    /// `tools/call`, `tools/list`, `initialize`, a notification's method...
    pub method: String,
    /// The tool or prompt name, or resource URI, as the client sent it.
    pub name: Option<String>,
    target: OnceLock<String>,
}

/// Put in a request's extensions by the embedder (the gateway's access log);
/// the HTTP front end sets it as soon as it has parsed the message.
#[derive(Debug, Clone, Default)]
pub struct RecordSlot(pub Arc<OnceLock<Arc<CallRecord>>>);

impl RecordSlot {
    /// The record, once the message was parsed.
    pub fn get(&self) -> Option<&CallRecord> {
        self.0.get().map(|r| &**r)
    }
}

impl CallRecord {
    /// A record of a request for `method` naming `name`.
    pub fn new(method: impl Into<String>, name: Option<String>) -> Self {
        Self {
            method: method.into(),
            name,
            target: OnceLock::new(),
        }
    }

    /// The target that served the request, once routed.
    pub fn target(&self) -> Option<&str> {
        self.target.get().map(String::as_str)
    }

    pub(crate) fn set_target(&self, target: &str) {
        let _ = self.target.set(target.to_owned());
    }
}

impl CallContext {
    /// A context with no client attached: nothing is relayed, nothing cancels.
    pub fn detached() -> Self {
        Self {
            cancel: CancellationToken::new(),
            progress_token: None,
            downstream: None,
            protocol_version: ProtocolVersion::LATEST_WITH_INITIALIZE,
            client_capabilities: Arc::default(),
            record: None,
            log_interest: LogInterest::Unset,
        }
    }

    /// The context of a request that arrived through rmcp.
    pub fn from_rmcp(ctx: &RequestContext<RoleServer>) -> Self {
        Self {
            cancel: ctx.ct.clone(),
            progress_token: ctx.meta.get_progress_token(),
            downstream: Some(Downstream::Peer(ctx.peer.clone())),
            protocol_version: ctx
                .protocol_version()
                .unwrap_or(ProtocolVersion::LATEST_WITH_INITIALIZE),
            client_capabilities: Arc::new(ctx.client_capabilities().unwrap_or_default()),
            record: None,
            log_interest: LogInterest::Unset,
        }
    }

    /// Notes that `target` serves this request.
    pub(crate) fn routed_to(&self, target: &str) {
        if let Some(r) = &self.record {
            r.set_target(target);
        }
    }

    /// Where this request's progress goes, if it asked for progress and has a client.
    pub(crate) fn progress_route(&self) -> Option<(Downstream, ProgressToken)> {
        Some((self.downstream.clone()?, self.progress_token.clone()?))
    }
}
