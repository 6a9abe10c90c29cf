//! The downstream call an upstream request serves, as this layer sees it: where the
//! target's progress, log messages and questions about the request go, and what ends it.
//!
//! The layer above builds a [`Call`] from its own call context
//! (`core::context::CallContext::upstream`); the fronts implement [`Downstream`] for their
//! transports. The trait is declared here, at the bottom, because the routers of this layer
//! ([`super::progress`], [`super::questions`]) hold downstreams while requests are in flight,
//! and imports go one way only (front → core → upstream).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientResult, ErrorData, Notification, ProgressNotificationParam,
    ProgressToken, ServerNotification, ServerRequest,
};
use tokio_util::sync::CancellationToken;

use super::logging::LogInterest;
use super::questions::Asker;

/// A boxed future, so [`Downstream`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where notifications and questions (elicitation, sampling, roots) for one downstream
/// request go. Each front implements it: the rmcp peer of a session, the response stream of
/// one HTTP request, the rounds of a 2026-07-28 call.
pub trait Downstream: Send + Sync {
    /// Sends `n`; false when the client is gone.
    fn notify(&self, n: ServerNotification) -> BoxFuture<'_, bool>;

    /// Asks the client `request` and waits for its answer, or for `cancel`.
    fn ask<'a>(
        &'a self,
        request: ServerRequest,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ClientResult, ErrorData>>;

    /// Sends a progress notification; false when the client is gone.
    fn progress(&self, p: ProgressNotificationParam) -> BoxFuture<'_, bool> {
        self.notify(ServerNotification::ProgressNotification(Notification::new(
            p,
        )))
    }
}

/// What an upstream request knows of the downstream call it serves.
#[derive(Clone)]
pub(crate) struct Call {
    /// Cancelled when the client cancels the request or goes away.
    pub(crate) cancel: CancellationToken,
    /// The client's progress token, if it asked for progress.
    pub(crate) progress_token: Option<ProgressToken>,
    /// Where the call's notifications and questions go; none for a detached call.
    pub(crate) downstream: Option<Arc<dyn Downstream>>,
    /// What the client said it can do (sampling, elicitation, roots).
    pub(crate) capabilities: Arc<ClientCapabilities>,
    /// Which of the target's log messages the client wants with this call.
    pub(crate) log_interest: LogInterest,
}

impl Call {
    /// Where this call's progress goes, if it asked for progress and has a client.
    pub(crate) fn progress_route(&self) -> Option<(Arc<dyn Downstream>, ProgressToken)> {
        Some((self.downstream.clone()?, self.progress_token.clone()?))
    }

    /// Who to ask the target's questions about this call, if it has a client.
    pub(crate) fn asker(&self) -> Option<Asker> {
        Some(Asker {
            downstream: self.downstream.clone()?,
            capabilities: self.capabilities.clone(),
            cancel: self.cancel.clone(),
            log_interest: self.log_interest,
        })
    }
}

/// Resolves when `call` is cancelled (the client cancelled or went away); never without one.
pub(crate) async fn cancelled(call: Option<&Call>) {
    match call {
        Some(c) => c.cancel.cancelled().await,
        None => std::future::pending().await,
    }
}
