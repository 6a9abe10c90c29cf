//! `subscriptions/listen` for 2026-07-28 clients: a long-lived response stream with the list
//! changes and resource updates the client asked for (that era's replacement for a session's
//! GET stream and `resources/subscribe`).
//!
//! The stream opens with `notifications/subscriptions/acknowledged`, the part of the request
//! the gateway honours: the list changes its merged capabilities announce, and the resources
//! whose targets took the subscription. Every notification on it carries the listen request's
//! id in `_meta` (`io.modelcontextprotocol/subscriptionId`). It lasts until the client closes
//! it; if the virtual server goes away first (a reload), it ends with a `complete` result.
//! Resource subscriptions are held with the targets for as long as the stream is open.

use std::collections::VecDeque;
use std::sync::Arc;

use rmcp::model::{
    GetMeta as _, RequestId, ServerJsonRpcMessage, ServerNotification, ServerResult,
    SubscriptionFilter, SubscriptionsAcknowledgedNotification,
    SubscriptionsAcknowledgedNotificationParams, SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::interest::{NoticeStream, Reader};
use super::{body, sse_reply, HttpFront, Reply};
use crate::core::context::{CallContext, CallRecord};

/// One `subscriptions/listen` stream: what it accepted, and its request id.
pub(super) struct Listener {
    id: RequestId,
    accepted: SubscriptionFilter,
}

impl Listener {
    /// `n`, tagged with this subscription's id, if the client asked for it.
    pub(super) fn admit(&self, mut n: ServerNotification) -> Option<ServerNotification> {
        let yes = |flag: Option<bool>| flag == Some(true);
        let wanted = match &n {
            ServerNotification::ToolListChangedNotification(_) => {
                yes(self.accepted.tools_list_changed)
            }
            ServerNotification::PromptListChangedNotification(_) => {
                yes(self.accepted.prompts_list_changed)
            }
            ServerNotification::ResourceListChangedNotification(_) => {
                yes(self.accepted.resources_list_changed)
            }
            ServerNotification::ResourceUpdatedNotification(u) => self
                .accepted
                .resource_subscriptions
                .as_ref()
                .is_some_and(|uris| uris.contains(&u.params.uri)),
            // Log messages travel with the request that asked for them in this era.
            _ => false,
        };
        if !wanted {
            return None;
        }
        n.get_meta_mut().set_subscription_id(self.id.clone());
        Some(n)
    }

    /// The graceful end of the stream: a `complete` result for the listen request.
    pub(super) fn farewell(&self) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(
            ServerResult::SubscriptionsListenResult(SubscriptionsListenResult::complete(
                self.id.clone(),
            )),
            self.id.clone(),
        )
    }

    /// The resource subscriptions held with targets for this stream.
    pub(super) fn into_held(self) -> Vec<String> {
        self.accepted.resource_subscriptions.unwrap_or_default()
    }
}

impl HttpFront {
    /// Opens a `subscriptions/listen` stream.
    pub(super) async fn listen(
        &self,
        id: RequestId,
        params: SubscriptionsListenRequestParams,
        record: &Arc<CallRecord>,
        caller: Option<Arc<crate::policy::Caller>>,
    ) -> Reply {
        let capabilities = self.mux.server_config().await.capabilities;
        let mut accepted = params.notifications.supported_by(&capabilities);
        if let Some(uris) = accepted.resource_subscriptions.take() {
            let ctx = CallContext {
                record: Some(record.clone()),
                caller,
                ..CallContext::detached()
            };
            let mut held = Vec::new();
            for uri in uris {
                match self.mux.subscribe(&uri, &ctx).await {
                    Ok(_) => held.push(uri),
                    Err(e) => {
                        tracing::info!(%uri, error = %e.message, "resource left out of a subscriptions/listen stream");
                    }
                }
            }
            accepted.resource_subscriptions = (!held.is_empty()).then_some(held);
        }
        let mut ack = ServerNotification::SubscriptionsAcknowledgedNotification(
            SubscriptionsAcknowledgedNotification::new(
                SubscriptionsAcknowledgedNotificationParams::new(accepted.clone()),
            ),
        );
        ack.get_meta_mut().set_subscription_id(id.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(ServerJsonRpcMessage::notification(ack));
        self.relay_notices(
            NoticeStream::Messages(tx),
            Reader::Listener(Listener { id, accepted }),
        );
        sse_reply(body::SseStream::open_ended(
            VecDeque::new(),
            rx,
            CancellationToken::new().drop_guard(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{
        PromptListChangedNotification, ResourceUpdatedNotification,
        ResourceUpdatedNotificationParam, ToolListChangedNotification,
    };

    #[test]
    fn a_listener_gets_what_it_accepted_tagged_with_its_id() {
        let listener = Listener {
            id: RequestId::Number(4),
            accepted: SubscriptionFilter::builder()
                .tools_list_changed()
                .resource_subscription("x://a")
                .build(),
        };
        let tools =
            ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default());
        let admitted = listener.admit(tools).expect("tools accepted");
        assert_eq!(
            admitted.get_meta().subscription_id(),
            Some(RequestId::Number(4))
        );
        let prompts = ServerNotification::PromptListChangedNotification(
            PromptListChangedNotification::default(),
        );
        assert!(listener.admit(prompts).is_none());
        let updated = |uri: &str| {
            ServerNotification::ResourceUpdatedNotification(ResourceUpdatedNotification::new(
                ResourceUpdatedNotificationParam::new(uri),
            ))
        };
        assert!(listener.admit(updated("x://a")).is_some());
        assert!(listener.admit(updated("x://b")).is_none());
        assert_eq!(listener.into_held(), vec!["x://a".to_owned()]);
    }
}
