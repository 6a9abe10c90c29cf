//! Status conditions: `observedGeneration` from the object, and a `lastTransitionTime` that
//! stays put while the condition's status and reason do not change, so repeated
//! translations of the same objects give the same status (no churn on the API server).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Conditions being built for one object (or one listener, one route parent).
pub(super) struct Conditions<'a> {
    generation: i64,
    existing: &'a [Condition],
    now: &'a Time,
    list: Vec<Condition>,
}

impl<'a> Conditions<'a> {
    /// Conditions for an object of `generation` whose current status has `existing`.
    pub(super) fn new(generation: i64, existing: &'a [Condition], now: &'a Time) -> Self {
        Conditions {
            generation,
            existing,
            now,
            list: Vec::new(),
        }
    }

    /// Sets condition `type_` (replacing an earlier one of the same type).
    pub(super) fn set(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        let status = if ok { "True" } else { "False" };
        let time = self
            .existing
            .iter()
            .find(|c| c.type_ == type_ && c.status == status && c.reason == reason)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| self.now.clone());
        self.list.retain(|c| c.type_ != type_);
        self.list.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: Some(self.generation),
            last_transition_time: time,
        });
    }

    /// The conditions, in the order set.
    pub(super) fn into_vec(self) -> Vec<Condition> {
        self.list
    }
}
