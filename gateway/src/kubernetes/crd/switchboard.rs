//! Switchboard's own resources, `switchboard.dev/v1alpha1`: a named backend of the file
//! format (`SwitchboardBackend`) and file-format policies attached to Gateway API objects by
//! GEP-713 `targetRefs` (`SwitchboardPolicy`).
//!
//! The file-format parts are JSON values here, checked by the translator against the config
//! file's own schema (see the module docs of [`super`]); strings in them may name a Secret
//! key of the resource's namespace as `${secret:NAME/KEY}` (docs/kubernetes.md).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::preserve_unknown;

/// One named backend, as an item of the file's `backends` without its `name` (the resource's
/// name is). Exactly one of `host`, `mcp`, `ai`, `inferencePool`.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "SwitchboardBackend",
    plural = "switchboardbackends",
    shortname = "sbbackend",
    namespaced,
    status = "SwitchboardStatus",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct SwitchboardBackendSpec {
    /// Static upstream `host:port` (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A virtual MCP server aggregating `targets`, as in the file's `backends[].mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub mcp: Option<Value>,
    /// LLM providers, as in the file's `backends[].ai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub ai: Option<Value>,
    /// A pool of model servers, as in the file's `backends[].inferencePool` (with literal
    /// endpoints; an `InferencePool` resource is referenced from a route directly instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub inference_pool: Option<Value>,
    /// Policies of every request sent to this backend, as in the file's `backends[].policies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub policies: Option<Value>,
}

/// File-format policies attached to Gateway API objects.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "SwitchboardPolicy",
    plural = "switchboardpolicies",
    shortname = "sbpolicy",
    namespaced,
    status = "SwitchboardStatus",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct SwitchboardPolicySpec {
    /// What the policies attach to (GEP-713), in the policy's namespace: a `Gateway` (every
    /// route of it, or of the listener named by `sectionName`), an `HTTPRoute` or `GRPCRoute`
    /// (every rule, or the rule named by `sectionName`), or a `SwitchboardBackend`.
    pub target_refs: Vec<PolicyTargetRef>,
    /// The policies, keyed as in the file's `policies` blocks (`jwtAuth`, `apiKeyAuth`,
    /// `basicAuth`, `mcpAuthentication`, `mcpAuthorization`, `authorization`,
    /// `localRateLimit`, `rateLimit`, `backendAuth`, `a2a`, `cors`, `timeout`, `retry`, ...).
    #[schemars(schema_with = "preserve_unknown")]
    pub policies: Value,
}

/// A GEP-713 `LocalPolicyTargetReferenceWithSectionName`.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTargetRef {
    /// `gateway.networking.k8s.io` or `switchboard.dev`.
    pub group: String,
    /// `Gateway`, `HTTPRoute`, `GRPCRoute` or `SwitchboardBackend`.
    pub kind: String,
    /// The target's name, in the policy's namespace.
    pub name: String,
    /// A listener of a Gateway, or a rule (by `name`) of a route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

/// The status of a Switchboard resource: `Accepted` and `ResolvedRefs`; for a policy also
/// GEP-713 `ancestors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchboardStatus {
    /// The conditions, with `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// SwitchboardPolicy only: one entry per Gateway (or SwitchboardBackend) the policy takes
    /// effect through, per controller: `{ancestorRef: {group, kind, namespace, name},
    /// controllerName, conditions}` (GEP-713).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "ancestors_schema")]
    pub ancestors: Vec<Value>,
}

fn ancestors_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}
