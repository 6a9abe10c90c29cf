//! Which statuses of a report differ from what the API server already has, so the status
//! writer patches only those (an unchanged cluster costs no writes).

use serde_json::Value;

use super::{ObjectRef, StatusReport};
use crate::kubernetes::snapshot::Snapshot;

/// The current `.status` of `object` in the snapshot (`Null` when it has none or is absent).
pub fn current_status(snapshot: &Snapshot, object: &ObjectRef) -> Value {
    fn find<K: kube::Resource<DynamicType = ()> + serde::Serialize>(
        list: &[K],
        object: &ObjectRef,
    ) -> Value {
        list.iter()
            .find(|o| ObjectRef::of(*o) == *object)
            .and_then(|o| serde_json::to_value(o).ok())
            .map(|v| v.get("status").cloned().unwrap_or(Value::Null))
            .unwrap_or(Value::Null)
    }
    match object.kind.as_str() {
        "GatewayClass" => find(&snapshot.gateway_classes, object),
        "Gateway" => find(&snapshot.gateways, object),
        "HTTPRoute" => find(&snapshot.http_routes, object),
        "GRPCRoute" => find(&snapshot.grpc_routes, object),
        "InferencePool" => find(&snapshot.inference_pools, object),
        "SwitchboardBackend" => find(&snapshot.backends, object),
        "SwitchboardPolicy" => find(&snapshot.policies, object),
        _ => Value::Null,
    }
}

impl StatusReport {
    /// The statuses that differ from the objects' current ones in `snapshot`, in order.
    pub fn changed<'a>(&'a self, snapshot: &Snapshot) -> Vec<(&'a ObjectRef, &'a Value)> {
        self.statuses
            .iter()
            .filter(|(object, status)| current_status(snapshot, object) != **status)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{snapshot, t0, TWO_LISTENERS};

    use crate::kubernetes::snapshot::Scope;

    #[test]
    fn a_written_status_is_not_changed_again() {
        let mut s = snapshot(TWO_LISTENERS);
        let first = super::super::build::run_at(&s, &Scope::default(), &Default::default(), &t0());
        let changed: Vec<String> = first
            .status
            .changed(&s)
            .iter()
            .map(|(o, _)| o.kind.clone())
            .collect();
        assert_eq!(changed, ["Gateway", "GatewayClass"]);
        for (object, status) in &first.status.statuses {
            match object.kind.as_str() {
                "Gateway" => s.gateways[0].status = serde_json::from_value(status.clone()).ok(),
                _ => s.gateway_classes[0].status = serde_json::from_value(status.clone()).ok(),
            }
        }
        let again = super::super::build::run_at(&s, &Scope::default(), &Default::default(), &t0());
        assert!(again.status.changed(&s).is_empty());
    }
}
