//! The scrape task of one pool: every interval, `GET` every endpoint's metrics at once (one
//! keep-alive client, each scrape bounded by the timeout), then publish the results in one
//! snapshot that picks read without waiting.
//!
//! One task per pool, not per endpoint: the endpoints of a round are scraped concurrently on
//! this task, and the round ends when the slowest answers or times out, so the timeout bounds
//! how late a round can be. The task is aborted when its [`super::LoadPicker`] is dropped.
//! A hot reload builds new pickers, so a new pool starts with no metrics (its endpoints rank by
//! in-flight requests until the first round answers, one interval at most).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use http::header::ACCEPT;

use super::choose::{Rank, Scraped};
use super::parse::{parse_load, Load};
use super::{EndpointState, Shared};

/// The largest metrics answer read. vLLM's, with its histograms, is some tens of KiB per
/// served model; a server with many LoRA adapters labels more samples.
pub const MAX_METRICS_BYTES: usize = 4 << 20;

/// Why one scrape gave no load.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Http(String),
    #[error("answered {0}")]
    Status(http::StatusCode),
    #[error("answer larger than {MAX_METRICS_BYTES} bytes")]
    TooLarge,
    #[error(
        "no load gauge in the answer (vllm:num_requests_waiting, llamacpp:requests_deferred, ...): \
         is it a model server's metrics?"
    )]
    NoLoadGauge,
}

/// What the task needs besides the shared state.
pub(crate) struct Scraper {
    pub client: reqwest::Client,
    /// The metrics URL of each endpoint, in the pool's order.
    pub urls: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
}

/// The metrics URL of `addr`: `http://ADDR[:port]/path`.
pub(crate) fn metrics_url(addr: SocketAddr, port: Option<u16>, path: &str) -> String {
    let addr = SocketAddr::new(addr.ip(), port.unwrap_or(addr.port()));
    format!("http://{addr}{path}")
}

impl Scraper {
    /// Scrapes forever; the owner aborts the task.
    pub async fn run(self, shared: Arc<Shared>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut all_stale: Option<bool> = None;
        let this = &self;
        loop {
            ticker.tick().await;
            let results = join_all(this.urls.iter().enumerate().map(|(i, url)| {
                let shared = &shared;
                async move {
                    let result = this.scrape(url).await;
                    let in_flight = shared.in_flight[i].load(Ordering::Relaxed);
                    (result, Instant::now(), in_flight)
                }
            }))
            .await;
            let prev = shared.snapshot.load_full();
            let next: Vec<EndpointState> = results
                .into_iter()
                .zip(prev.iter())
                .zip(&shared.endpoints)
                .map(|(((result, at, in_flight), before), addr)| {
                    let now = next_state(before, result, at, in_flight);
                    log_change(&shared.pool, *addr, before, &now);
                    now
                })
                .collect();
            shared.snapshot.store(Arc::new(next));
            all_stale = log_all_stale(&shared, all_stale);
        }
    }

