//! Metrics of the Kubernetes config source: watch health per kind, translations, status
//! writes, and whether this replica holds the status lease.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels `{kind}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The watched kind, e.g. `HTTPRoute`.
    pub kind: String,
}

/// Labels `{result}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `applied`, `unchanged` or `rejected` (translations); `ok` or `error` (status writes).
    pub result: String,
}

/// The metrics of the Kubernetes config source.
#[derive(Debug, Clone)]
pub struct KubernetesMetrics {
    /// `switchboard_kubernetes_relists_total{kind}`: lists after the first, because a watch
    /// could not resume (`410 Gone`, or an API server that came back).
    pub relists: Family<KindLabel, Counter>,
    /// `switchboard_kubernetes_watch_errors_total{kind}`.
    pub watch_errors: Family<KindLabel, Counter>,
    /// `switchboard_kubernetes_translations_total{result}`.
    pub translations: Family<OutcomeLabel, Counter>,
    /// `switchboard_kubernetes_status_writes_total{result}`.
    pub status_writes: Family<OutcomeLabel, Counter>,
    /// `switchboard_kubernetes_leader`: 1 while this replica holds the status lease.
    pub leader: Gauge<i64, AtomicI64>,
}

impl KubernetesMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let relists = Family::<KindLabel, Counter>::default();
        registry.register(
            "switchboard_kubernetes_relists",
            "Lists of a watched kind after the first, because its watch could not resume (410 Gone, or an API server that came back)",
            relists.clone(),
        );
        let watch_errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "switchboard_kubernetes_watch_errors",
            "Failed list or watch calls to the Kubernetes API server, by kind",
            watch_errors.clone(),
        );
        let translations = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "switchboard_kubernetes_translations",
            "Translations of the watched resources into a config: applied, unchanged (same config as served) or rejected",
            translations.clone(),
        );
        let status_writes = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "switchboard_kubernetes_status_writes",
            "Status subresource writes by the lease holder, by result",
            status_writes.clone(),
        );
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "switchboard_kubernetes_leader",
            "1 while this replica holds the status lease (writes status), else 0",
            leader.clone(),
        );
        KubernetesMetrics {
            relists,
            watch_errors,
            translations,
            status_writes,
            leader,
        }
    }

    /// Counts a relist of `kind`.
    pub fn relist(&self, kind: &str) {
        self.relists
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts a failed list or watch call of `kind`.
    pub fn watch_error(&self, kind: &str) {
        self.watch_errors
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts a translation with `result`.
    pub fn translation(&self, result: &str) {
        self.translations
            .get_or_create(&OutcomeLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts a status write with `result`.
    pub fn status_write(&self, result: &str) {
        self.status_writes
            .get_or_create(&OutcomeLabel {
                result: result.to_string(),
            })
            .inc();
    }
}
