//! One target's live connection: connect on first use, reconnect after the
//! transport dies (backing off after failed connects, see [`health`]), send
//! requests with the target's timeout, relay progress, forward cancellation,
//! and report metrics and up/down state.

pub(crate) mod announce;
pub(crate) mod call;
pub(crate) mod client;
mod direct;
mod engine;
pub mod filter;
mod health;
pub(crate) mod http_client;
mod interest;
pub(crate) mod list_cache;
mod listen;
pub(crate) mod logging;
pub(crate) mod ordered_relay;
pub(crate) mod progress;
pub(crate) mod questions;
mod sse_client;
pub(crate) mod target;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ClientRequest, ServerPeerInfo, ServerResult};
use rmcp::service::RoleClient;

use crate::upstream::call::Call;
use rmcp::Peer;
use tracing::Instrument as _;

use crate::metrics::{MuxMetrics, Outcome};
use crate::upstream::announce::{Announce, Changed};
use crate::upstream::client::UpstreamClient;
use crate::upstream::http_client::McpHttpClient;
use crate::upstream::list_cache::ListCache;
use crate::upstream::list_cache::ListKind;
use crate::upstream::logging::WantedLevel;
use crate::upstream::progress::ProgressRouter;
use crate::upstream::questions::QuestionRouter;
use crate::upstream::target::{Client, Lifecycle, Opened, Target};
use crate::MuxError;

pub(crate) use health::probe;

/// How long a replaced connection gets to shut down (stdio: close stdin,
/// wait, SIGTERM, SIGKILL — rmcp's sequence) before we stop waiting.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The tool or prompt name, or resource URI, a request names (for spans).
fn request_name(request: &ClientRequest) -> Option<&str> {
    match request {
        ClientRequest::CallToolRequest(r) => Some(&r.params.name),
        ClientRequest::GetPromptRequest(r) => Some(&r.params.name),
        ClientRequest::ReadResourceRequest(r) => Some(&r.params.uri),
        _ => None,
    }
}

/// Whether a target is reachable, as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Not used yet (targets connect lazily).
    Idle,
    /// Last connect or request succeeded at the transport level.
    Up,
    /// Last connect failed or the transport died.
    Down,
}

/// A live MCP session with a target.
pub(crate) struct Connection {
    peer: Peer<RoleClient>,
    info: Option<ServerPeerInfo>,
    running: tokio::sync::Mutex<Client>,
    /// `mcp` targets: the HTTP client of the session, for direct calls (`upstream::direct`).
    http: Option<McpHttpClient>,
    /// `stdio` targets: the process id.
    pid: Option<u32>,
    /// Opened with `server/discover` (2026-07-28) rather than `initialize`.
    modern: bool,
}

impl Connection {
    async fn close(&self) {
        let mut running = self.running.lock().await;
        let _ = running.close_with_timeout(CLOSE_TIMEOUT).await;
    }
}

/// A target plus its (lazily opened, replaceable) connection.
pub(crate) struct Upstream {
    pub(crate) target: Target,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
    state: AtomicU8,
    metrics: Arc<dyn MuxMetrics>,
    progress: Arc<ProgressRouter>,
    questions: Arc<QuestionRouter>,
    notices: Arc<dyn Announce>,
    lists: Arc<ListCache>,
    /// The log level clients want from targets (shared by a multiplexer's targets).
    levels: Arc<WantedLevel>,
    subscriptions: interest::Subscriptions,
    backoff: health::Backoff,
    usage: health::Usage,
    /// The era the last connection spoke (0: none yet, 1: legacy, 2: modern).
    era_seen: AtomicU8,
    listening: listen::Listening,
}

/// Whether to connect to a target that failed to connect lately.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Always,
    UnlessBackingOff,
}

/// Whether a failed request may be sent again on a new connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Only if it never left (the connection was already dead when sending).
    IfUnsent,
    /// Also after it was sent: the method has no side effects (lists, reads of metadata).
    Idempotent,
}

