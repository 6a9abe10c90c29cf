//! The custom resources: the Inference Extension's `InferencePool` (no crate ships its types)
//! and Switchboard's own `SwitchboardBackend` and `SwitchboardPolicy` (group
//! `switchboard.dev`), for what the Gateway API has no word for.
//!
//! The parts of Switchboard's specs that carry the file format (an `mcp` backend, `ai`
//! providers, policies) are schemaless in the CRD (`x-kubernetes-preserve-unknown-fields`):
//! the schemas schemars derives from the config structs use `oneOf`, `$ref` and
//! `additionalProperties: false`, which Kubernetes refuses in a structural schema. The
//! translator checks those parts with the config file's own JSON Schema instead, so an error
//! reads as it would in a file and lands on the resource's status.

mod inference_pool;
mod reference_grant_beta;
mod switchboard;

pub use inference_pool::{
    EndpointPickerRef, InferencePool, InferencePoolParentRef, InferencePoolParentStatus,
    InferencePoolSpec, InferencePoolStatus, LabelSelector, PortNumber,
};
pub use reference_grant_beta::ReferenceGrantV1beta1;
pub use switchboard::{
    PolicyTargetRef, SwitchboardBackend, SwitchboardBackendSpec, SwitchboardPolicy,
    SwitchboardPolicySpec, SwitchboardStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The group of Switchboard's own resources.
pub const GROUP: &str = "switchboard.dev";
/// Their version.
pub const VERSION: &str = "v1alpha1";

/// Every CRD Switchboard reads that no other project installs with the Gateway API:
/// `InferencePool` (normally installed by the Inference Extension; printed so that a cluster
/// without it can still be set up) and Switchboard's own.
pub fn definitions() -> Vec<CustomResourceDefinition> {
    vec![
        InferencePool::crd(),
        SwitchboardBackend::crd(),
        SwitchboardPolicy::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, for `switchboard crds | kubectl apply -f -`.
/// JSON is YAML, so each document is the CRD as indented JSON.
pub fn yaml() -> String {
    let mut out = String::new();
    for crd in definitions() {
        out.push_str("---\n");
        out.push_str(&serde_json::to_string_pretty(&crd).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A schema that Kubernetes keeps as given: any object, validated by the translator.
pub(crate) fn preserve_unknown(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_parse_and_name_every_kind() {
        let docs = crate::kubernetes::yaml::documents(&yaml()).expect("valid YAML");
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d["spec"]["names"]["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            ["InferencePool", "SwitchboardBackend", "SwitchboardPolicy"]
        );
        for doc in &docs {
            assert_eq!(doc["kind"], "CustomResourceDefinition");
            let version = &doc["spec"]["versions"][0];
            assert_eq!(version["subresources"]["status"], serde_json::json!({}));
            let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
            assert_eq!(spec["type"], "object", "{doc}");
        }
        assert_eq!(docs[0]["spec"]["group"], "inference.networking.k8s.io");
        assert_eq!(docs[1]["spec"]["group"], GROUP);
        // The file-format parts are schemaless for Kubernetes (checked by the translator).
        let policy = &docs[2]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"];
        assert_eq!(
            policy["policies"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(policy["targetRefs"]["type"], "array");
    }
}
