//! Naming objects, and the ReferenceGrant rule for references across namespaces.

use std::fmt;

use kube::Resource;
use serde::Serialize;

use crate::kubernetes::snapshot::Snapshot;

/// The Gateway API group.
pub(super) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The Inference Extension group.
pub(super) const INFERENCE_GROUP: &str = "inference.networking.k8s.io";

/// One object: group (`""` for the core group), kind, namespace (`""` when cluster-scoped)
/// and name. Ordered, so reports and generated names sort the same way every time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// API group; `""` for the core group.
    pub group: String,
    /// Kind, e.g. `HTTPRoute`.
    pub kind: String,
    /// Namespace; `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference to a typed object.
    pub fn of<K: Resource<DynamicType = ()>>(object: &K) -> ObjectRef {
        ObjectRef {
            group: K::group(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            namespace: object.meta().namespace.clone().unwrap_or_default(),
            name: object.meta().name.clone().unwrap_or_default(),
        }
    }

    /// A reference built from its parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The namespace and name of an object (`""` when absent).
pub(super) fn ns_name<K: Resource>(object: &K) -> (&str, &str) {
    let meta = object.meta();
    (
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or(""),
    )
}

/// `metadata.generation` (0 when absent), for `observedGeneration`.
pub(super) fn generation<K: Resource>(object: &K) -> i64 {
    object.meta().generation.unwrap_or(0)
}

/// Whether an object of `from` (group, kind, namespace) may refer to `to` in another
/// namespace: true in the same namespace; otherwise only when a ReferenceGrant in `to`'s
/// namespace lists `from`'s group, kind and namespace and `to`'s group and kind (and name,
/// when the grant names one).
pub(super) fn permitted(snapshot: &Snapshot, from: (&str, &str, &str), to: &ObjectRef) -> bool {
    let (from_group, from_kind, from_ns) = from;
    if from_ns == to.namespace {
        return true;
    }
    snapshot.reference_grants.iter().any(|grant| {
        grant.metadata.namespace.as_deref() == Some(to.namespace.as_str())
            && grant
                .spec
                .from
                .iter()
                .any(|f| f.group == from_group && f.kind == from_kind && f.namespace == from_ns)
            && grant.spec.to.iter().any(|t| {
                t.group == to.group
                    && t.kind == to.kind
                    && t.name.as_deref().is_none_or(|n| n == to.name)
            })
    })
}
