//! The built-in picker of an `inferencePool` (`loadPicker`): the least loaded model server,
//! judged from each server's own Prometheus metrics, for users with no endpoint picker (EPP)
//! deployment.
//!
//! - [`config`]: the `loadPicker` keys;
//! - [`parse`]: the load gauges of vLLM and llama.cpp server in their metrics text;
//! - `scrape`: one task per pool scraping every endpoint each interval;
//! - `choose`: the order of the endpoints for one request (the score is explained there and
//!   on [`LoadPicker::pick`]).
//!
//! Lifetime: a picker is built with its pool (from config) and stops scraping when dropped,
//! so a hot reload that builds new pools leaks no task; the new picker starts with no metrics
//! (its endpoints rank by the gateway's own in-flight requests until its first round, one
//! scrape away). Keeping the scraped state across reloads of an unchanged pool is left for
//! later.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use inference::load::{LoadPicker, LoadPickerConfig};
//! let endpoints = vec!["10.0.0.5:8000".parse()?, "10.0.0.6:8000".parse()?];
//! let picker = LoadPicker::start("pool", &LoadPickerConfig::default(), endpoints)?;
//! let order = picker.pick(None)?;          // best first; walk it on retries
//! let _guard = picker.begin(order[0]);     // counted until the exchange ends
//! # Ok(()) }
//! ```

mod choose;
pub mod config;
pub mod parse;
mod scrape;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

pub use config::{Invalid, LoadPickerConfig};
pub use parse::{parse_load, Load};
pub use scrape::{ScrapeError, MAX_METRICS_BYTES};

use choose::{Rank, Scraped};
use scrape::{metrics_url, Scraper};

/// No endpoint can take the request; the caller answers `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoEndpoint {
    /// The pool lists no endpoints.
    #[error("the inference pool has no endpoints")]
    EmptyPool,
    /// A subset was given and none of the pool's endpoints is in it.
    #[error("no endpoint of the inference pool is in the requested subset")]
    OutsideSubset,
}

/// Why a picker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Started outside a tokio runtime: the scrape task has nowhere to run.
    #[error("the load picker must start inside a tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built (e.g. an unreadable `SSL_CERT_FILE`).
    #[error(transparent)]
    Client(#[from] netkit::ClientBuildError),
}

/// What is known of one endpoint, for the gateway's metrics and admin views.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStatus {
    /// The endpoint (its serving address, whatever the metrics port).
    pub addr: SocketAddr,
    /// Its last good scrape's gauges (kept while scrapes fail, until replaced).
    pub load: Option<Load>,
    /// Age of that scrape.
    pub age: Option<Duration>,
    /// Whether that scrape is younger than `staleAfter` (the endpoint is ranked by load).
    pub fresh: bool,
    /// Why the latest scrape failed; `None` when it answered or none was tried yet.
    pub error: Option<Arc<str>>,
    /// Requests the gateway has in flight to it now ([`LoadPicker::begin`]).
    pub in_flight: u64,
}

/// One endpoint in the published snapshot.
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointState {
    pub scraped: Option<Scraped>,
    pub error: Option<Arc<str>>,
    /// Whether a scrape was tried (so the first failure is logged, and a first success is not
    /// reported as a recovery).
    pub attempted: bool,
}

/// What the picker, its guards and its scrape task share.
pub(crate) struct Shared {
    pub pool: Arc<str>,
    pub endpoints: Vec<SocketAddr>,
    index: HashMap<SocketAddr, usize>,
    /// Per endpoint, the gateway's requests in flight to it (signed: a guard can end after a
    /// scrape read the count, and the difference is what matters).
    pub in_flight: Vec<AtomicI64>,
    /// Per endpoint, in `endpoints`' order; replaced whole after each round.
    pub snapshot: ArcSwap<Vec<EndpointState>>,
    pub stale_after: Duration,
}

/// The built-in least-loaded picker of one pool. Dropping it stops its scrape task.
pub struct LoadPicker {
    shared: Arc<Shared>,
    /// The scrape task (`None` only in unit tests that publish snapshots by hand).
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LoadPicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadPicker")
            .field("pool", &self.shared.pool)
            .field("endpoints", &self.shared.endpoints)
            .finish_non_exhaustive()
    }
}

