//! The relay of progress notifications to the downstream client whose request
//! caused them (fed by [`crate::upstream::client::UpstreamClient`]).
//!
//! rmcp puts its own progress token on every upstream request, counted per
//! connection, so the same token value means different requests on different
//! targets. The router therefore keys by `(target, upstream token)` and maps to
//! the downstream peer plus the token that client chose. A notification can
//! beat the registration (the upstream answers before `send_request` returns
//! its handle); such early notifications are parked, bounded, and flushed on
//! registration instead of being dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{ProgressNotificationParam, ProgressToken};

use crate::upstream::call::{Call, Downstream};

/// Most tokens with parked early notifications at once (bounds memory if an
/// upstream sends progress for tokens nobody will register).
const MAX_EARLY_TOKENS: usize = 256;
/// Most parked notifications per token.
const MAX_EARLY_PER_TOKEN: usize = 16;

enum Slot {
    Routed {
        downstream: Arc<dyn Downstream>,
        token: ProgressToken,
    },
    /// Parked notifications and when the first arrived (stale ones are purged:
    /// progress that trails a finished request must not pile up).
    Early(Instant, Vec<ProgressNotificationParam>),
}

/// How long an unclaimed early notification is kept.
const EARLY_TTL: Duration = Duration::from_secs(5);

/// Maps upstream progress tokens to downstream clients.
#[derive(Default)]
pub(crate) struct ProgressRouter {
    slots: Mutex<HashMap<(String, ProgressToken), Slot>>,
}

/// The progress route of one upstream request: dropping it forgets the route, however the
/// request ends (answered, failed, cancelled, or its future dropped with the client's).
pub(crate) struct ProgressRoute<'a> {
    router: &'a ProgressRouter,
    target: &'a str,
    upstream: ProgressToken,
}

impl Drop for ProgressRoute<'_> {
    fn drop(&mut self) {
        self.router.unregister(self.target, &self.upstream);
    }
}

impl ProgressRouter {
    /// Routes the progress of the request `upstream` names on `target` to `call`'s client,
    /// if the call has one and asked for progress; the route lasts as long as the guard.
    pub(crate) async fn route<'a>(
        &'a self,
        target: &'a str,
        upstream: ProgressToken,
        call: Option<&Call>,
    ) -> Option<ProgressRoute<'a>> {
        let (downstream, token) = call?.progress_route()?;
        self.register(target, upstream.clone(), downstream, token)
            .await;
        Some(ProgressRoute {
            router: self,
            target,
            upstream,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, ProgressToken), Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes progress for `upstream` on `target` to `peer` as `token`, then
    /// delivers anything that arrived before this call.
    async fn register(
        &self,
        target: &str,
        upstream: ProgressToken,
        downstream: Arc<dyn Downstream>,
        token: ProgressToken,
    ) {
        let early = {
            let mut slots = self.lock();
            let previous = slots.insert(
                (target.to_owned(), upstream),
                Slot::Routed {
                    downstream: downstream.clone(),
                    token: token.clone(),
                },
            );
            match previous {
                Some(Slot::Early(_, v)) => v,
                _ => Vec::new(),
            }
        };
        for mut p in early {
            p.progress_token = token.clone();
            downstream.progress(p).await;
        }
    }

    /// Forgets `upstream` on `target` (its request finished).
    fn unregister(&self, target: &str, upstream: &ProgressToken) {
        self.lock().remove(&(target.to_owned(), upstream.clone()));
    }

    /// Delivers one upstream progress notification, or parks it if early.
    pub(crate) async fn relay(&self, target: &str, mut params: ProgressNotificationParam) {
        let key = (target.to_owned(), params.progress_token.clone());
        let route = {
            let mut slots = self.lock();
            slots.retain(|_, s| !matches!(s, Slot::Early(at, _) if at.elapsed() > EARLY_TTL));
            let early_tokens = slots
                .values()
                .filter(|s| matches!(s, Slot::Early(..)))
                .count();
            match slots.get_mut(&key) {
                Some(Slot::Routed { downstream, token }) => {
                    Some((downstream.clone(), token.clone()))
                }
                Some(Slot::Early(_, v)) => {
                    if v.len() < MAX_EARLY_PER_TOKEN {
                        v.push(params.clone());
                    }
                    None
                }
                None => {
                    if early_tokens < MAX_EARLY_TOKENS {
                        slots.insert(key, Slot::Early(Instant::now(), vec![params.clone()]));
                    }
                    None
                }
            }
        };
        if let Some((downstream, token)) = route {
            params.progress_token = token;
            if !downstream.progress(params).await {
                tracing::debug!(mcp_target = %target, "progress not delivered: the client is gone");
            }
        }
    }
}
