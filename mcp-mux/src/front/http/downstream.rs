//! The HTTP front's [`Downstream`]s: where a target's notifications and questions about one
//! call go when the client reached the gateway over HTTP.
//!
//! * [`ResponseStream`]: the SSE response of one legacy POST (or of a legacy HTTP+SSE
//!   session's stream). A legacy session's questions are asked on it and answered by a POST
//!   of their own under the same session id ([`crate::front::answers`]).
//! * [`CallRounds`]: a 2026-07-28 call, whose response changes at each MRTR round trip and
//!   whose questions park it ([`super::mrtr`]).

use std::sync::Arc;

use rmcp::model::{
    ClientResult, ErrorData, ServerJsonRpcMessage, ServerNotification, ServerRequest,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::mrtr::Rounds;
use crate::core::context::Downstream;
use crate::front::answers::PendingAnswers;
use crate::upstream::call::BoxFuture;

fn gone() -> ErrorData {
    ErrorData::internal_error("the client went away before answering", None)
}

/// The SSE response stream of one HTTP request, and how the client's answers to questions
/// asked on it come back.
pub(crate) struct ResponseStream {
    /// Unbounded because the sender is an upstream connection's task, which must never
    /// wait on a slow client; the stream is dropped with its request.
    pub(crate) messages: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    /// A legacy session's pending questions and its id; none for a client that cannot be
    /// asked (a stateless request).
    pub(crate) answers: Option<(Arc<PendingAnswers>, Arc<str>)>,
}

impl Downstream for ResponseStream {
    fn notify(&self, n: ServerNotification) -> BoxFuture<'_, bool> {
        let sent = self
            .messages
            .send(ServerJsonRpcMessage::notification(n))
            .is_ok();
        Box::pin(async move { sent })
    }

    fn ask<'a>(
        &'a self,
        request: ServerRequest,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ClientResult, ErrorData>> {
        Box::pin(async move {
            let Some((pending, session)) = &self.answers else {
                return Err(ErrorData::invalid_request(
                    "this client cannot be asked questions",
                    None,
                ));
            };
            let (id, answer) = pending.ask(session)?;
            if self
                .messages
                .send(ServerJsonRpcMessage::request(request, id.clone()))
                .is_err()
            {
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
        })
    }
}

/// A 2026-07-28 call's rounds as a downstream.
pub(crate) struct CallRounds(pub(crate) Arc<Rounds>);

impl Downstream for CallRounds {
    fn notify(&self, n: ServerNotification) -> BoxFuture<'_, bool> {
        let sent = self.0.notify(ServerJsonRpcMessage::notification(n));
        Box::pin(async move { sent })
    }

    fn ask<'a>(
        &'a self,
        request: ServerRequest,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ClientResult, ErrorData>> {
        Box::pin(self.0.ask(request, cancel))
    }
}
