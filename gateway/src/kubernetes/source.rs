//! The Kubernetes config source at run time: watch, translate, serve, report.
//!
//! The order of one round is visible here: every watched kind's store is read into a
//! [`Snapshot`]; the translator turns it into a config and a status per object; the config is
//! lowered and applied exactly as a changed file would be (ports kept, connections kept), unless
//! it is byte-identical to the one being served; the status goes to the writer, which sends it
//! only while this replica holds the lease. A round runs after the first complete list of every
//! kind, then after each change, once changes have paused for the debounce time.

use std::sync::Arc;

use kube::api::Api;
use tokio::sync::watch;

use super::crd::{InferencePool, ReferenceGrantV1beta1, SwitchboardBackend, SwitchboardPolicy};
use super::leader::{ElectionParams, LeaderElection};
use super::options::KubernetesOptions;
use super::snapshot::{Scope, Snapshot};
use super::status::{self, StatusWork};
use super::translate;
use super::watch::Watched;
use crate::config::file::ProcessConfig;
use crate::server::Runtime;

use gateway_api::apis::standard::{
    gatewayclasses::GatewayClass, gateways::Gateway, grpcroutes::GrpcRoute, httproutes::HttpRoute,
    referencegrants::ReferenceGrant,
};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Why the Kubernetes source could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No usable kubeconfig or in-cluster credentials.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// The client could not be built from the configuration.
    #[error("cannot create the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// Builds the API client from `--kubeconfig`, or `$KUBECONFIG`, `~/.kube/config` and the
/// in-cluster service account, in that order.
pub async fn client(options: &KubernetesOptions) -> Result<kube::Client, SourceError> {
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| SourceError::Config(format!("cannot read {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| SourceError::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            SourceError::Config(format!(
                "{e} (give --kubeconfig, set KUBECONFIG, or run in a pod with a service account)"
            ))
        })?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Every watched kind's store.
struct Stores {
    gateway_classes: Watched<GatewayClass>,
    gateways: Watched<Gateway>,
    http_routes: Watched<HttpRoute>,
    grpc_routes: Watched<GrpcRoute>,
    reference_grants: Watched<ReferenceGrant>,
    services: Watched<Service>,
    endpoint_slices: Watched<EndpointSlice>,
    secrets: Watched<Secret>,
    pods: Watched<Pod>,
    namespaces: Watched<Namespace>,
    inference_pools: Watched<InferencePool>,
    backends: Watched<SwitchboardBackend>,
    policies: Watched<SwitchboardPolicy>,
    /// ReferenceGrants as v1beta1, for clusters whose Gateway API CRDs predate v1.5.
    reference_grants_beta: Watched<ReferenceGrantV1beta1>,
}

/// Lists the stores' fields once, for starting, waiting and snapshotting alike.
macro_rules! each_store {
    ($mac:ident) => {
        $mac!(
            gateway_classes: "GatewayClass",
            gateways: "Gateway",
            http_routes: "HTTPRoute",
            grpc_routes: "GRPCRoute",
            reference_grants: "ReferenceGrant",
            services: "Service",
            endpoint_slices: "EndpointSlice",
            secrets: "Secret",
            pods: "Pod",
            namespaces: "Namespace",
            inference_pools: "InferencePool",
            backends: "SwitchboardBackend",
            policies: "SwitchboardPolicy"
        )
    };
}

impl Stores {
    fn start(client: &kube::Client, changed: &watch::Sender<u64>, runtime: &Runtime) -> Stores {
        macro_rules! start {
            ($($field:ident: $kind:literal),*) => {
                Stores {$(
                    $field: Watched::start(
                        Api::all(client.clone()),
                        $kind,
                        changed.clone(),
                        runtime.metrics.clone(),
                    ),
                )*
                    reference_grants_beta: Watched::start(
                        Api::all(client.clone()),
                        "ReferenceGrant.v1beta1",
                        changed.clone(),
                        runtime.metrics.clone(),
                    ),
                }
            };
        }
        each_store!(start)
    }

