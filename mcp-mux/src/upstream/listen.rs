//! List changes and resource updates from 2026-07-28 targets.
//!
//! A modern target sends them only on a `subscriptions/listen` stream, whose filter names the
//! list changes and the resources wanted. Each modern connection keeps one such stream open:
//! the list changes the target announces, and every resource some client session is
//! subscribed to (see `interest`). When that set changes the stream is replaced by one with
//! the new filter. What arrives is handled as a legacy target's notifications are: cached
//! pages dropped and `list_changed` announced, resource updates relayed to the subscribers.

use rmcp::model::{ServerCapabilities, ServerNotification, SubscriptionFilter};
use tokio_util::sync::CancellationToken;

use super::{Connection, Upstream};
use crate::upstream::announce::Changed;
use crate::upstream::list_cache::list_changed;

/// The listen stream of the current connection, if any: cancelling it closes the stream.
pub(crate) type Listening = std::sync::Mutex<Option<CancellationToken>>;

/// The notifications to ask a target with `capabilities` for, resources `uris` included.
fn filter(capabilities: &ServerCapabilities, uris: Vec<String>) -> SubscriptionFilter {
    let mut builder = SubscriptionFilter::builder();
    let announces = |c: Option<Option<bool>>| c.flatten() == Some(true);
    if announces(capabilities.tools.as_ref().map(|t| t.list_changed)) {
        builder = builder.tools_list_changed();
    }
    if announces(capabilities.prompts.as_ref().map(|p| p.list_changed)) {
        builder = builder.prompts_list_changed();
    }
    if announces(capabilities.resources.as_ref().map(|r| r.list_changed)) {
        builder = builder.resources_list_changed();
    }
    if !uris.is_empty() {
        builder = builder.resource_subscriptions(uris);
    }
    builder.build()
}

impl Upstream {
    /// (Re)opens `conn`'s listen stream with the current filter, closing the previous one.
    /// Nothing for legacy connections, or when there is nothing to listen for.
    pub(super) fn relisten(&self, conn: &Connection) {
        let mut listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = listening.take() {
            previous.cancel();
        }
        let Some(info) = conn.info.as_ref().filter(|_| conn.modern) else {
            return;
        };
        let uris = if conn.takes_subscriptions() {
            self.lock_subscriptions().keys().cloned().collect()
        } else {
            Vec::new()
        };
        let filter = filter(&info.capabilities, uris);
        if filter == SubscriptionFilter::default() {
            return;
        }
        let stop = CancellationToken::new();
        *listening = Some(stop.clone());
        let peer = conn.peer.clone();
        let (target, lists, notices) = (
            self.name().to_owned(),
            self.lists.clone(),
            self.notices.clone(),
        );
        tokio::spawn(async move {
            let mut subscription = tokio::select! {
                s = peer.listen(filter) => match s {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(mcp_target = %target, error = %e, "subscriptions/listen refused; list changes of this target are seen only when its cached lists expire");
                        return;
                    }
                },
                () = stop.cancelled() => return,
            };
            loop {
                let next = tokio::select! {
                    n = subscription.next() => n,
                    () = stop.cancelled() => break,
                };
                match next {
                    Ok(Some(ServerNotification::ToolListChangedNotification(_))) => {
                        list_changed(&lists, &*notices, Changed::Tools);
                    }
                    Ok(Some(ServerNotification::PromptListChangedNotification(_))) => {
                        list_changed(&lists, &*notices, Changed::Prompts);
                    }
                    Ok(Some(ServerNotification::ResourceListChangedNotification(_))) => {
                        list_changed(&lists, &*notices, Changed::Resources);
                    }
                    Ok(Some(ServerNotification::ResourceUpdatedNotification(u))) => {
                        notices.resource_updated(&target, &u.params.uri);
                    }
                    Ok(Some(other)) => {
                        tracing::debug!(mcp_target = %target, notification = ?other, "notification on the listen stream not relayed");
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(mcp_target = %target, error = %e, "listen stream ended");
                        break;
                    }
                }
            }
            let _ = subscription.cancel().await;
        });
    }
}
