//! Writes the translator's status onto the objects, from the lease holder only.
//!
//! Each object's `.status` is sent as a merge patch on its `/status` subresource, and only when
//! it differs from what the API server last showed (the watched copy) and from what this
//! replica last wrote, so a steady state costs no writes. A replica that becomes the leader
//! writes everything that differs at once; a failed write is logged, counted and tried again
//! on the next change or after [`RETRY_AFTER`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::Resource;
use serde_json::Value;
use tokio::sync::watch;

use super::crd::{InferencePool, SwitchboardBackend, SwitchboardPolicy};
use super::snapshot::Snapshot;
use super::translate::{current_status, ObjectRef, StatusReport};
use crate::metrics::Metrics;

/// How soon a failed status write is tried again when nothing else changes.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the status writer is asked to make true: the desired status of each object, and the
/// status each object had in the snapshot the translation read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusWork {
    /// The translator's status of every object it concerns.
    pub desired: StatusReport,
    /// The `.status` each of those objects had when watched (`Null` when it had none).
    pub current: BTreeMap<ObjectRef, Value>,
}

impl StatusWork {
    /// Pairs a translation's status with the statuses the snapshot shows.
    pub fn new(desired: StatusReport, snapshot: &Snapshot) -> StatusWork {
        let current = desired
            .statuses
            .keys()
            .map(|r| (r.clone(), current_status(snapshot, r)))
            .collect();
        StatusWork { desired, current }
    }

    /// The objects whose status must be written, given what this replica wrote last.
    fn pending<'a>(
        &'a self,
        written: &'a BTreeMap<ObjectRef, Value>,
    ) -> impl Iterator<Item = (&'a ObjectRef, &'a Value)> + 'a {
        self.desired.statuses.iter().filter(move |(r, status)| {
            self.current.get(*r) != Some(*status) && written.get(*r) != Some(*status)
        })
    }
}

/// The API resource of a kind whose status the translator reports.
fn api_resource(r: &ObjectRef) -> Option<ApiResource> {
    use gateway_api::apis::standard::{
        gatewayclasses::GatewayClass, gateways::Gateway, grpcroutes::GrpcRoute,
        httproutes::HttpRoute,
    };
    fn of<K: Resource<DynamicType = ()>>() -> ApiResource {
        ApiResource::erase::<K>(&())
    }
    let resource = match r.kind.as_str() {
        "GatewayClass" => of::<GatewayClass>(),
        "Gateway" => of::<Gateway>(),
        "HTTPRoute" => of::<HttpRoute>(),
        "GRPCRoute" => of::<GrpcRoute>(),
        "InferencePool" => of::<InferencePool>(),
        "SwitchboardBackend" => of::<SwitchboardBackend>(),
        "SwitchboardPolicy" => of::<SwitchboardPolicy>(),
        _ => return None,
    };
    Some(resource)
}

/// Writes status while `leading` says this replica holds the lease.
pub async fn run(
    client: kube::Client,
    metrics: Arc<Metrics>,
    mut work: watch::Receiver<Arc<StatusWork>>,
    mut leading: watch::Receiver<bool>,
) {
    let mut written: BTreeMap<ObjectRef, Value> = BTreeMap::new();
    loop {
        if !*leading.borrow_and_update() {
            // What another leader wrote meanwhile is unknown: start from what the API shows.
            written.clear();
            metrics.kubernetes.leader.set(0);
            if leading.changed().await.is_err() {
                return;
            }
            continue;
        }
        metrics.kubernetes.leader.set(1);
        let current = work.borrow_and_update().clone();
        let mut failed = false;
        let pending: Vec<(ObjectRef, Value)> = current
            .pending(&written)
            .map(|(r, s)| (r.clone(), s.clone()))
            .collect();
        for (r, status) in &pending {
            match write(&client, r, status).await {
                Ok(()) => {
                    metrics.kubernetes.status_write("ok");
                    written.insert(r.clone(), status.clone());
                }
                Err(e) => {
                    metrics.kubernetes.status_write("error");
                    failed = true;
                    tracing::warn!(object = %r, error = %e, "cannot write status; will retry");
                }
            }
        }
        // Forget what no longer needs remembering (objects gone from the report).
        written.retain(|r, _| current.desired.statuses.contains_key(r));
        tokio::select! {
            changed = work.changed() => if changed.is_err() { return },
            changed = leading.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(RETRY_AFTER), if failed => {}
        }
    }
}

/// Sends one object's status as a merge patch on its `/status` subresource.
async fn write(client: &kube::Client, r: &ObjectRef, status: &Value) -> Result<(), kube::Error> {
    let Some(resource) = api_resource(r) else {
        tracing::debug!(object = %r, "no status subresource known for this kind");
        return Ok(());
    };
    let api: Api<DynamicObject> = if r.namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), &r.namespace, &resource)
    };
    let patch = serde_json::json!({ "status": status });
    match api
        .patch_status(&r.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Deleted since the snapshot: nothing to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
