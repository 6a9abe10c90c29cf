//! Log messages from targets (`notifications/message`) and the levels clients ask for.
//!
//! A target's log message goes to the client whose call it belongs to, when the gateway can
//! tell: it came on that call's response stream (Streamable HTTP targets), or it came while
//! that call was the only one in flight on the target (stdio, legacy SSE and in-process
//! targets, whose messages carry no request id). Anything else is the target talking about
//! itself; it is offered to every legacy session that asked for logs with `logging/setLevel`
//! (on its GET stream, see `core::notices`).
//!
//! Levels are filtered at the gateway, per client, because one upstream connection serves
//! every client: the target is asked (`logging/setLevel`) for the most verbose level any
//! client wanted, and each client gets only what its own level lets through.

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use std::sync::atomic::{AtomicU8, Ordering};

use rmcp::model::{
    LoggingLevel, LoggingMessageNotification, LoggingMessageNotificationParam, ServerNotification,
};

use crate::upstream::announce::Announce;
use crate::upstream::call::Downstream;

/// `level`'s rank, from 1 (debug) to 8 (emergency).
pub(crate) fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 1,
        LoggingLevel::Info => 2,
        LoggingLevel::Notice => 3,
        LoggingLevel::Warning => 4,
        LoggingLevel::Error => 5,
        LoggingLevel::Critical => 6,
        LoggingLevel::Alert => 7,
        LoggingLevel::Emergency => 8,
    }
}

fn from_severity(rank: u8) -> Option<LoggingLevel> {
    Some(match rank {
        1 => LoggingLevel::Debug,
        2 => LoggingLevel::Info,
        3 => LoggingLevel::Notice,
        4 => LoggingLevel::Warning,
        5 => LoggingLevel::Error,
        6 => LoggingLevel::Critical,
        7 => LoggingLevel::Alert,
        8 => LoggingLevel::Emergency,
        _ => return None,
    })
}

/// Which of a target's log messages a client wants on a call's stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum LogInterest {
    /// A legacy client that set no level: the target decides what to send (as the 2025
    /// revisions say), and all of it is relayed.
    #[default]
    Unset,
    /// Messages at this level or more severe.
    AtLeast(LoggingLevel),
    /// None: a 2026-07-28 request without `logLevel` in its `_meta`.
    Off,
}

impl LogInterest {
    /// Whether a message at `level` goes to this client.
    pub fn wants(self, level: LoggingLevel) -> bool {
        match self {
            Self::Unset => true,
            Self::AtLeast(min) => severity(level) >= severity(min),
            Self::Off => false,
        }
    }
}

/// The most verbose level any client asked for, which is what targets are asked to send.
#[derive(Default)]
pub(crate) struct WantedLevel(AtomicU8);

impl WantedLevel {
    /// Records that a client wants `level`; true if that is more verbose than anyone asked
    /// before (the targets must be told).
    pub(crate) fn ask(&self, level: LoggingLevel) -> bool {
        let rank = severity(level);
        let previous = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                (old == 0 || rank < old).then_some(rank)
            });
        previous.is_ok()
    }

    /// The level to ask a target for, if any client asked.
    pub(crate) fn get(&self) -> Option<LoggingLevel> {
        from_severity(self.0.load(Ordering::Relaxed))
    }
}

/// `params` as relayed from `target`: with several targets the logger names the target
/// (`target` or `target/logger`), so a client can tell whose message it is.
pub(crate) fn attributed(
    target: &str,
    prefixed: bool,
    mut params: LoggingMessageNotificationParam,
) -> LoggingMessageNotificationParam {
    if prefixed {
        params.logger = Some(match params.logger.take() {
            Some(logger) if !logger.is_empty() => format!("{target}/{logger}"),
            _ => target.to_owned(),
        });
    }
    params
}

/// Relays `target`'s log message: to the client of `call` if it belongs to one (and that
/// client's level lets it through), otherwise to every client that asked for logs.
pub(crate) async fn relay(
    notices: &dyn Announce,
    target: &str,
    params: LoggingMessageNotificationParam,
    call: Option<(&dyn Downstream, LogInterest)>,
) {
    trace(target, &params);
    let Some((downstream, interest)) = call else {
        notices.log(target, params);
        return;
    };
    if !interest.wants(params.level) {
        return;
    }
    let params = notices.attribute(target, params);
    let message =
        ServerNotification::LoggingMessageNotification(LoggingMessageNotification::new(params));
    if !downstream.notify(message).await {
        tracing::debug!(mcp_target = %target, "log message not delivered: the client is gone");
    }
}

/// Writes a target's message into the gateway's own log (at debug: it is the target's
/// business, but an operator chasing a problem can turn it on).
fn trace(target: &str, params: &LoggingMessageNotificationParam) {
    tracing::debug!(
        mcp_target = %target,
        level = ?params.level,
        logger = params.logger.as_deref().unwrap_or(""),
        data = %params.data,
        "log message from MCP target"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_filters_by_severity() {
        assert!(LogInterest::Unset.wants(LoggingLevel::Debug));
        assert!(!LogInterest::Off.wants(LoggingLevel::Emergency));
        let warn = LogInterest::AtLeast(LoggingLevel::Warning);
        assert!(!warn.wants(LoggingLevel::Info));
        assert!(warn.wants(LoggingLevel::Warning));
        assert!(warn.wants(LoggingLevel::Error));
    }

    #[test]
    fn the_wanted_level_only_gets_more_verbose() {
        let wanted = WantedLevel::default();
        assert_eq!(wanted.get(), None);
        assert!(wanted.ask(LoggingLevel::Warning));
        assert!(!wanted.ask(LoggingLevel::Error), "less verbose: no change");
        assert!(wanted.ask(LoggingLevel::Debug));
        assert_eq!(wanted.get(), Some(LoggingLevel::Debug));
    }

    #[test]
    fn several_targets_name_themselves_in_the_logger() {
        let p = |logger: Option<&str>| {
            let mut p =
                LoggingMessageNotificationParam::new(LoggingLevel::Info, serde_json::json!("hi"));
            p.logger = logger.map(str::to_owned);
            p
        };
        assert_eq!(attributed("t", true, p(None)).logger.as_deref(), Some("t"));
        assert_eq!(
            attributed("t", true, p(Some("db"))).logger.as_deref(),
            Some("t/db")
        );
        assert_eq!(
            attributed("t", false, p(Some("db"))).logger.as_deref(),
            Some("db")
        );
    }
}
