//! The kinds this server serves: a fixed set of built-in ones and those that CustomResource-
//! Definitions stored in etcd declare. Every API server learns CRDs by watching their etcd
//! prefix, so servers over one etcd serve the same set.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{json, Value};

/// One served resource (a group/version/plural).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    /// Plural, lower case (`httproutes`).
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    /// Whether a `/status` subresource exists (writes to the main resource keep the status).
    pub has_status: bool,
    pub short_names: Vec<String>,
    /// Served from a CRD (merge patches; strategic merge patch is refused for those).
    pub custom: bool,
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The etcd key prefix of every object of this resource (ends with `/`).
    pub fn prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/registry/{}/{}/", group, self.plural)
    }

    /// The etcd key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{}/{}", self.prefix(), ns, name),
            _ => format!("{}{}", self.prefix(), name),
        }
    }

    /// `kubectl get all` lists the kinds in the `all` category.
    fn categories(&self) -> Vec<&'static str> {
        match (self.group.as_str(), self.plural.as_str()) {
            ("", "pods" | "services") | ("apps", "deployments") => vec!["all"],
            _ => Vec::new(),
        }
    }

    /// The APIResource entries of legacy discovery (the resource and its status).
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut out = vec![json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": self.short_names,
            "categories": self.categories(),
        })];
        if self.has_status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    has_status: bool,
    short: &[&str],
) -> ResourceInfo {
    ResourceInfo {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        has_status,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        custom: false,
    }
}

/// The built-in kinds.
pub fn builtins() -> Vec<ResourceInfo> {
    vec![
        builtin("", "v1", "namespaces", "Namespace", false, true, &["ns"]),
        builtin("", "v1", "services", "Service", true, true, &["svc"]),
        builtin("", "v1", "endpoints", "Endpoints", true, false, &["ep"]),
        builtin("", "v1", "secrets", "Secret", true, false, &[]),
        builtin("", "v1", "configmaps", "ConfigMap", true, false, &["cm"]),
        builtin("", "v1", "pods", "Pod", true, true, &["po"]),
        builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            false,
            &["sa"],
        ),
        builtin("", "v1", "events", "Event", true, false, &["ev"]),
        // kube-runtime's event Recorder writes events.k8s.io/v1 Events (stored apart from
        // core/v1 events here; the real server shares their storage).
        builtin(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            false,
            &["ev"],
        ),
        builtin(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
            false,
            &[],
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            false,
            &[],
        ),
        builtin(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            true,
            &["deploy"],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            false,
            &[],
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            true,
            &["crd", "crds"],
        ),
    ]
}

/// The resources one CRD object declares (one per served version); empty when it is not a
/// well-formed apiextensions.k8s.io/v1 CRD.
pub fn from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let (Some(group), Some(plural), Some(kind)) = (
        spec["group"].as_str(),
        spec["names"]["plural"].as_str(),
        spec["names"]["kind"].as_str(),
    ) else {
        return Vec::new();
    };
    let singular = spec["names"]["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let short_names: Vec<String> = spec["names"]["shortNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    spec["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["served"].as_bool().unwrap_or(false))
                .filter_map(|v| {
                    Some(ResourceInfo {
                        group: group.into(),
                        version: v["name"].as_str()?.into(),
                        plural: plural.into(),
                        singular: singular.clone(),
                        kind: kind.into(),
                        namespaced,
                        has_status: v["subresources"]["status"].is_object(),
                        short_names: short_names.clone(),
                        custom: true,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The served resources: built-ins plus CRD-declared ones (keyed by CRD name).
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<RegistryState>>,
}

#[derive(Default)]
struct RegistryState {
    builtins: Vec<ResourceInfo>,
    crds: BTreeMap<String, Vec<ResourceInfo>>,
}

impl Registry {
    /// A registry of the built-in kinds.
    pub fn new() -> Self {
        Registry {
            inner: Arc::new(RwLock::new(RegistryState {
                builtins: builtins(),
                crds: BTreeMap::new(),
            })),
        }
    }

    /// Every served resource, built-ins first.
    pub fn all(&self) -> Vec<ResourceInfo> {
        let s = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = s.builtins.clone();
        for r in s.crds.values() {
            out.extend(r.iter().cloned());
        }
        out
    }

    /// The resource at `group`/`version`/`plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.all()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Records (or replaces) what CRD `name` declares.
    pub fn set_crd(&self, name: &str, resources: Vec<ResourceInfo>) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if resources.is_empty() {
            s.crds.remove(name);
        } else {
            s.crds.insert(name.to_string(), resources);
        }
    }

    /// Forgets CRD `name`.
    pub fn remove_crd(&self, name: &str) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        s.crds.remove(name);
    }

    /// Replaces every CRD-declared resource (after a full list of the CRD prefix).
    pub fn reset_crds(&self, crds: BTreeMap<String, Vec<ResourceInfo>>) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        s.crds = crds;
    }

    /// Groups with their versions, in order of first appearance (core excluded).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            if r.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
}
