//! Metrics of `inferencePool` backends: picks by outcome, the picker's latency, fail-open
//! decisions.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels `{pool}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// The pool's backend name.
    pub pool: String,
}

/// Labels `{pool, outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolOutcome {
    /// The pool's backend name.
    pub pool: String,
    /// `picked` (the picker chose an endpoint the pool allows), `answered` (it answered the
    /// client itself: 503, 429), `refused` (it chose only endpoints outside a validated pool),
    /// `fail_open` (it failed; a random endpoint served), `failed` (it failed; 503).
    pub outcome: String,
}

/// The metrics of `inferencePool` backends.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    /// `switchboard_inference_pool_picks_total{pool,outcome}`.
    pub picks: Family<PoolOutcome, Counter>,
    /// `switchboard_inference_pool_picker_seconds{pool}`: one pick's round trip to the
    /// picker, failed ones included (bounded by the pick timeout).
    pub picker_seconds: Family<PoolLabel, Histogram>,
    /// `switchboard_inference_pool_fail_open_total{pool}`: requests sent to a random endpoint
    /// because the picker failed.
    pub fail_open: Family<PoolLabel, Counter>,
}

impl PoolMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let picks = Family::<PoolOutcome, Counter>::default();
        registry.register(
            "switchboard_inference_pool_picks",
            "Endpoint picks of inferencePool backends, by pool and outcome",
            picks.clone(),
        );
        let picker_seconds: Family<PoolLabel, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 18)));
        registry.register(
            "switchboard_inference_pool_picker_seconds",
            "Round trip of one pick to an inferencePool's endpoint picker",
            picker_seconds.clone(),
        );
        let fail_open = Family::<PoolLabel, Counter>::default();
        registry.register(
            "switchboard_inference_pool_fail_open",
            "Requests sent to a random endpoint because the pool's picker failed (FailOpen)",
            fail_open.clone(),
        );
        PoolMetrics {
            picks,
            picker_seconds,
            fail_open,
        }
    }

    /// Counts one pick of `pool` with `outcome`.
    pub fn pick(&self, pool: &str, outcome: &str) {
        self.picks
            .get_or_create(&PoolOutcome {
                pool: pool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
}
