//! Each target's first list pages, kept for a short while so that a merged
//! list over many targets does not cost one upstream request per target every
//! time (a client often lists on every turn).
//!
//! A page is dropped as soon as its target says the list changed
//! (`notifications/*/list_changed`), when the target's connection is replaced,
//! and at the latest after the TTL, which bounds staleness for targets that
//! never announce changes. Failures are never cached. Later pages (with a
//! cursor) always go to the target.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::model::ServerResult;

use crate::lists::ListKind;

/// How long a first page is served from the cache by default.
pub const DEFAULT_LIST_CACHE_TTL: Duration = Duration::from_secs(5);

/// One target's cached first pages.
pub(crate) struct ListCache {
    ttl: Duration,
    pages: Mutex<HashMap<ListKind, (Instant, ServerResult)>>,
}

impl ListCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ListKind, (Instant, ServerResult)>> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first page of `kind`, if cached and fresh.
    pub(crate) fn get(&self, kind: ListKind) -> Option<ServerResult> {
        if self.ttl.is_zero() {
            return None;
        }
        let pages = self.lock();
        let (at, page) = pages.get(&kind)?;
        (at.elapsed() < self.ttl).then(|| page.clone())
    }

    pub(crate) fn put(&self, kind: ListKind, page: &ServerResult) {
        if !self.ttl.is_zero() {
            self.lock().insert(kind, (Instant::now(), page.clone()));
        }
    }

    /// Drops `kind`'s page, or every page.
    pub(crate) fn clear(&self, kind: Option<ListKind>) {
        match kind {
            Some(k) => {
                self.lock().remove(&k);
            }
            None => self.lock().clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_expire_are_cleared_and_a_zero_ttl_caches_nothing() {
        let page = ServerResult::empty(());
        let cache = ListCache::new(Duration::from_secs(60));
        assert!(cache.get(ListKind::Tools).is_none());
        cache.put(ListKind::Tools, &page);
        assert!(cache.get(ListKind::Tools).is_some());
        assert!(cache.get(ListKind::Prompts).is_none());
        cache.clear(Some(ListKind::Tools));
        assert!(cache.get(ListKind::Tools).is_none());

        let expired = ListCache::new(Duration::from_nanos(1));
        expired.put(ListKind::Tools, &page);
        std::thread::sleep(Duration::from_millis(2));
        assert!(expired.get(ListKind::Tools).is_none());

        let off = ListCache::new(Duration::ZERO);
        off.put(ListKind::Tools, &page);
        assert!(off.get(ListKind::Tools).is_none());
    }
}
