//! The watched objects at one moment ([`Snapshot`]), and what this controller serves
//! ([`Scope`]). The watch layer fills a snapshot from its reflector stores; the translator
//! reads it and nothing else, so a translation is a pure function of the two.

use gateway_api::apis::standard::gatewayclasses::GatewayClass;
use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::crd::{InferencePool, SwitchboardBackend, SwitchboardPolicy};
use crate::config::file::ProcessConfig;

/// The controller name Switchboard answers to in `GatewayClass.spec.controllerName` by default.
pub const DEFAULT_CONTROLLER_NAME: &str = "switchboard.dev/gateway-controller";

/// Every watched object, in any order (the translator sorts what it emits). Objects of
/// namespaces or classes outside the [`Scope`] may be present; they are ignored.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `gateway.networking.k8s.io/v1` GatewayClasses.
    pub gateway_classes: Vec<GatewayClass>,
    /// `gateway.networking.k8s.io/v1` Gateways.
    pub gateways: Vec<Gateway>,
    /// `gateway.networking.k8s.io/v1` HTTPRoutes.
    pub http_routes: Vec<HttpRoute>,
    /// `gateway.networking.k8s.io/v1` GRPCRoutes.
    pub grpc_routes: Vec<GrpcRoute>,
    /// `gateway.networking.k8s.io/v1beta1` ReferenceGrants.
    pub reference_grants: Vec<ReferenceGrant>,
    /// Core Services (backendRefs, endpoint pickers).
    pub services: Vec<Service>,
    /// `discovery.k8s.io/v1` EndpointSlices (label `kubernetes.io/service-name`).
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Secrets: TLS certificates (`kubernetes.io/tls`) and `${secret:NAME/KEY}` values.
    pub secrets: Vec<Secret>,
    /// Pods, for the members of InferencePools.
    pub pods: Vec<Pod>,
    /// Namespaces, for `allowedRoutes.namespaces.from: Selector` (their labels).
    pub namespaces: Vec<Namespace>,
    /// `inference.networking.k8s.io/v1` InferencePools.
    pub inference_pools: Vec<InferencePool>,
    /// `switchboard.dev/v1alpha1` SwitchboardBackends.
    pub backends: Vec<SwitchboardBackend>,
    /// `switchboard.dev/v1alpha1` SwitchboardPolicies.
    pub policies: Vec<SwitchboardPolicy>,
}

/// What this controller serves.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Matched against `GatewayClass.spec.controllerName`; also written as the
    /// `controllerName` of route parent statuses.
    pub controller_name: String,
    /// GatewayClasses served, by name; empty: every class whose `controllerName` is ours.
    pub gateway_classes: Vec<String>,
    /// Gateways served, as `(namespace, name)`; empty: every Gateway of a served class.
    pub gateways: Vec<(String, String)>,
    /// Address the generated binds listen on; default `0.0.0.0` (the file's default).
    pub listen_address: Option<String>,
    /// Process settings copied into the generated config (`adminAddr`, `sessionKey` from the
    /// command line or a Secret); Kubernetes objects never set them.
    pub process: Option<ProcessConfig>,
}

impl Default for Scope {
    fn default() -> Scope {
        Scope {
            controller_name: DEFAULT_CONTROLLER_NAME.to_string(),
            gateway_classes: Vec::new(),
            gateways: Vec::new(),
            listen_address: None,
            process: None,
        }
    }
}

/// Why an object could not be added to a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An object of a kind the snapshot does not hold.
    #[error("unsupported object {api_version}/{kind}")]
    Unsupported {
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
    /// An object that does not deserialize into its type.
    #[error("invalid {kind}: {source}")]
    Invalid {
        /// Its `kind`.
        kind: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The manifest is not YAML that JSON can hold.
    #[error(transparent)]
    Manifest(#[from] super::yaml::ManifestError),
}

impl Snapshot {
    /// Adds one object given as JSON (as the API server or a manifest gives it), by its
    /// `apiVersion` and `kind`.
    pub fn insert_json(&mut self, object: Value) -> Result<(), SnapshotError> {
        let api_version = object["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = object["kind"].as_str().unwrap_or("").to_string();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        fn parse<T: serde::de::DeserializeOwned>(
            kind: &str,
            object: Value,
        ) -> Result<T, SnapshotError> {
            serde_json::from_value(object).map_err(|source| SnapshotError::Invalid {
                kind: kind.to_string(),
                source,
            })
        }
        match (group, kind.as_str()) {
            ("gateway.networking.k8s.io", "GatewayClass") => {
                self.gateway_classes.push(parse(&kind, object)?)
            }
            ("gateway.networking.k8s.io", "Gateway") => self.gateways.push(parse(&kind, object)?),
            ("gateway.networking.k8s.io", "HTTPRoute") => {
                self.http_routes.push(parse(&kind, object)?)
            }
            ("gateway.networking.k8s.io", "GRPCRoute") => {
                self.grpc_routes.push(parse(&kind, object)?)
            }
            ("gateway.networking.k8s.io", "ReferenceGrant") => {
                self.reference_grants.push(parse(&kind, object)?)
            }
            ("", "Service") => self.services.push(parse(&kind, object)?),
            ("discovery.k8s.io", "EndpointSlice") => {
                self.endpoint_slices.push(parse(&kind, object)?)
            }
            ("", "Secret") => self.secrets.push(parse(&kind, object)?),
            ("", "Pod") => self.pods.push(parse(&kind, object)?),
            ("", "Namespace") => self.namespaces.push(parse(&kind, object)?),
            ("inference.networking.k8s.io", "InferencePool") => {
                self.inference_pools.push(parse(&kind, object)?)
            }
            ("switchboard.dev", "SwitchboardBackend") => self.backends.push(parse(&kind, object)?),
            ("switchboard.dev", "SwitchboardPolicy") => self.policies.push(parse(&kind, object)?),
            _ => return Err(SnapshotError::Unsupported { api_version, kind }),
        }
        Ok(())
    }

    /// A snapshot of every object in a multi-document YAML manifest (tests, fixtures).
    pub fn from_yaml(text: &str) -> Result<Snapshot, SnapshotError> {
        let mut snapshot = Snapshot::default();
        for doc in super::yaml::documents(text)? {
            snapshot.insert_json(doc)?;
        }
        Ok(snapshot)
    }
}
