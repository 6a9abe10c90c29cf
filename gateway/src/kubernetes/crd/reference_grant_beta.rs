//! `ReferenceGrant` as `gateway.networking.k8s.io/v1beta1`, the only version clusters with the
//! Gateway API's CRDs before v1.5 serve (the gateway-api crate has the v1 type only). Watched
//! beside v1 and folded into it: the spec is the same in both versions.

use gateway_api::apis::standard::referencegrants::{
    ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of a v1beta1 ReferenceGrant (the same fields as v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1beta1",
    kind = "ReferenceGrant",
    plural = "referencegrants",
    root = "ReferenceGrantV1beta1",
    namespaced
)]
pub struct ReferenceGrantV1beta1Spec {
    /// Who may refer.
    pub from: Vec<ReferenceGrantFrom>,
    /// What they may refer to.
    pub to: Vec<ReferenceGrantTo>,
}

impl From<ReferenceGrantV1beta1> for ReferenceGrant {
    fn from(beta: ReferenceGrantV1beta1) -> ReferenceGrant {
        ReferenceGrant {
            metadata: beta.metadata,
            spec: ReferenceGrantSpec {
                from: beta.spec.from,
                to: beta.spec.to,
            },
        }
    }
}