    /// Waits for the first complete list of every kind, saying which ones it still waits for.
    async fn ready(&self) {
        macro_rules! wait {
            ($($field:ident: $kind:literal),*) => {$(
                let mut waited = false;
                loop {
                    tokio::select! {
                        _ = self.$field.ready() => break,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                            if !waited {
                                tracing::warn!(kind = $kind, "still waiting for the first list from the API server (is it reachable, and may this service account list this kind?)");
                                waited = true;
                            }
                        }
                    }
                }
            )*};
        }
        each_store!(wait);
        self.reference_grants_beta.ready().await;
    }

    fn snapshot(&self) -> Snapshot {
        macro_rules! snap {
            ($($field:ident: $kind:literal),*) => {
                Snapshot {$(
                    $field: self.$field.sorted().into_iter().map(|o| (*o).clone()).collect(),
                )*}
            };
        }
        let mut snapshot = each_store!(snap);
        // A cluster that serves both versions lists each grant twice: keep one.
        for beta in self.reference_grants_beta.sorted() {
            let key = (&beta.metadata.namespace, &beta.metadata.name);
            if !snapshot
                .reference_grants
                .iter()
                .any(|g| (&g.metadata.namespace, &g.metadata.name) == key)
            {
                snapshot.reference_grants.push((*beta).clone().into());
            }
        }
        snapshot
    }
}

/// Serves the Gateways in scope until `shutdown` fires: watches, translates and applies on
/// every change, and runs the status lease and writer.
pub async fn run(
    runtime: Arc<Runtime>,
    client: kube::Client,
    options: KubernetesOptions,
    process: Option<ProcessConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let scope = Scope {
        controller_name: options.controller_name.clone(),
        gateway_classes: options.gateway_classes.clone(),
        gateways: options.gateways.clone(),
        listen_address: options.listen_address.map(|a| a.to_string()),
        process,
    };
    let (changed_tx, mut changed) = watch::channel(0u64);
    let stores = Stores::start(&client, &changed_tx, &runtime);

    let (leading_tx, leading) = watch::channel(false);
    let election = LeaderElection::new(
        client.clone(),
        ElectionParams {
            namespace: options.lease_namespace.clone(),
            lease_name: options.lease_name.clone(),
            identity: options.identity(),
            lease_duration: options.lease_duration,
        },
    );
    let election = tokio::spawn(election.run(leading_tx, shutdown.clone()));
    let (work_tx, work) = watch::channel(Arc::new(StatusWork::default()));
    let writer = tokio::spawn(status::run(
        client.clone(),
        runtime.metrics.clone(),
        work,
        leading,
    ));

    stores.ready().await;
    tracing::info!("every watched kind is listed; translating");
    let mut served: Option<Vec<u8>> = None;
    let mut shutdown_rx = shutdown.clone();
    loop {
        changed.borrow_and_update();
        let snapshot = stores.snapshot();
        apply_round(&runtime, &snapshot, &scope, &mut served, &work_tx).await;
        tokio::select! {
            r = changed.changed() => if r.is_err() { break },
            _ = shutdown_rx.wait_for(|s| *s) => break,
        }
        // Let a burst of changes (`kubectl apply -f dir/`) settle into one round.
        tokio::time::sleep(options.debounce).await;
    }
    // The election releases the lease when it sees the shutdown; the writer ends with it.
    let _ = election.await;
    writer.abort();
}

/// One round: translate, lower, apply when changed, and hand the status to the writer.
async fn apply_round(
    runtime: &Runtime,
    snapshot: &Snapshot,
    scope: &Scope,
    served: &mut Option<Vec<u8>>,
    work: &watch::Sender<Arc<StatusWork>>,
) {
    let metrics = &runtime.metrics;
    let result = translate::serve(snapshot, scope, crate::mcp::build);
    for e in &result.errors.0 {
        tracing::warn!(error = %e, "a resource was rejected; it is reported on its status and the rest is served");
    }
    match (result.source, result.model) {
        (Some(source), Some(model)) => {
            // Compared with secrets in: a rotated credential or certificate redacts to the
            // same `/config` but is a change to apply.
            let bytes = serde_json::to_vec(source.raw()).unwrap_or_default();
            if served.as_deref() == Some(bytes.as_slice()) {
                metrics.kubernetes.translation("unchanged");
            } else {
                match runtime.apply(model, source.redacted()).await {
                    Ok(()) => {
                        metrics.kubernetes.translation("applied");
                        metrics.reload(true);
                        tracing::info!("config from Kubernetes applied");
                        *served = Some(bytes);
                    }
                    Err(e) => {
                        metrics.kubernetes.translation("rejected");
                        metrics.reload(false);
                        tracing::error!(error = %e, "config from Kubernetes rejected; still serving the last good config");
                    }
                }
            }
        }
        _ => {
            metrics.kubernetes.translation("rejected");
            metrics.reload(false);
            tracing::error!(errors = %result.errors, "the resources do not give a config that can be served; still serving the last good config");
        }
    }
    let next = StatusWork::new(result.status, snapshot);
    work.send_if_modified(|w| {
        if **w == next {
            false
        } else {
            *w = Arc::new(next);
            true
        }
    });
}