impl Upstream {
    pub(crate) fn new(
        target: Target,
        metrics: Arc<dyn MuxMetrics>,
        progress: Arc<ProgressRouter>,
        notices: Arc<dyn Announce>,
        lists: ListCache,
        levels: Arc<WantedLevel>,
    ) -> Self {
        Self {
            target,
            conn: tokio::sync::Mutex::new(None),
            state: AtomicU8::new(0),
            metrics,
            progress,
            questions: Arc::default(),
            notices,
            lists: Arc::new(lists),
            levels,
            subscriptions: Default::default(),
            backoff: Default::default(),
            usage: Default::default(),
            era_seen: AtomicU8::new(0),
            listening: Default::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.target.name
    }

    pub(crate) fn state(&self) -> TargetState {
        match self.state.load(Ordering::Relaxed) {
            1 => TargetState::Up,
            2 => TargetState::Down,
            _ => TargetState::Idle,
        }
    }

    fn set_up(&self, up: bool) {
        let new = if up { 1 } else { 2 };
        let old = self.state.swap(new, Ordering::Relaxed);
        if old != new {
            // A target that comes back or goes away adds or removes its tools, prompts and
            // resources from the merged lists (not on its first connect: nothing was listed).
            self.lists.clear(None);
            if old != 0 {
                for what in [Changed::Tools, Changed::Prompts, Changed::Resources] {
                    self.notices.changed(what);
                }
            }
            if up {
                tracing::info!(mcp_target = %self.name(), "MCP target up");
            } else {
                tracing::warn!(mcp_target = %self.name(), "MCP target down");
            }
            self.metrics.target_up(self.name(), up);
        }
    }

    /// The era to try first: the one that worked last time, else legacy.
    fn lifecycle(&self) -> Lifecycle {
        match self.era_seen.load(Ordering::Relaxed) {
            2 => Lifecycle::Modern,
            _ => Lifecycle::Legacy,
        }
    }

    /// Whether the target may speak the 2026-07-28 era: it did last time, or it has not been
    /// connected yet.
    pub(crate) fn may_speak_modern(&self) -> bool {
        self.era_seen.load(Ordering::Relaxed) != 1
    }

    fn remember(&self, lifecycle: Lifecycle) {
        let seen = match lifecycle {
            Lifecycle::Legacy => 1,
            Lifecycle::Modern => 2,
        };
        self.era_seen.store(seen, Ordering::Relaxed);
    }

    /// The live connection, opening (or re-opening) it if needed. The lock is
    /// held while connecting so concurrent first uses start one process, not many.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, MuxError> {
        self.connect_if(Attempt::Always).await
    }

