//! [`OrderedRelay`]: an upstream transport that relays a target's progress and log messages
//! as they are read, in order with everything else the target sends.
//!
//! rmcp hands notifications to the `ClientHandler` on spawned tasks but delivers responses
//! directly, so a tool's last progress notification or log message could reach the handler
//! after its result, when the call is over and nobody is listening. Relaying here, on the
//! read path, keeps the target's order: everything it sent before the result is with the
//! client before the result. Messages still go on to rmcp (whose request timeouts watch
//! progress).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use std::sync::Arc;

use rmcp::model::{JsonRpcMessage, ServerNotification};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleClient;

use crate::upstream::announce::Announce;
use crate::upstream::logging;
use crate::upstream::progress::ProgressRouter;
use crate::upstream::questions::QuestionRouter;

/// A target's transport with progress and log messages relayed on its read path.
pub(crate) struct OrderedRelay<T> {
    pub(crate) inner: T,
    pub(crate) target: String,
    pub(crate) progress: Arc<ProgressRouter>,
    /// The calls in flight: a log message over a transport that cannot say which call it
    /// belongs to goes to the only call in flight, if there is exactly one.
    pub(crate) calls: Arc<QuestionRouter>,
    pub(crate) notices: Arc<dyn Announce>,
}

impl<T> Transport<RoleClient> for OrderedRelay<T>
where
    T: Transport<RoleClient>,
{
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await?;
        if let JsonRpcMessage::Notification(n) = &message {
            match &n.notification {
                ServerNotification::ProgressNotification(p) => {
                    self.progress.relay(&self.target, p.params.clone()).await;
                }
                ServerNotification::LoggingMessageNotification(m) => {
                    let call = self.calls.sole_call(&self.target);
                    let call = call.as_ref().map(|a| (&*a.downstream, a.log_interest));
                    logging::relay(&*self.notices, &self.target, m.params.clone(), call).await;
                }
                _ => {}
            }
        }
        Some(message)
    }

    fn close(&mut self) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
