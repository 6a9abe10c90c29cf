//! What clients asked a target for that outlives one request: the log level
//! (`logging/setLevel`) and resource subscriptions (`resources/subscribe`).
//!
//! The target's connection is shared by every client, so the gateway keeps the
//! union: the most verbose level anyone asked for ([`WantedLevel`]) and, per
//! URI, how many client sessions are subscribed. A URI is subscribed upstream
//! when its first client subscribes and unsubscribed when its last one leaves.
//! Both are asked again when the connection is replaced (a restarted target
//! remembers neither).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use std::collections::HashMap;

use rmcp::model::{
    ClientRequest, LoggingLevel, Request, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};

use super::{Connection, Retry, Upstream};
use crate::MuxError;

/// Subscribed URIs (the target's own) and how many client sessions hold each.
pub(crate) type Subscriptions = std::sync::Mutex<HashMap<String, usize>>;

impl Connection {
    /// Whether the target said it sends log messages.
    fn logs(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|i| i.capabilities.logging.is_some())
    }

    /// Whether the target said it takes resource subscriptions.
    pub(crate) fn takes_subscriptions(&self) -> bool {
        self.info.as_ref().is_some_and(|i| {
            i.capabilities
                .resources
                .as_ref()
                .is_some_and(|r| r.subscribe == Some(true))
        })
    }
}

impl Upstream {
    pub(super) fn lock_subscriptions(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the target for `level` if it is connected and logs. A target connected later is
    /// asked when it connects ([`Self::renew_interest`]).
    pub(crate) async fn set_level_if_connected(&self, level: LoggingLevel) -> Result<(), MuxError> {
        let conn = self.conn.lock().await.clone();
        // A 2026-07-28 connection has no setLevel: the level goes in each request's `_meta`.
        if !conn.is_some_and(|c| !c.peer.is_transport_closed() && c.logs() && !c.modern) {
            return Ok(());
        }
        let request =
            ClientRequest::SetLevelRequest(Request::new(SetLevelRequestParams::new(level)));
        self.request(request, "logging/setLevel", None, Retry::Idempotent)
            .await
            .map(drop)
    }

    /// Whether the target takes resource subscriptions (connecting if needed).
    pub(crate) async fn takes_subscriptions(&self) -> Result<bool, MuxError> {
        Ok(self.connection().await?.takes_subscriptions())
    }

    /// One more client session subscribes to the target's `uri`; the first one subscribes
    /// upstream.
    pub(crate) async fn subscribe(&self, uri: &str) -> Result<(), MuxError> {
        let first = {
            let mut subs = self.lock_subscriptions();
            let count = subs.entry(uri.to_owned()).or_insert(0);
            *count += 1;
            *count == 1
        };
        if !first {
            return Ok(());
        }
        if self.relisten_if_modern().await {
            return Ok(());
        }
        let request =
            ClientRequest::SubscribeRequest(Request::new(SubscribeRequestParams::new(uri)));
        let result = self
            .request(request, "resources/subscribe", None, Retry::Idempotent)
            .await;
        if result.is_err() {
            self.release(uri);
        }
        result.map(drop)
    }

    /// One client session fewer subscribes to `uri`; the last one unsubscribes upstream.
    pub(crate) async fn unsubscribe(&self, uri: &str) -> Result<(), MuxError> {
        if !self.release(uri) {
            return Ok(());
        }
        if self.relisten_if_modern().await {
            return Ok(());
        }
        let request =
            ClientRequest::UnsubscribeRequest(Request::new(UnsubscribeRequestParams::new(uri)));
        self.request(request, "resources/unsubscribe", None, Retry::Idempotent)
            .await
            .map(drop)
    }

    /// If the live connection speaks the 2026-07-28 era, re-opens its listen stream with the
    /// current subscriptions (they go there, not in `resources/subscribe`) and says so.
    async fn relisten_if_modern(&self) -> bool {
        match self.connection().await {
            Ok(conn) if conn.modern => {
                self.relisten(&conn);
                true
            }
            _ => false,
        }
    }

    /// Drops one hold on `uri`; true when it was the last.
    fn release(&self, uri: &str) -> bool {
        let mut subs = self.lock_subscriptions();
        match subs.get_mut(uri) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                subs.remove(uri);
                true
            }
            None => false,
        }
    }

    /// Asks a new connection for what clients asked the old one: the log level and the
    /// subscriptions. In the background, so connecting waits for none of it; a failure is
    /// logged (the client will miss messages or updates, not a call).
    pub(super) fn renew_interest(&self, conn: &Connection) {
        self.relisten(conn);
        if conn.modern {
            // Its log level travels with each request, its subscriptions on the listen stream.
            return;
        }
        let level = self.levels.get().filter(|_| conn.logs());
        let uris: Vec<String> = if conn.takes_subscriptions() {
            self.lock_subscriptions().keys().cloned().collect()
        } else {
            Vec::new()
        };
        if level.is_none() && uris.is_empty() {
            return;
        }
        let peer = conn.peer.clone();
        let target = self.name().to_owned();
        tokio::spawn(async move {
            if let Some(level) = level {
                if let Err(e) = peer.set_level(SetLevelRequestParams::new(level)).await {
                    tracing::warn!(mcp_target = %target, error = %e, "log level not set on the new connection");
                }
            }
            for uri in uris {
                if let Err(e) = peer.subscribe(SubscribeRequestParams::new(&uri)).await {
                    tracing::warn!(mcp_target = %target, %uri, error = %e, "resource subscription not renewed on the new connection");
                }
            }
        });
    }
}
