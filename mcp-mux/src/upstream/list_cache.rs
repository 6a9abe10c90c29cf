//! Each target's first list pages, kept for a short while so that a merged
//! list over many targets does not cost one upstream request per target every
//! time (a client often lists on every turn).
//!
//! A page is dropped as soon as its target says the list changed
//! (`notifications/*/list_changed`), when the target's connection is replaced,
//! and at the latest after the TTL, which bounds staleness for targets that
//! never announce changes. Failures are never cached. Later pages (with a
//! cursor) always go to the target.
//!
//! With several targets, the merged first page is kept too ([`MergedLists`]), so a list
//! served from cache does not merge, rename and copy every target's page again. It holds
//! exactly as long as the pages it was made from: every change to any target's pages bumps
//! one shared [`Generation`], and it expires with the oldest of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{ClientRequest, PaginatedRequestParams, RequestOptionalParam, ServerResult};

use crate::upstream::announce::{Announce, Changed};

/// How long a first page is served from the cache by default.
pub const DEFAULT_LIST_CACHE_TTL: Duration = Duration::from_secs(5);

/// The four paginated list methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ListKind {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

impl ListKind {
    pub(crate) fn method(self) -> &'static str {
        match self {
            Self::Tools => "tools/list",
            Self::Prompts => "prompts/list",
            Self::Resources => "resources/list",
            Self::ResourceTemplates => "resources/templates/list",
        }
    }

    pub(crate) fn request(self, cursor: Option<String>) -> ClientRequest {
        let params = Some(PaginatedRequestParams::default().with_cursor(cursor));
        match self {
            Self::Tools => ClientRequest::ListToolsRequest(RequestOptionalParam {
                method: Default::default(),
                params,
                extensions: Default::default(),
            }),
            Self::Prompts => ClientRequest::ListPromptsRequest(RequestOptionalParam {
                method: Default::default(),
                params,
                extensions: Default::default(),
            }),
            Self::Resources => ClientRequest::ListResourcesRequest(RequestOptionalParam {
                method: Default::default(),
                params,
                extensions: Default::default(),
            }),
            Self::ResourceTemplates => {
                ClientRequest::ListResourceTemplatesRequest(RequestOptionalParam {
                    method: Default::default(),
                    params,
                    extensions: Default::default(),
                })
            }
        }
    }
}

/// Counts the changes to the cached pages of one multiplexer's targets.
#[derive(Default)]
pub(crate) struct Generation(AtomicU64);

