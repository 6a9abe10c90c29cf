//! Requests whose effect outlives them: `logging/setLevel` and
//! `resources/subscribe` / `resources/unsubscribe` (see [`crate::upstream`]'s
//! `interest` module for how the targets' shared connections hold them).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use futures_util::future::join_all;
use rmcp::model::{ErrorCode, ErrorData, LoggingLevel, ServerResult};

use super::Multiplexer;
use crate::core::context::CallContext;

impl Multiplexer {
    /// A client wants log messages at `level` or more severe. Targets are asked for the most
    /// verbose level any client wanted, and each client's own level is applied at the gateway
    /// (see [`crate::upstream::logging`]). Targets not connected yet are asked when they connect; one
    /// that refuses is logged and skipped (the client still gets what the target sends).
    pub async fn set_level(&self, level: LoggingLevel) {
        if !self.inner.levels.ask(level) {
            return;
        }
        let upstreams = &self.inner.upstreams;
        let results = join_all(upstreams.iter().map(|u| u.set_level_if_connected(level))).await;
        for (up, result) in upstreams.iter().zip(results) {
            if let Err(e) = result {
                tracing::warn!(mcp_target = %up.name(), error = %e, "log level not set on the target");
            }
        }
    }

    /// One client session subscribes to the resource `uri` (as the client knows it): routed
    /// to the target that owns it, which is asked once however many sessions subscribe.
    pub async fn subscribe(&self, uri: &str, ctx: &CallContext) -> Result<ServerResult, ErrorData> {
        let (index, original) = self.subscribable(uri, ctx, "resources/subscribe").await?;
        self.upstream(index).subscribe(&original).await?;
        Ok(ServerResult::empty(()))
    }

    /// One client session leaves its subscription to `uri`; the target is told when the last
    /// one leaves.
    pub async fn unsubscribe(
        &self,
        uri: &str,
        ctx: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let (index, original) = self.subscribable(uri, ctx, "resources/unsubscribe").await?;
        self.upstream(index).unsubscribe(&original).await?;
        Ok(ServerResult::empty(()))
    }

    /// The target and its own URI behind `uri`, if that target takes subscriptions (and the
    /// caller's rules let it see the resource: a denied one is answered as unknown).
    async fn subscribable(
        &self,
        uri: &str,
        ctx: &CallContext,
        method: &str,
    ) -> Result<(usize, String), ErrorData> {
        let unknown = || ErrorData::resource_not_found(format!("Unknown resource: {uri}"), None);
        let Some((index, original)) = self.resolve_uri(uri) else {
            return Err(unknown());
        };
        let up = self.upstream(index);
        ctx.routed_to(up.name());
        let item = crate::policy::Item::new(authz::McpKind::Resource, up.name(), &original);
        if self.denied(ctx, method, item) {
            return Err(unknown());
        }
        if !up.takes_subscriptions().await? {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "target {:?} does not support resource subscriptions",
                    up.name()
                ),
                None,
            ));
        }
        Ok((index, original))
    }
}