    /// Like [`Self::connection`], but `attempt` says whether a target that failed to connect
    /// lately is tried again now or refused at once (see [`health`]).
    async fn connect_if(&self, attempt: Attempt) -> Result<Arc<Connection>, MuxError> {
        let slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.peer.is_transport_closed() {
                return Ok(c.clone());
            }
        }
        // Boxed: connecting is rare and its future is several KiB, which would otherwise be
        // part of (and copied with) every request's future.
        Box::pin(self.open(slot, attempt)).await
    }

    /// Opens a connection in `slot` (whose lock the caller holds), replacing a closed one.
    async fn open(
        &self,
        mut slot: tokio::sync::MutexGuard<'_, Option<Arc<Connection>>>,
        attempt: Attempt,
    ) -> Result<Arc<Connection>, MuxError> {
        if let Some(old) = slot.take() {
            tracing::info!(mcp_target = %self.name(), "MCP target transport closed; reconnecting");
            tokio::spawn(async move { old.close().await });
        }
        if attempt == Attempt::UnlessBackingOff {
            if let Some(refusal) = self.backoff.refusal(self.name()) {
                return Err(refusal);
            }
        }
        let client = UpstreamClient {
            target: self.target.name.clone(),
            progress: self.progress.clone(),
            questions: self.questions.clone(),
            notices: self.notices.clone(),
            lists: self.lists.clone(),
        };
        // A new connection may be a new server: nothing listed before still holds.
        self.lists.clear(None);
        match self.target.connect(client, self.lifecycle()).await {
            Ok(Opened {
                running,
                http,
                pid,
                lifecycle,
            }) => {
                self.remember(lifecycle);
                let conn = Arc::new(Connection {
                    peer: running.peer().clone(),
                    info: running.peer().peer_info().map(|i| (*i).clone()),
                    running: tokio::sync::Mutex::new(running),
                    http,
                    pid,
                    modern: lifecycle == Lifecycle::Modern,
                });
                *slot = Some(conn.clone());
                self.usage.touch();
                self.backoff.succeeded();
                self.set_up(true);
                self.renew_interest(&conn);
                Ok(conn)
            }
            Err(e) => {
                if self.state() == TargetState::Down {
                    tracing::debug!(mcp_target = %self.name(), error = %e, "MCP target still down");
                } else {
                    tracing::warn!(mcp_target = %self.name(), error = %e, "MCP target connect failed");
                }
                self.backoff.failed(&e);
                self.set_up(false);
                Err(e)
            }
        }
    }

    /// What the target said in `initialize` (connecting if needed, unless it is backing off:
    /// this is asked of every target at once).
    pub(crate) async fn info(&self) -> Result<Option<ServerPeerInfo>, MuxError> {
        Ok(self
            .connect_if(Attempt::UnlessBackingOff)
            .await?
            .info
            .clone())
    }

    /// Drops `conn` if it is still the current one, so the next use reconnects.
    async fn discard(&self, conn: &Arc<Connection>) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            if let Some(old) = slot.take() {
                tokio::spawn(async move { old.close().await });
            }
        }
        self.set_up(false);
    }

    /// Closes the connection (stdio: the process is stopped and reaped); the probe leaves the
    /// target alone until it is used again.
    pub(crate) async fn shutdown(&self) {
        self.state.store(0, Ordering::Relaxed);
        let old = self.conn.lock().await.take();
        if let Some(old) = old {
            old.close().await;
        }
    }

    /// When the cached first page of `kind` was fetched, if it is cached and fresh.
    pub(crate) fn list_fetched_at(&self, kind: ListKind) -> Option<std::time::Instant> {
        self.lists.fetched_at(kind)
    }

    /// One page of a list: the first page from the cache when fresh (see
    /// [`crate::upstream::list_cache`]), anything else from the target.
    pub(crate) async fn list_page(
        &self,
        kind: ListKind,
        cursor: Option<String>,
    ) -> Result<ServerResult, MuxError> {
        let first = cursor.is_none();
        if first {
            if let Some(page) = self.lists.get(kind) {
                return Ok(page);
            }
        }
        // Boxed: a request's future is large, and a fan-out over many targets holds one
        // list future per target; unboxed, every cache hit would pay for moving it around.
        let page =
            Box::pin(self.request(kind.request(cursor), kind.method(), None, Retry::Idempotent))
                .await?;
        if first {
            self.lists.put(kind, &page);
        }
        Ok(page)
    }

    /// Sends `request` and waits for the result, with the target's timeout.
    ///
    /// With `ctx`, the downstream client's progress token receives the
    /// target's progress, and a downstream cancel is forwarded upstream.
    pub(crate) async fn request(
        &self,
        request: ClientRequest,
        method: &'static str,
        ctx: Option<&Call>,
        retry: Retry,
    ) -> Result<ServerResult, MuxError> {
        let span = tracing::info_span!(
            "mcp.request",
            mcp.target = %self.name(),
            mcp.method = method,
            mcp.tool = request_name(&request).unwrap_or(""),
        );
        self.request_with_retry(request, method, ctx, retry)
            .instrument(span)
            .await
    }

    async fn request_with_retry(
        &self,
        request: ClientRequest,
        method: &'static str,
        ctx: Option<&Call>,
        retry: Retry,
    ) -> Result<ServerResult, MuxError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, sent) = self.request_once(request.clone(), ctx).await;
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(MuxError::Timeout { .. }) => Outcome::Timeout,
                Err(_) => Outcome::Error,
            };
            self.metrics.request(self.name(), method, outcome);
            match result {
                Err(e) if e.is_transport_failure() && attempt == 1 => {
                    if !sent || retry == Retry::Idempotent {
                        tracing::info!(mcp_target = %self.name(), %method, error = %e, "retrying on a new connection");
                        continue;
                    }
                    return Err(e);
                }
                other => return other,
            }
        }
    }
}