impl Generation {
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// One target's cached first pages.
pub(crate) struct ListCache {
    ttl: Duration,
    pages: Mutex<HashMap<ListKind, (Instant, ServerResult)>>,
    generation: Arc<Generation>,
}

impl ListCache {
    pub(crate) fn new(ttl: Duration, generation: Arc<Generation>) -> Self {
        Self {
            ttl,
            pages: Mutex::default(),
            generation,
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

    /// When `kind`'s first page was fetched, if it is cached and fresh.
    pub(crate) fn fetched_at(&self, kind: ListKind) -> Option<Instant> {
        let pages = self.lock();
        let (at, _) = pages.get(&kind)?;
        (at.elapsed() < self.ttl).then_some(*at)
    }

    pub(crate) fn put(&self, kind: ListKind, page: &ServerResult) {
        if !self.ttl.is_zero() {
            self.lock().insert(kind, (Instant::now(), page.clone()));
            self.generation.bump();
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
        self.generation.bump();
    }
}

/// A target said its `what` list changed: its cached pages of that kind go first, so a client
/// told to list again gets the new list, then every client is told.
pub(crate) fn list_changed(lists: &ListCache, notices: &dyn Announce, what: Changed) {
    let kinds: &[ListKind] = match what {
        Changed::Tools => &[ListKind::Tools],
        Changed::Prompts => &[ListKind::Prompts],
        Changed::Resources => &[ListKind::Resources, ListKind::ResourceTemplates],
    };
    for &kind in kinds {
        lists.clear(Some(kind));
    }
    notices.changed(what);
}

/// A merged first page and what it was made from.
struct Merged {
    generation: u64,
    expires: Instant,
    result: ServerResult,
}

/// The merged first pages of a multiplexer with several targets (see the module docs).
pub(crate) struct MergedLists {
    generation: Arc<Generation>,
    ttl: Duration,
    entries: Mutex<HashMap<ListKind, Merged>>,
}

impl MergedLists {
    pub(crate) fn new(ttl: Duration, generation: Arc<Generation>) -> Self {
        Self {
            generation,
            ttl,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ListKind, Merged>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read before building a merged page, and handed to [`Self::put`] with it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// The merged first page of `kind`, if nothing it was made from has changed or expired.
    pub(crate) fn get(&self, kind: ListKind) -> Option<ServerResult> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.lock();
        let merged = entries.get(&kind)?;
        let fresh =
            merged.generation == self.generation.current() && Instant::now() < merged.expires;
        fresh.then(|| merged.result.clone())
    }

    /// Keeps `result`, made at `generation` from target pages the oldest of which was fetched
    /// at `oldest`. If any page changed meanwhile, it is stale at once and not served.
    pub(crate) fn put(
        &self,
        kind: ListKind,
        generation: u64,
        oldest: Instant,
        result: &ServerResult,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let merged = Merged {
            generation,
            expires: oldest + self.ttl,
            result: result.clone(),
        };
        self.lock().insert(kind, merged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_expire_are_cleared_and_a_zero_ttl_caches_nothing() {
        let page = ServerResult::empty(());
        let cache = ListCache::new(Duration::from_secs(60), Arc::default());
        assert!(cache.get(ListKind::Tools).is_none());
        cache.put(ListKind::Tools, &page);
        assert!(cache.get(ListKind::Tools).is_some());
        assert!(cache.get(ListKind::Prompts).is_none());
        cache.clear(Some(ListKind::Tools));
        assert!(cache.get(ListKind::Tools).is_none());

        let expired = ListCache::new(Duration::from_nanos(1), Arc::default());
        expired.put(ListKind::Tools, &page);
        std::thread::sleep(Duration::from_millis(2));
        assert!(expired.get(ListKind::Tools).is_none());

        let off = ListCache::new(Duration::ZERO, Arc::default());
        off.put(ListKind::Tools, &page);
        assert!(off.get(ListKind::Tools).is_none());
    }

    #[test]
    fn a_merged_page_lasts_while_its_pages_do() {
        let generation = Arc::new(Generation::default());
        let target = ListCache::new(Duration::from_secs(60), generation.clone());
        let merged = MergedLists::new(Duration::from_secs(60), generation.clone());
        let page = ServerResult::empty(());
        target.put(ListKind::Tools, &page);
        let made_at = merged.generation();
        let oldest = target.fetched_at(ListKind::Tools).unwrap();
        merged.put(ListKind::Tools, made_at, oldest, &page);
        assert!(merged.get(ListKind::Tools).is_some());
        assert!(merged.get(ListKind::Prompts).is_none());
        // Any target's list change drops it.
        target.clear(Some(ListKind::Prompts));
        assert!(merged.get(ListKind::Tools).is_none());
        // Made while a page changed: never served.
        let made_at = merged.generation();
        target.put(ListKind::Tools, &page);
        merged.put(ListKind::Tools, made_at, Instant::now(), &page);
        assert!(merged.get(ListKind::Tools).is_none());
        // Expires with its oldest page, not from when it was merged.
        let short = MergedLists::new(Duration::from_millis(50), generation.clone());
        let old = Instant::now() - Duration::from_millis(60);
        short.put(ListKind::Tools, short.generation(), old, &page);
        assert!(short.get(ListKind::Tools).is_none());
        let off = MergedLists::new(Duration::ZERO, generation);
        off.put(ListKind::Tools, off.generation(), Instant::now(), &page);
        assert!(off.get(ListKind::Tools).is_none());
    }
}
