//! Notifications for every client of a virtual server, not for one request:
//! the merged lists changed. Sources are the targets' own `list_changed`
//! notifications and targets coming up or going down (which adds or removes
//! their tools from the merged lists). The HTTP front end relays them on each
//! legacy session's GET stream.
//!
//! A broadcast with a small buffer: a list-changed notice says "list again",
//! so a client that lags and misses some loses nothing it needs as long as it
//! gets one, which [`Notices::subscribe`]'s receivers report as a lag.

use rmcp::model::{
    PromptListChangedNotification, ResourceListChangedNotification, ServerNotification,
    ToolListChangedNotification,
};
use tokio::sync::broadcast;

/// Buffered notices per subscriber before it counts as lagging.
const BUFFER: usize = 64;

/// Which merged list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Changed {
    Tools,
    Prompts,
    Resources,
}

impl Changed {
    fn notification(self) -> ServerNotification {
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

/// The virtual server's broadcast of list changes.
pub(crate) struct Notices {
    tx: broadcast::Sender<ServerNotification>,
}

impl Default for Notices {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BUFFER).0,
        }
    }
}

impl Notices {
    /// Tells every subscribed client that `what` changed (nobody listening is fine).
    pub(crate) fn changed(&self, what: Changed) {
        let _ = self.tx.send(what.notification());
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ServerNotification> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_each_change() {
        let notices = Notices::default();
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
}