    async fn scrape(&self, url: &str) -> Result<Load, ScrapeError> {
        tokio::time::timeout(self.timeout, fetch(&self.client, url))
            .await
            .map_err(|_| ScrapeError::Timeout(self.timeout))?
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Load, ScrapeError> {
    let http = |e: reqwest::Error| ScrapeError::Http(netkit::error_chain(&e));
    let mut resp = client
        .get(url)
        .header(ACCEPT, "text/plain; version=0.0.4")
        .send()
        .await
        .map_err(http)?;
    if !resp.status().is_success() {
        return Err(ScrapeError::Status(resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http)? {
        if body.len() + chunk.len() > MAX_METRICS_BYTES {
            return Err(ScrapeError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let load = parse_load(&String::from_utf8_lossy(&body));
    if load.is_known() {
        Ok(load)
    } else {
        Err(ScrapeError::NoLoadGauge)
    }
}

/// An endpoint's state after a scrape: a good one replaces the last, a failed one keeps it
/// (it goes stale with time) and records why.
fn next_state(
    before: &EndpointState,
    result: Result<Load, ScrapeError>,
    at: Instant,
    in_flight: i64,
) -> EndpointState {
    match result {
        Ok(load) => EndpointState {
            scraped: Some(Scraped {
                load,
                at,
                in_flight,
            }),
            error: None,
            attempted: true,
        },
        Err(e) => EndpointState {
            scraped: before.scraped,
            error: Some(Arc::from(e.to_string())),
            attempted: true,
        },
    }
}

/// The change of an endpoint's scrape health worth a log line: its first failure, and every
/// change between failing and answering (not every failed round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Down,
    Up,
}

pub(crate) fn change(before: &EndpointState, now: &EndpointState) -> Option<Change> {
    let was_down = before.attempted && before.error.is_some();
    match (was_down, now.error.is_some()) {
        (false, true) => Some(Change::Down),
        (true, false) => Some(Change::Up),
        _ => None,
    }
}

fn log_change(pool: &str, addr: SocketAddr, before: &EndpointState, now: &EndpointState) {
    match change(before, now) {
        Some(Change::Down) => tracing::warn!(
            pool,
            endpoint = %addr,
            error = now.error.as_deref().unwrap_or(""),
            "loadPicker: metrics scrape failed; the endpoint ranks after those with fresh \
             metrics once its last good scrape is stale"
        ),
        Some(Change::Up) => {
            tracing::info!(pool, endpoint = %addr, "loadPicker: metrics scrape answers again")
        }
        None => {}
    }
}

/// Logs when the pool enters or leaves the state where no endpoint has fresh metrics (once per
/// change); returns the state for the next round.
fn log_all_stale(shared: &Shared, before: Option<bool>) -> Option<bool> {
    let now = Instant::now();
    let snapshot = shared.snapshot.load();
    let stale = !snapshot
        .iter()
        .any(|s| Rank::of(s.scraped.as_ref(), 0, now, shared.stale_after).is_fresh());
    match (before, stale) {
        (Some(true), false) => tracing::info!(
            pool = &*shared.pool,
            "loadPicker: fresh metrics again; picking the least loaded endpoint"
        ),
        (Some(false) | None, true) => tracing::warn!(
            pool = &*shared.pool,
            "loadPicker: no endpoint has fresh metrics; picking by the gateway's own requests \
             in flight (random among equals)"
        ),
        _ => {}
    }
    Some(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(error: Option<&str>, attempted: bool) -> EndpointState {
        EndpointState {
            scraped: None,
            error: error.map(Arc::from),
            attempted,
        }
    }

    /// One line when a scrape starts failing and one when it answers again, none in between.
    #[test]
    fn health_changes_are_reported_once_per_change() {
        let fresh = EndpointState::default();
        let ok = state(None, true);
        let failing = state(Some("refused"), true);
        assert_eq!(change(&fresh, &failing), Some(Change::Down));
        assert_eq!(change(&fresh, &ok), None);
        assert_eq!(change(&ok, &failing), Some(Change::Down));
        assert_eq!(change(&failing, &failing), None);
        assert_eq!(change(&failing, &ok), Some(Change::Up));
        assert_eq!(change(&ok, &ok), None);
    }

    #[test]
    fn a_failed_scrape_keeps_the_last_good_one() {
        let at = Instant::now();
        let good = next_state(&EndpointState::default(), Ok(Load::default()), at, 2);
        assert_eq!(good.scraped.map(|s| s.in_flight), Some(2));
        let bad = next_state(&good, Err(ScrapeError::TooLarge), Instant::now(), 0);
        assert_eq!(bad.scraped, good.scraped);
        assert!(bad.error.is_some());
    }

    #[test]
    fn urls_take_the_port_override_and_bracket_ipv6() {
        let v4: SocketAddr = "10.0.0.5:8000".parse().unwrap();
        let v6: SocketAddr = "[::1]:8000".parse().unwrap();
        assert_eq!(
            metrics_url(v4, None, "/metrics"),
            "http://10.0.0.5:8000/metrics"
        );
        assert_eq!(metrics_url(v6, Some(9090), "/m"), "http://[::1]:9090/m");
    }
}
