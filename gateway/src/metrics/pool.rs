//! Metrics of `inferencePool` backends: picks by outcome, the picker's latency, fail-open
//! decisions, and what each running `loadPicker` knows of its endpoints (gauges refreshed
//! from the live pickers whenever the metrics are read).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

use inference::load::LoadPicker;
use prometheus_client::metrics::gauge::Gauge;

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

/// Labels `{pool, endpoint}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// The pool's backend name.
    pub pool: String,
    /// The endpoint, `ip:port`.
    pub endpoint: String,
}

type EndpointGauge = Family<EndpointLabel, Gauge<f64, AtomicU64>>;

/// What the running load pickers know of their endpoints, as gauges.
#[derive(Debug, Clone, Default)]
pub struct EndpointGauges {
    queue: EndpointGauge,
    running: EndpointGauge,
    kv_cache: EndpointGauge,
    fresh: EndpointGauge,
    in_flight: EndpointGauge,
    /// The pickers to read, dropped from the list once their pool is gone (a reload).
    pickers: Arc<Mutex<Vec<Weak<LoadPicker>>>>,
}

/// The metrics of `inferencePool` backends.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    /// `switchboard_inference_endpoint_*{pool,endpoint}` of `loadPicker` pools.
    pub endpoints: EndpointGauges,
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
        let endpoints = EndpointGauges::default();
        for (name, help, family) in [
            (
                "switchboard_inference_endpoint_queue",
                "Requests waiting (vLLM) or deferred (llama.cpp) at a loadPicker endpoint's last good scrape",
                &endpoints.queue,
            ),
            (
                "switchboard_inference_endpoint_running",
                "Requests running (vLLM) or processing (llama.cpp) at a loadPicker endpoint's last good scrape",
                &endpoints.running,
            ),
            (
                "switchboard_inference_endpoint_kv_cache_usage",
                "KV-cache use (0 to 1) at a loadPicker endpoint's last good scrape",
                &endpoints.kv_cache,
            ),
            (
                "switchboard_inference_endpoint_metrics_fresh",
                "1 while a loadPicker endpoint's last good scrape is younger than staleAfter, else 0",
                &endpoints.fresh,
            ),
            (
                "switchboard_inference_endpoint_in_flight",
                "Requests this gateway has in flight to a loadPicker endpoint",
                &endpoints.in_flight,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        PoolMetrics {
            endpoints,
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

impl EndpointGauges {
    /// Reads `picker` at every refresh while it runs.
    pub fn watch(&self, picker: Weak<LoadPicker>) {
        let mut pickers = self.pickers.lock().unwrap_or_else(|p| p.into_inner());
        pickers.retain(|p| p.strong_count() > 0);
        pickers.push(picker);
    }

    /// Sets the gauges from the running pickers (an endpoint of a pool that is gone
    /// disappears); called when the metrics are read.
    pub fn refresh(&self) {
        let mut pickers = self.pickers.lock().unwrap_or_else(|p| p.into_inner());
        pickers.retain(|p| p.strong_count() > 0);
        for family in [
            &self.queue,
            &self.running,
            &self.kv_cache,
            &self.fresh,
            &self.in_flight,
        ] {
            family.clear();
        }
        for picker in pickers.iter().filter_map(Weak::upgrade) {
            for status in picker.status() {
                let label = EndpointLabel {
                    pool: picker.pool().to_string(),
                    endpoint: status.addr.to_string(),
                };
                if let Some(load) = &status.load {
                    for (family, value) in [
                        (&self.queue, load.queue),
                        (&self.running, load.running),
                        (&self.kv_cache, load.kv_cache),
                    ] {
                        if let Some(v) = value {
                            family.get_or_create(&label).set(v);
                        }
                    }
                }
                self.fresh
                    .get_or_create(&label)
                    .set(if status.fresh { 1.0 } else { 0.0 });
                #[allow(clippy::cast_precision_loss)]
                self.in_flight
                    .get_or_create(&label)
                    .set(status.in_flight as f64);
            }
        }
    }
}
