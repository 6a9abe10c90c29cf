//! Routes and their backends as the data path sees them.

use std::sync::Arc;

use super::policy::{BackendPolicies, RoutePolicies};
use super::upstream::Upstream;

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// `listener/route`, used in logs and metrics.
    pub key: Arc<str>,
    /// Route-level policies.
    pub policies: RoutePolicies,
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
    /// Where requests go.
    pub target: BackendTarget,
    /// Policies of the entry and the named backend, merged.
    pub policies: BackendPolicies,
}

/// What a backend is.
#[derive(Debug, Clone)]
pub enum BackendTarget {
    /// Reverse proxy to a `host:port`.
    Host(Upstream),
}

impl Route {
    /// Picks a backend by weight given a random number in `0..total_weight`; `None` when
    /// there is none with weight.
    pub fn pick_backend(&self, mut roll: u64) -> Option<&RouteBackend> {
        if self.total_weight == 0 {
            return None;
        }
        for b in &self.backends {
            let w = u64::from(b.weight);
            if roll < w {
                return Some(b);
            }
            roll -= w;
        }
        None
    }
}
