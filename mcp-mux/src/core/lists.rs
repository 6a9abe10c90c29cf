//! Fan-out of list requests, the merge of their pages, and the table that
//! routes shortened names back (see [`crate::core::naming`] for the scheme).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use futures_util::future::join_all;
use rmcp::model::{ErrorCode, ServerResult};

use crate::config::FailureMode;
use crate::core::cursor::{self, Positions};
use crate::core::naming;
use crate::upstream::list_cache::ListKind;
use crate::upstream::{Retry, Upstream};
use crate::MuxError;

/// Most upstream pages read when re-listing one target to resolve a shortened name.
const MAX_REFRESH_PAGES: usize = 100;

impl ListKind {
    fn cursor_kind(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "templates",
        }
    }
}

/// The names (tools or prompts) in one upstream list page, and its cursor.
pub(crate) fn page_names(result: &ServerResult) -> Option<(Vec<String>, Option<String>)> {
    match result {
        ServerResult::ListToolsResult(r) => Some((
            r.tools.iter().map(|t| t.name.to_string()).collect(),
            r.next_cursor.clone(),
        )),
        ServerResult::ListPromptsResult(r) => Some((
            r.prompts.iter().map(|p| p.name.clone()).collect(),
            r.next_cursor.clone(),
        )),
        _ => None,
    }
}

/// One target's page of a merged list.
pub(crate) struct TargetPage {
    pub(crate) index: usize,
    pub(crate) result: ServerResult,
}

/// Lists fanned out to every target concurrently, merged with gateway cursors.
pub(crate) struct Fanout<'a> {
    pub(crate) upstreams: &'a [Arc<Upstream>],
    pub(crate) failure_mode: FailureMode,
}

impl Fanout<'_> {
    fn prefixed(&self) -> bool {
        self.upstreams.len() > 1
    }

    /// Asks each target still in play for its next page; returns the pages (in
    /// target order) and the cursor for the merged next page.
    ///
    /// One target: the upstream cursor passes through verbatim (transparent).
    /// Several: see [`crate::core::cursor`]. A target answering `-32601` simply has
    /// nothing of this kind; any other failure is skipped (`failOpen`, logged
    /// and counted by the upstream's metrics) or fails the list naming the
    /// target (`failClosed`).
    pub(crate) async fn list(
        &self,
        kind: ListKind,
        cursor: Option<String>,
    ) -> Result<(Vec<TargetPage>, Option<String>), MuxError> {
        let wanted: Vec<(usize, Option<String>)> = if !self.prefixed() {
            vec![(0, cursor)]
        } else if let Some(c) = cursor {
            let positions = cursor::decode(kind.cursor_kind(), &c)?;
            let mut wanted = Vec::with_capacity(positions.len());
            for (name, upstream_cursor) in positions {
                let index = self
                    .upstreams
                    .iter()
                    .position(|u| u.name() == name)
                    .ok_or(MuxError::InvalidCursor)?;
                wanted.push((index, Some(upstream_cursor)));
            }
            wanted
        } else {
            (0..self.upstreams.len()).map(|i| (i, None)).collect()
        };
        let calls = wanted.into_iter().map(|(index, c)| async move {
            let up = &self.upstreams[index];
            (index, up.list_page(kind, c).await)
        });
        let mut pages = Vec::new();
        let mut next = Positions::new();
        let mut single_next = None;
        for (index, r) in join_all(calls).await {
            let up = &self.upstreams[index];
            match r {
                Ok(result) => {
                    let nc = next_cursor(&result);
                    if self.prefixed() {
                        if let Some(nc) = nc {
                            next.insert(up.name().to_owned(), nc);
                        }
                    } else {
                        single_next = nc;
                    }
                    pages.push(TargetPage { index, result });
                }
                Err(MuxError::Service {
                    source: rmcp::ServiceError::McpError(e),
                    ..
                }) if e.code == ErrorCode::METHOD_NOT_FOUND => {}
                Err(e) => match self.failure_mode {
                    FailureMode::FailOpen => {
                        tracing::warn!(mcp_target = %up.name(), method = kind.method(), error = %e,
                            "MCP target skipped in merged list (failOpen)");
                    }
                    FailureMode::FailClosed => {
                        tracing::warn!(mcp_target = %up.name(), method = kind.method(), error = %e,
                            "MCP target failed the merged list (failClosed)");
                        return Err(e);
                    }
                },
            }
        }
        let next_cursor = if self.prefixed() {
            cursor::encode(kind.cursor_kind(), next)
        } else {
            single_next
        };
        Ok((pages, next_cursor))
    }
}

