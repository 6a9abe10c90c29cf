//! Routes and their backends as the data path sees them.

use std::sync::Arc;

use super::health::Health;
use super::plan::{BackendPlan, RoutePlan};

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// `listener/route`, used in logs and metrics.
    pub key: Arc<str>,
    /// What the route does before a backend is chosen.
    pub plan: RoutePlan,
    /// Weighted backends.
    pub backends: Vec<RouteBackend>,
    /// Sum of weights.
    pub total_weight: u64,
    /// Metric handles, resolved on first use.
    pub metrics: std::sync::OnceLock<crate::metrics::RouteMetrics>,
}

/// One weighted backend of a route.
#[derive(Debug)]
pub struct RouteBackend {
    /// Name for logs: the named backend's name, or the inline host.
    pub name: Arc<str>,
    /// Relative weight.
    pub weight: u32,
    /// What happens to a request sent to this backend, route and backend policies merged.
    pub plan: BackendPlan,
    /// Passive health.
    pub health: Health,
}

/// Why no backend could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoBackend {
    /// Every backend has weight 0.
    NoWeight,
    /// Every backend with weight is ejected by passive health.
    AllEjected,
}

impl Route {
    /// Picks an available backend by weight, with `random` drawing a number below its argument.
    pub fn pick_backend(
        &self,
        random: impl FnOnce(u64) -> u64,
    ) -> Result<&RouteBackend, NoBackend> {
        if self.total_weight == 0 {
            return Err(NoBackend::NoWeight);
        }
        let available = |b: &&RouteBackend| b.weight > 0 && b.health.is_available();
        let weight: u64 = self
            .backends
            .iter()
            .filter(available)
            .map(|b| u64::from(b.weight))
            .sum();
        if weight == 0 {
            return Err(NoBackend::AllEjected);
        }
        let mut roll = if weight > 1 { random(weight) } else { 0 };
        for b in self.backends.iter().filter(available) {
            let w = u64::from(b.weight);
            if roll < w {
                return Ok(b);
            }
            roll -= w;
        }
        Err(NoBackend::AllEjected)
    }
}
