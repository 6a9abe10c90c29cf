//! Notifications for every client of a virtual server, not for one request:
//! * the merged lists changed: a target's own `list_changed`, or a target coming up or
//!   going down (which adds or removes its tools from the merged lists);
//! * a target's log message that belongs to no call ([`crate::upstream::logging`]);
//! * a resource changed (`notifications/resources/updated`, the URI as clients know it);
//! * a task's status changed (`notifications/tasks`, the task id as clients know it).
//!
//! The HTTP front end relays them on each legacy session's GET stream, log messages only to
//! sessions that set a level, resource updates only to sessions subscribed to the URI, and
//! task notices only to the session that created the task.
//!
//! A broadcast with a bounded buffer: a list-changed notice says "list again", so a client
//! that lags and misses some loses nothing it needs as long as it gets one, which
//! [`Notices::subscribe`]'s receivers report as a lag (and the relay logs).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use rmcp::model::{
    LoggingMessageNotification, LoggingMessageNotificationParam, ResourceUpdatedNotification,
    ResourceUpdatedNotificationParam, ServerNotification, TaskStatusNotification,
    TaskStatusNotificationParams,
};
use tokio::sync::broadcast;

use crate::core::naming;
use crate::upstream::announce::Announce;
pub(crate) use crate::upstream::announce::Changed;
use crate::upstream::logging;

/// Buffered notices per subscriber before it counts as lagging.
const BUFFER: usize = 256;

/// The virtual server's broadcast of notifications for every client.
pub(crate) struct Notices {
    tx: broadcast::Sender<ServerNotification>,
    /// Several targets: names and URIs the client sees carry the target's.
    prefixed: bool,
}

impl Notices {
    /// The broadcast of a virtual server with several targets (`prefixed`) or one.
    pub(crate) fn new(prefixed: bool) -> Self {
        Self {
            tx: broadcast::channel(BUFFER).0,
            prefixed,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ServerNotification> {
        self.tx.subscribe()
    }
}

impl Announce for Notices {
    /// A log message from `target` as a client sees it (the logger names the target when
    /// there are several).
    fn attribute(
        &self,
        target: &str,
        params: LoggingMessageNotificationParam,
    ) -> LoggingMessageNotificationParam {
        logging::attributed(target, self.prefixed, params)
    }

    /// Offers `target`'s log message that belongs to no call to the clients that asked for logs.
    fn log(&self, target: &str, params: LoggingMessageNotificationParam) {
        let params = self.attribute(target, params);
        let _ = self.tx.send(ServerNotification::LoggingMessageNotification(
            LoggingMessageNotification::new(params),
        ));
    }

    /// Tells the clients subscribed to it that `target`'s resource `uri` changed.
    fn resource_updated(&self, target: &str, uri: &str) {
        let uri = if self.prefixed {
            naming::wrap_uri(target, uri)
        } else {
            uri.to_owned()
        };
        let _ = self
            .tx
            .send(ServerNotification::ResourceUpdatedNotification(
                ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri)),
            ));
    }

    /// Offers `target`'s task status notice (`notifications/tasks`), with the task id as
    /// clients know it; only the session whose call created the task takes it.
    fn task_status(&self, target: &str, mut params: TaskStatusNotificationParams) {
        if self.prefixed {
            let id = &mut params.task.task.task_id;
            *id = naming::wrap_task_id(target, id);
        }
        let _ = self.tx.send(ServerNotification::TaskStatusNotification(
            TaskStatusNotification::new(params),
        ));
    }

    /// Tells every subscribed client that `what` changed (nobody listening is fine).
    fn changed(&self, what: Changed) {
        let _ = self.tx.send(what.notification());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_each_change() {
        let notices = Notices::new(true);
        let mut rx = notices.subscribe();
        notices.changed(Changed::Tools);
        notices.changed(Changed::Prompts);
        assert!(matches!(
            rx.recv().await,
            Ok(ServerNotification::ToolListChangedNotification(_))
        ));
        assert!(matches!(
            rx.recv().await,
            Ok(ServerNotification::PromptListChangedNotification(_))
        ));
    }

    #[tokio::test]
    async fn log_messages_and_updates_name_their_target() {
        let notices = Notices::new(true);
        let mut rx = notices.subscribe();
        notices.log(
            "alpha",
            LoggingMessageNotificationParam::new(
                rmcp::model::LoggingLevel::Info,
                serde_json::json!("x"),
            ),
        );
        notices.resource_updated("alpha", "file:///a");
        match rx.recv().await {
            Ok(ServerNotification::LoggingMessageNotification(n)) => {
                assert_eq!(n.params.logger.as_deref(), Some("alpha"));
            }
            other => panic!("expected a log message, got {other:?}"),
        }
        match rx.recv().await {
            Ok(ServerNotification::ResourceUpdatedNotification(n)) => {
                assert_eq!(
                    naming::unwrap_uri(&n.params.uri),
                    Some(("alpha", "file:///a"))
                );
            }
            other => panic!("expected a resource update, got {other:?}"),
        }
    }
}
