//! The order of a pool's endpoints for one request, best first, from their last scrape and the
//! gateway's own requests in flight.
//!
//! # The score
//!
//! An endpoint whose last good scrape is younger than `staleAfter` is *fresh*; its rank is the
//! triple `(queue, running, kvCache)`, compared in that order (lexicographically):
//!
//! 1. `queue`: requests waiting for a slot (vLLM `num_requests_waiting`, llama.cpp
//!    `requests_deferred`). A queued request waits for a whole generation to end, so any queue
//!    outweighs any number of running requests: a server with free slots always wins.
//! 2. `running`: requests in the batch (vLLM `num_requests_running`, llama.cpp
//!    `requests_processing`). With equal queues, fewer running requests means more compute per
//!    token for the next one.
//! 3. `kvCache`: KV-cache use (0 to 1). With equal counts, the emptier cache preempts later.
//!
//! The gateway's own requests started or finished since the scrape move the estimate:
//! `delta = inFlightNow − inFlightAtScrape` is added to `queue` when the server was queueing at
//! the scrape (new requests join the queue), else to `running` (a server with free slots runs
//! them); the result is floored at 0. The scraped gauges already count the requests that were
//! in flight at the scrape, so only the difference is added. This is what spreads a burst
//! arriving between two scrapes: each pick sees the previous picks.
//!
//! Endpoints that are not fresh (never scraped, or whose scrapes have failed for longer than
//! `staleAfter`) rank after every fresh one, still usable (a server whose metrics fail may still
//! serve), ordered by the gateway's own requests in flight to them alone. So when every
//! endpoint is stale the pool degrades to least-requests-in-flight, which is a random order
//! among idle endpoints.
//!
//! Ties are broken at random (the candidates are shuffled, then sorted stably), so equal
//! servers share the load instead of the first one taking it all.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::parse::Load;

/// An endpoint's last good scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scraped {
    /// What it said.
    pub load: Load,
    /// When its answer arrived.
    pub at: Instant,
    /// The gateway's requests in flight to it when the answer arrived.
    pub in_flight: i64,
}

/// Where an endpoint stands for one pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Rank {
    /// Fresh metrics: `(queue, running, kvCache)` estimated now.
    Fresh { queue: f64, running: f64, kv: f64 },
    /// Stale or never scraped: only the gateway's own requests in flight are known.
    Stale { in_flight: i64 },
}

impl Rank {
    /// `scraped` (its last good scrape, if any) judged at `now`, with `in_flight` requests of
    /// the gateway to it now.
    pub fn of(
        scraped: Option<&Scraped>,
        in_flight: i64,
        now: Instant,
        stale_after: Duration,
    ) -> Rank {
        let Some(s) = scraped.filter(|s| now.saturating_duration_since(s.at) <= stale_after) else {
            return Rank::Stale {
                in_flight: in_flight.max(0),
            };
        };
        let delta = (in_flight - s.in_flight) as f64;
        let mut queue = s.load.queue.unwrap_or(0.0);
        let mut running = s.load.running.unwrap_or(0.0);
        if queue > 0.0 {
            queue = (queue + delta).max(0.0);
        } else {
            running = (running + delta).max(0.0);
        }
        Rank::Fresh {
            queue,
            running,
            kv: s.load.kv_cache.unwrap_or(0.0),
        }
    }

    pub fn is_fresh(&self) -> bool {
        matches!(self, Rank::Fresh { .. })
    }

    fn cmp(&self, other: &Rank) -> Ordering {
        match (self, other) {
            (
                Rank::Fresh { queue, running, kv },
                Rank::Fresh {
                    queue: q2,
                    running: r2,
                    kv: k2,
                },
            ) => queue
                .total_cmp(q2)
                .then(running.total_cmp(r2))
                .then(kv.total_cmp(k2)),
            (Rank::Fresh { .. }, Rank::Stale { .. }) => Ordering::Less,
            (Rank::Stale { .. }, Rank::Fresh { .. }) => Ordering::Greater,
            (Rank::Stale { in_flight }, Rank::Stale { in_flight: f2 }) => in_flight.cmp(f2),
        }
    }
}