impl LoadPicker {
    /// A picker for `endpoints` (serving addresses; duplicates are kept once) whose scrape
    /// task starts now on the current tokio runtime: the first round is immediate. `pool`
    /// names the pool in log lines. `config` is taken as is: validate it first
    /// ([`LoadPickerConfig::validate`]); unvalidated values are clamped, never a panic.
    pub fn start(
        pool: &str,
        config: &LoadPickerConfig,
        endpoints: Vec<SocketAddr>,
    ) -> Result<LoadPicker, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let mut index = HashMap::new();
        let mut unique = Vec::with_capacity(endpoints.len());
        for addr in endpoints {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(addr) {
                e.insert(unique.len());
                unique.push(addr);
            }
        }
        let timeout = config.timeout();
        let client = netkit::reqwest_client(netkit::ReqwestOptions {
            connect_timeout: timeout,
            // One request per endpoint per round: one idle connection each is enough.
            pool_max_idle_per_host: 1,
            pool_idle_timeout: config
                .interval()
                .saturating_mul(2)
                .max(netkit::client::DEFAULT_POOL_IDLE),
            ..netkit::ReqwestOptions::default()
        })?;
        let scraper = Scraper {
            client,
            urls: unique
                .iter()
                .map(|a| metrics_url(*a, config.port, config.path()))
                .collect(),
            interval: config.interval(),
            timeout,
        };
        let shared = Arc::new(Shared {
            pool: Arc::from(pool),
            in_flight: unique.iter().map(|_| AtomicI64::new(0)).collect(),
            snapshot: ArcSwap::from_pointee(vec![EndpointState::default(); unique.len()]),
            endpoints: unique,
            index,
            stale_after: config.stale_after(),
        });
        let task = runtime.spawn(scraper.run(shared.clone()));
        Ok(LoadPicker {
            shared,
            task: Some(task),
        })
    }

    /// The pool's endpoints (those in `subset`, when given), best first: the caller sends to
    /// the first and walks the rest on retries. Never waits: it reads the last published
    /// scrape and the in-flight counts.
    ///
    /// Order: endpoints with fresh metrics (a scrape younger than `staleAfter`) by
    /// `(queue, running, kvCache)` compared in that order (waiting or deferred requests first,
    /// then running or processing ones, then KV-cache use), with the gateway's own requests
    /// started or finished since the scrape added in (to the queue of a server that was
    /// queueing, else to its running count); then the endpoints without fresh metrics, by the
    /// gateway's own requests in flight. Ties in random order, so equal servers share the
    /// load. See the `choose` module for why.
    ///
    /// `subset` (the Inference Extension's subset hint) restricts the choice; an empty subset,
    /// or one with no endpoint of the pool, is [`NoEndpoint::OutsideSubset`].
    pub fn pick(&self, subset: Option<&[SocketAddr]>) -> Result<Vec<SocketAddr>, NoEndpoint> {
        let shared = &*self.shared;
        if shared.endpoints.is_empty() {
            return Err(NoEndpoint::EmptyPool);
        }
        let snapshot = shared.snapshot.load();
        let now = Instant::now();
        let rank = |i: usize| {
            let in_flight = shared.in_flight[i].load(Ordering::Relaxed);
            (
                shared.endpoints[i],
                Rank::of(
                    snapshot[i].scraped.as_ref(),
                    in_flight,
                    now,
                    shared.stale_after,
                ),
            )
        };
        let candidates: Vec<_> = match subset {
            None => (0..shared.endpoints.len()).map(rank).collect(),
            Some(subset) => {
                let mut seen = vec![false; shared.endpoints.len()];
                subset
                    .iter()
                    .filter_map(|a| shared.index.get(a).copied())
                    .filter(|&i| !std::mem::replace(&mut seen[i], true))
                    .map(rank)
                    .collect()
            }
        };
        if candidates.is_empty() {
            return Err(NoEndpoint::OutsideSubset);
        }
        Ok(choose::order(candidates))
    }

    /// Counts a request to `addr` as in flight until the guard drops. Call it right after
    /// [`pick`](Self::pick), before any await, for the endpoint actually tried (again for each
    /// retry), and keep the guard until the response has ended (streamed body included): a
    /// burst of requests between two scrapes then sees its own earlier picks and spreads.
    /// An address outside the pool gives a guard that counts nothing.
    pub fn begin(&self, addr: SocketAddr) -> InFlight {
        let index = self.shared.index.get(&addr).copied();
        if let Some(i) = index {
            self.shared.in_flight[i].fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            shared: self.shared.clone(),
            index,
        }
    }

    /// The pool's name, as given to [`LoadPicker::start`].
    pub fn pool(&self) -> &str {
        &self.shared.pool
    }

    /// What is known of each endpoint now, in the pool's order (for gauges and admin views).
    pub fn status(&self) -> Vec<EndpointStatus> {
        let shared = &*self.shared;
        let snapshot = shared.snapshot.load();
        let now = Instant::now();
        shared
            .endpoints
            .iter()
            .zip(snapshot.iter())
            .zip(&shared.in_flight)
            .map(|((addr, state), in_flight)| {
                let age = state.scraped.map(|s| now.saturating_duration_since(s.at));
                EndpointStatus {
                    addr: *addr,
                    load: state.scraped.map(|s| s.load),
                    age,
                    fresh: age.is_some_and(|a| a <= shared.stale_after),
                    error: state.error.clone(),
                    in_flight: in_flight.load(Ordering::Relaxed).max(0) as u64,
                }
            })
            .collect()
    }

    /// The pool's endpoints, duplicates removed, in their configured order.
    pub fn endpoints(&self) -> &[SocketAddr] {
        &self.shared.endpoints
    }
}

impl Drop for LoadPicker {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A request in flight to one endpoint ([`LoadPicker::begin`]); uncounted on drop. It may
/// outlive its picker.
#[must_use = "the request is counted only while the guard lives"]
pub struct InFlight {
    shared: Arc<Shared>,
    index: Option<usize>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = self.index.map(|i| self.shared.endpoints[i]);
        f.debug_struct("InFlight").field("endpoint", &addr).finish()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            self.shared.in_flight[i].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