fn next_cursor(result: &ServerResult) -> Option<String> {
    match result {
        ServerResult::ListToolsResult(r) => r.next_cursor.clone(),
        ServerResult::ListPromptsResult(r) => r.next_cursor.clone(),
        ServerResult::ListResourcesResult(r) => r.next_cursor.clone(),
        ServerResult::ListResourceTemplatesResult(r) => r.next_cursor.clone(),
        _ => None,
    }
}

/// Exposed shortened name → (target index, upstream name), per kind.
#[derive(Default)]
pub(crate) struct NameTable {
    map: RwLock<HashMap<(ListKind, String), (usize, String)>>,
}

impl NameTable {
    fn get(&self, kind: ListKind, exposed: &str) -> Option<(usize, String)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(kind, exposed.to_owned())).cloned()
    }

    fn insert(&self, kind: ListKind, exposed: String, index: usize, name: String) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.insert((kind, exposed), (index, name));
    }
}

/// Renames one merged page's items and guards against duplicate exposed names.
pub(crate) struct Renamer<'a> {
    pub(crate) upstreams: &'a [Arc<Upstream>],
    pub(crate) table: &'a NameTable,
    pub(crate) kind: ListKind,
    seen: HashSet<String>,
}

impl<'a> Renamer<'a> {
    pub(crate) fn new(
        upstreams: &'a [Arc<Upstream>],
        table: &'a NameTable,
        kind: ListKind,
    ) -> Self {
        Self {
            upstreams,
            table,
            kind,
            seen: HashSet::new(),
        }
    }

    /// The exposed name of `name` on target `index`, or `None` if it must be
    /// withheld (it would duplicate a name already in this page).
    pub(crate) fn rename(&mut self, index: usize, name: &str) -> Option<String> {
        let prefix = (self.upstreams.len() > 1).then(|| self.upstreams[index].name());
        let exposed = naming::expose(prefix, name);
        if !self.seen.insert(exposed.clone()) {
            tracing::error!(mcp_target = %self.upstreams[index].name(), name, exposed,
                "two upstream names map to one exposed name; withholding the second");
            return None;
        }
        if naming::has_hash_suffix(&exposed) {
            self.table
                .insert(self.kind, exposed.clone(), index, name.to_owned());
        }
        Some(exposed)
    }
}

/// Finds the target and upstream name behind an exposed tool or prompt name.
pub(crate) async fn resolve(
    upstreams: &[Arc<Upstream>],
    table: &NameTable,
    kind: ListKind,
    exposed: &str,
) -> Option<(usize, String)> {
    let prefixed = upstreams.len() > 1;
    let index_of = |target: Option<&str>| match target {
        None => Some(0),
        Some(t) => upstreams.iter().position(|u| u.name() == t),
    };
    match naming::parse(exposed, prefixed)? {
        naming::Parsed::Direct { target, name } => {
            let index = index_of(target)?;
            // Only names this mux could have produced route: `a_x.y` never was.
            (naming::expose(target, name) == exposed).then(|| (index, name.to_owned()))
        }
        naming::Parsed::Shortened { target } => {
            let index = index_of(target)?;
            if let Some(hit) = table.get(kind, exposed) {
                return Some(hit);
            }
            // Boxed: a re-list is rare and its future would otherwise be part of every call's.
            Box::pin(refresh(upstreams, table, kind, index)).await;
            table.get(kind, exposed)
        }
    }
}

/// Re-lists every page of one target to learn its shortened names.
async fn refresh(upstreams: &[Arc<Upstream>], table: &NameTable, kind: ListKind, index: usize) {
    let up = &upstreams[index];
    let prefix = (upstreams.len() > 1).then(|| up.name());
    let mut cursor = None;
    for _ in 0..MAX_REFRESH_PAGES {
        let Ok(result) = up
            .request(
                kind.request(cursor.take()),
                kind.method(),
                None,
                Retry::Idempotent,
            )
            .await
        else {
            return;
        };
        let Some((names, next)) = page_names(&result) else {
            return;
        };
        for name in names {
            let exposed = naming::expose(prefix, &name);
            if naming::has_hash_suffix(&exposed) {
                table.insert(kind, exposed, index, name);
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return,
        }
    }
}