/// The candidates' addresses, best first, ties in random order.
pub(crate) fn order(mut candidates: Vec<(SocketAddr, Rank)>) -> Vec<SocketAddr> {
    candidates.shuffle(&mut rand::rng());
    candidates.sort_by(|a, b| a.1.cmp(&b.1));
    candidates.into_iter().map(|(addr, _)| addr).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const STALE: Duration = Duration::from_secs(3);

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn load(queue: f64, running: f64, kv: f64) -> Load {
        Load {
            queue: Some(queue),
            running: Some(running),
            kv_cache: Some(kv),
        }
    }

    fn fresh(l: Load, now: Instant) -> Scraped {
        Scraped {
            load: l,
            at: now,
            in_flight: 0,
        }
    }

    #[test]
    fn queue_outweighs_running_which_outweighs_the_cache() {
        let now = Instant::now();
        let rank = |l| Rank::of(Some(&fresh(l, now)), 0, now, STALE);
        let got = order(vec![
            (addr(1), rank(load(1.0, 0.0, 0.0))),
            (addr(2), rank(load(0.0, 50.0, 0.1))),
            (addr(3), rank(load(0.0, 2.0, 0.9))),
            (addr(4), rank(load(0.0, 2.0, 0.2))),
            (addr(5), rank(load(3.0, 0.0, 0.0))),
        ]);
        assert_eq!(got, [addr(4), addr(3), addr(2), addr(1), addr(5)]);
    }

    #[test]
    fn stale_and_unscraped_endpoints_rank_after_fresh_ones_by_in_flight() {
        let now = Instant::now();
        let old = Scraped {
            load: load(0.0, 0.0, 0.0),
            at: now - Duration::from_secs(10),
            in_flight: 0,
        };
        let got = order(vec![
            (addr(1), Rank::of(Some(&old), 0, now, STALE)),
            (addr(2), Rank::of(None, 2, now, STALE)),
            (
                addr(3),
                Rank::of(Some(&fresh(load(9.0, 9.0, 1.0), now)), 0, now, STALE),
            ),
            (addr(4), Rank::of(None, 1, now, STALE)),
        ]);
        assert_eq!(got, [addr(3), addr(1), addr(4), addr(2)]);
        assert!(!Rank::of(Some(&old), 0, now, STALE).is_fresh());
    }

    /// Requests the gateway started since the scrape count as running on a server that had
    /// free slots, and as queued on one that was queueing; finished ones come off, down to 0.
    #[test]
    fn in_flight_changes_since_the_scrape_move_the_estimate() {
        let now = Instant::now();
        let at_scrape = |l, f| Scraped {
            load: l,
            at: now,
            in_flight: f,
        };
        let idle = at_scrape(load(0.0, 1.0, 0.5), 2);
        assert_eq!(
            Rank::of(Some(&idle), 5, now, STALE),
            Rank::Fresh {
                queue: 0.0,
                running: 4.0,
                kv: 0.5
            }
        );
        assert_eq!(
            Rank::of(Some(&idle), 0, now, STALE),
            Rank::Fresh {
                queue: 0.0,
                running: 0.0,
                kv: 0.5
            }
        );
        let queueing = at_scrape(load(2.0, 8.0, 0.9), 0);
        assert_eq!(
            Rank::of(Some(&queueing), 3, now, STALE),
            Rank::Fresh {
                queue: 5.0,
                running: 8.0,
                kv: 0.9
            }
        );
    }

    #[test]
    fn missing_gauges_count_as_zero() {
        let now = Instant::now();
        let only_kv = Load {
            kv_cache: Some(0.3),
            ..Load::default()
        };
        assert_eq!(
            Rank::of(Some(&fresh(only_kv, now)), 0, now, STALE),
            Rank::Fresh {
                queue: 0.0,
                running: 0.0,
                kv: 0.3
            }
        );
    }

    /// Equal endpoints come first in every position over many picks.
    #[test]
    fn ties_are_broken_at_random() {
        let now = Instant::now();
        let same = Rank::of(Some(&fresh(load(0.0, 1.0, 0.1), now)), 0, now, STALE);
        let mut firsts = HashSet::new();
        for _ in 0..200 {
            let got = order((1..=3).map(|p| (addr(p), same)).collect());
            firsts.insert(got[0]);
        }
        assert_eq!(firsts.len(), 3, "{firsts:?}");
    }
}
