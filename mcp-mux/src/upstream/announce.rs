//! What a target says that concerns every client of the virtual server, not one call: its
//! lists changed, a log message of no call, a resource or task update.
//!
//! This layer only reports them; the layer above decides how clients see them (target
//! prefixes on names and URIs) and who hears them (`core::notices` implements [`Announce`]).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use rmcp::model::{
    LoggingMessageNotificationParam, PromptListChangedNotification,
    ResourceListChangedNotification, ServerNotification, TaskStatusNotificationParams,
    ToolListChangedNotification,
};

/// Which merged list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Changed {
    Tools,
    Prompts,
    Resources,
}

impl Changed {
    pub(crate) fn notification(self) -> ServerNotification {
        match self {
            Self::Tools => ServerNotification::ToolListChangedNotification(
                ToolListChangedNotification::default(),
            ),
            Self::Prompts => ServerNotification::PromptListChangedNotification(
                PromptListChangedNotification::default(),
            ),
            Self::Resources => ServerNotification::ResourceListChangedNotification(
                ResourceListChangedNotification::default(),
            ),
        }
    }
}

/// The receiver of a target's announcements for every client.
pub(crate) trait Announce: Send + Sync {
    /// The merged list `what` changed (a target's `list_changed`, or a target up or down).
    fn changed(&self, what: Changed);
    /// `target`'s log message as a client sees it (the logger may name the target).
    fn attribute(
        &self,
        target: &str,
        params: LoggingMessageNotificationParam,
    ) -> LoggingMessageNotificationParam;
    /// `target`'s log message that belongs to no call.
    fn log(&self, target: &str, params: LoggingMessageNotificationParam);
    /// `target`'s resource `uri` changed.
    fn resource_updated(&self, target: &str, uri: &str);
    /// `target`'s task status notice (`notifications/tasks`).
    fn task_status(&self, target: &str, params: TaskStatusNotificationParams);
}
