//! `InferencePool` of the Gateway API Inference Extension, `inference.networking.k8s.io/v1`:
//! the model servers (Pods chosen by a label selector, on `targetPorts`) and the endpoint
//! picker that chooses one per request.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The desired state of an `InferencePool` (Inference Extension v1).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "inference.networking.k8s.io",
    version = "v1",
    kind = "InferencePool",
    plural = "inferencepools",
    namespaced,
    status = "InferencePoolStatus",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolSpec {
    /// The Pods of the pool: those of the pool's namespace whose labels include all of these.
    pub selector: LabelSelector,
    /// The ports the model servers listen on (1 to 8); several ports of one Pod are several
    /// endpoints.
    pub target_ports: Vec<PortNumber>,
    /// The endpoint picker: a Service of the pool's namespace.
    pub endpoint_picker_ref: EndpointPickerRef,
}

/// `selector`: labels only (the v1 API has no expressions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Label name to value; a Pod matches when it has all of them.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// A port number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortNumber {
    /// 1 to 65535.
    pub number: i32,
}

/// `endpointPickerRef`: where the picker runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPickerRef {
    /// API group of the referent; default `""` (core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of the referent; default `Service` (the only kind Switchboard resolves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the Service, in the pool's namespace.
    pub name: String,
    /// The picker's gRPC port on that Service; required for a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortNumber>,
    /// `FailClose` (default) or `FailOpen`: what a request gets when the picker fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
}

/// The observed state: one entry per Gateway whose routes use the pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolStatus {
    /// Per parent (Gateway) status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<InferencePoolParentStatus>,
}

/// The pool's status as seen by one Gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolParentStatus {
    /// `Accepted`, `ResolvedRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Gateway.
    pub parent_ref: InferencePoolParentRef,
    /// The controller that wrote this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_name: Option<String>,
}

/// A reference to a Gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolParentRef {
    /// Default `gateway.networking.k8s.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Default `Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The Gateway's name.
    pub name: String,
    /// The Gateway's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
