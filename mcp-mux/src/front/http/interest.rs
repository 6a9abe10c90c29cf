//! A legacy session's standing requests, kept by the endpoint ([`SessionPrefs`]):
//! its log level, its resource subscriptions, and the notices for every client
//! that its stream (the Streamable HTTP GET stream, or the legacy SSE stream)
//! carries accordingly.

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use std::sync::Arc;

use rmcp::model::{ClientRequest, ErrorData, ServerJsonRpcMessage, ServerResult};
use tokio::sync::{broadcast, mpsc};

use super::listen::Listener;
use super::prefs::{Released, SessionPrefs};
use super::resume::{Replay, Replays};
use super::HttpFront;
use crate::core::context::CallContext;
use crate::core::mux::Multiplexer;

/// Whether [`session_request`] may serve `request` (the rest skip it without awaiting it).
pub(super) fn concerns_session(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::SetLevelRequest(_)
            | ClientRequest::SubscribeRequest(_)
            | ClientRequest::UnsubscribeRequest(_)
    )
}

/// Serves `request` if it is about the session itself rather than a target's feature:
/// `resources/subscribe` and `resources/unsubscribe` are answered here (after the target
/// was asked, when this session is the first or last on the URI). `logging/setLevel` is
/// recorded and then served by the multiplexer (`None`), which asks the targets.
pub(super) async fn session_request(
    prefs: &SessionPrefs,
    mux: &Multiplexer,
    session: &str,
    request: &ClientRequest,
    ctx: &CallContext,
) -> Option<Result<ServerResult, ErrorData>> {
    match request {
        ClientRequest::SetLevelRequest(r) => {
            release(mux, prefs.set_level(session, r.params.level));
            None
        }
        ClientRequest::SubscribeRequest(r) => {
            let uri = &r.params.uri;
            if prefs.is_subscribed(session, uri) {
                return Some(Ok(ServerResult::empty(())));
            }
            let result = mux.subscribe(uri, ctx).await;
            if result.is_ok() {
                release(mux, prefs.subscribe(session, uri));
            }
            Some(result)
        }
        ClientRequest::UnsubscribeRequest(r) => {
            let uri = &r.params.uri;
            if !prefs.unsubscribe(session, uri) {
                return Some(Ok(ServerResult::empty(())));
            }
            Some(mux.unsubscribe(uri, ctx).await)
        }
        _ => None,
    }
}

/// Remembers the task a call of `session` created, when `result` is one, so that the task's
/// notices reach the session's stream.
pub(super) fn note_created_task(
    prefs: &SessionPrefs,
    mux: &Multiplexer,
    session: &str,
    result: &Result<ServerResult, ErrorData>,
) {
    if let Ok(ServerResult::CreateTaskResult(created)) = result {
        release(mux, prefs.created_task(session, &created.task.task_id));
    }
}

/// Releases the subscriptions of a session that is gone, in the background.
pub(super) fn release(mux: &Multiplexer, uris: Released) {
    if uris.is_empty() {
        return;
    }
    let mux = mux.clone();
    tokio::spawn(async move {
        let ctx = CallContext::detached();
        for uri in uris {
            if let Err(e) = mux.unsubscribe(&uri, &ctx).await {
                tracing::debug!(%uri, error = %e.message, "subscription of a closed session not released upstream");
            }
        }
    });
}

impl HttpFront {
    /// Relays the virtual server's notices for every client to `stream`, as far as `reader`
    /// wants them, until the client goes away (for a resumable stream: and did not come back
    /// within the window) or the virtual server does (the broadcast closes).
    pub(super) fn relay_notices(&self, stream: NoticeStream, reader: Reader) {
        let mut notices = self.mux.list_changes();
        let prefs = self.prefs.clone();
        let mux = self.mux.clone();
        tokio::spawn(async move {
            let ended = stream.ended();
            tokio::pin!(ended);
            let server_gone = loop {
                tokio::select! {
                    n = notices.recv() => match n {
                        Ok(n) => {
                            let admitted = match &reader {
                                Reader::Session(session) => prefs.wants(session, &n).then_some(n),
                                Reader::Listener(listener) => listener.admit(n),
                            };
                            if let Some(n) = admitted {
                                if !stream.send(ServerJsonRpcMessage::notification(n)) {
                                    break false;
                                }
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::info!(missed, "MCP notice stream lagged; notices for every client were skipped (list changes coalesce, log messages and resource updates are lost)");
                        }
                        Err(broadcast::error::RecvError::Closed) => break true,
                    },
                    () = &mut ended => break false,
                }
            };
            if let Reader::Listener(listener) = reader {
                if server_gone {
                    stream.send(listener.farewell());
                }
                release(&mux, listener.into_held());
            }
            stream.close();
        });
    }

    /// Forgets a session that ended, releasing its subscriptions.
    pub(super) fn forget_session(&self, session: &str) {
        release(&self.mux, self.prefs.forget(session));
    }
}

/// Who reads a stream of notices, which decides what it gets.
pub(super) enum Reader {
    /// A legacy session: list changes, and the log messages and resource updates it asked for.
    Session(Arc<str>),
    /// A 2026-07-28 `subscriptions/listen` request.
    Listener(Listener),
}

/// A stream of notices for every client.
pub(super) enum NoticeStream {
    /// A legacy SSE (2024-11-05) session's stream: not resumable.
    Messages(mpsc::UnboundedSender<ServerJsonRpcMessage>),
    /// A Streamable HTTP GET stream: resumable.
    Replay(Arc<Replays>, Arc<Replay>),
}

impl NoticeStream {
    /// Sends `message`; false once the stream is gone for good.
    fn send(&self, message: ServerJsonRpcMessage) -> bool {
        match self {
            Self::Messages(tx) => tx.send(message).is_ok(),
            Self::Replay(_, replay) => {
                replay.push(&message);
                true
            }
        }
    }

    /// Resolves when nobody will read the stream any more.
    async fn ended(&self) {
        match self {
            Self::Messages(tx) => tx.closed().await,
            Self::Replay(_, replay) => replay.abandoned().await,
        }
    }

    fn close(&self) {
        if let Self::Replay(replays, replay) = self {
            replays.retire(replay);
        }
    }
}
