//! `backendRefs`: Services (through their EndpointSlices, ready endpoints only),
//! InferencePools (their Ready Pods and endpoint picker) and SwitchboardBackends, each
//! checked against ReferenceGrants when in another namespace.
//!
//! A Service ref becomes one `host` entry per ready endpoint; weights are scaled so that each
//! ref keeps its share whatever its number of endpoints (ref weight × L / endpoints, L the
//! least common multiple of the endpoint counts). A ref that does not resolve becomes a
//! `status: 500` entry with its share, as the Gateway API says, and the route's
//! `ResolvedRefs` says why; a Service with no ready endpoint answers `503` for its share.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::Value;

use super::refs::{ns_name, permitted, ObjectRef, INFERENCE_GROUP};
use super::view::BackendRef;
use super::Cx;
use crate::config::file::{NamedBackend, RouteBackend};
use crate::config::pool::{EndpointPickerConfig, InferencePoolConfig, PickerFailureMode};
use crate::kubernetes::crd::{SwitchboardBackend, GROUP};

/// Why a ref did not resolve: a Gateway API `ResolvedRefs` reason and a message.
pub(super) type Problem = (String, String);

/// The entries of one rule's `backendRefs`.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    pub(super) entries: Vec<RouteBackend>,
    pub(super) problems: Vec<Problem>,
    /// InferencePools used, for their status.
    pub(super) pools: BTreeSet<ObjectRef>,
}

/// What one ref resolved to.
enum Target {
    /// `host:port` endpoints (maybe none ready).
    Hosts(Vec<String>),
    /// A named backend of the generated config.
    Named(String),
    /// A fixed status for the ref's share.
    Status(u16),
}

/// Resolves `refs` of a rule of `route` (group, kind, namespace).
pub(super) fn resolve(cx: &mut Cx<'_>, route: &ObjectRef, refs: &[BackendRef]) -> Resolved {
    let mut out = Resolved::default();
    let mut targets: Vec<(u32, Target)> = Vec::new();
    for r in refs {
        let weight = u32::try_from(r.weight.unwrap_or(1)).unwrap_or(0);
        let resolved = match target(cx, route, r, &mut out.pools) {
            Ok(Target::Hosts(hosts)) if hosts.is_empty() => Target::Status(503),
            Ok(t) => t,
            Err(problem) => {
                out.problems.push(problem);
                Target::Status(500)
            }
        };
        if weight > 0 {
            targets.push((weight, resolved));
        }
    }
    let lcm = targets
        .iter()
        .filter_map(|(_, t)| match t {
            Target::Hosts(h) if !h.is_empty() => Some(h.len() as u64),
            _ => None,
        })
        .fold(1u64, lcm);
    for (weight, target) in targets {
        match target {
            Target::Hosts(hosts) => {
                let n = hosts.len() as u64;
                for host in hosts {
                    let w = u64::from(weight) * lcm / n;
                    out.entries.push(RouteBackend {
                        backend: None,
                        host: Some(host),
                        status: None,
                        weight: Some(u32::try_from(w).unwrap_or(u32::MAX)),
                        policies: None,
                    });
                }
            }
            Target::Status(code) => out.entries.push(RouteBackend {
                backend: None,
                host: None,
                status: Some(code),
                weight: Some(u32::try_from(u64::from(weight) * lcm).unwrap_or(u32::MAX)),
                policies: None,
            }),
            Target::Named(name) => out.entries.push(RouteBackend {
                backend: Some(name),
                host: None,
                status: None,
                weight: Some(u32::try_from(u64::from(weight) * lcm).unwrap_or(u32::MAX)),
                policies: None,
            }),
        }
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    (a / gcd(a, b)).saturating_mul(b).min(1 << 20)
}

fn target(
    cx: &mut Cx<'_>,
    route: &ObjectRef,
    r: &BackendRef,
    pools: &mut BTreeSet<ObjectRef>,
) -> Result<Target, Problem> {
    let group = r.group.clone().unwrap_or_default();
    let kind = r.kind.clone().unwrap_or_else(|| "Service".into());
    let namespace = r
        .namespace
        .clone()
        .unwrap_or_else(|| route.namespace.clone());
    let to = ObjectRef::new(&group, &kind, &namespace, &r.name);
    let known = matches!(
        (group.as_str(), kind.as_str()),
        ("", "Service") | (INFERENCE_GROUP, "InferencePool") | (GROUP, "SwitchboardBackend")
    );
    if !known {
        return Err((
            "InvalidKind".into(),
            format!("backendRef kind {group}/{kind} is not supported"),
        ));
    }
    if !permitted(
        cx.snapshot,
        (&route.group, &route.kind, &route.namespace),
        &to,
    ) {
        return Err((
            "RefNotPermitted".into(),
            format!(
                "no ReferenceGrant in {namespace} allows a {} of {} to refer to {to}",
                route.kind, route.namespace
            ),
        ));
    }
    let not_found = || ("BackendNotFound".to_string(), format!("{to} not found"));
    match kind.as_str() {
        "Service" => {
            let port = r.port.ok_or_else(|| {
                (
                    "BackendNotFound".to_string(),
                    format!("backendRef to {to} needs a port"),
                )
            })?;
            service_hosts(cx, &namespace, &r.name, port).map(Target::Hosts)
        }
        "InferencePool" => {
            if let Some(reason) = cx.rejected.get(&to) {
                // Its status (through the route's Gateways) says why.
                pools.insert(to.clone());
                return Err((
                    "BackendNotFound".into(),
                    format!("{to} is not valid: {reason}"),
                ));
            }
            let name = format!("inferencepool/{namespace}/{}", r.name);
            if !cx.named.contains_key(&name) {
                let backend = pool_backend(cx, &to, &name).ok_or_else(not_found)?;
                cx.named.insert(name.clone(), (backend, to.clone()));
            }
            pools.insert(to);
            Ok(Target::Named(name))
        }
        _ => {
            let name = format!("switchboardbackend/{namespace}/{}", r.name);
            if !cx.named.contains_key(&name) {
                let backend = cx.backends.get(&to).cloned().ok_or_else(not_found)?;
                cx.named.insert(name.clone(), (backend, to));
            }
            Ok(Target::Named(name))
        }
    }
}

/// The ready endpoints of port `port` of Service `namespace/name`, as `host:port`, sorted.
pub(super) fn service_hosts(
    cx: &Cx<'_>,
    namespace: &str,
    name: &str,
    port: i32,
) -> Result<Vec<String>, Problem> {
    let not_found = |m: String| ("BackendNotFound".to_string(), m);
    let service: &Service = cx
        .snapshot
        .services
        .iter()
        .find(|s| ns_name(*s) == (namespace, name))
        .ok_or_else(|| not_found(format!("Service {namespace}/{name} not found")))?;
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        let host = spec.external_name.unwrap_or_default();
        return Ok(vec![format!("{host}:{port}")]);
    }
    let service_port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.port == port)
        .ok_or_else(|| not_found(format!("Service {namespace}/{name} has no port {port}")))?;
    let port_name = service_port.name.unwrap_or_default();
    let mut hosts = BTreeSet::new();
    for slice in &cx.snapshot.endpoint_slices {
        let labels = slice.metadata.labels.clone().unwrap_or_default();
        if slice.metadata.namespace.as_deref() != Some(namespace)
            || labels.get("kubernetes.io/service-name").map(String::as_str) != Some(name)
        {
            continue;
        }
        let Some(target_port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.clone().unwrap_or_default() == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            // `ready` unset means ready (the EndpointSlice API's advice to consumers).
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            if !ready {
                continue;
            }
            for address in &endpoint.addresses {
                hosts.insert(host_port(address, target_port));
            }
        }
    }
    Ok(hosts.into_iter().collect())
}

fn host_port(address: &str, port: i32) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// The named backend of an InferencePool: its Ready Pods' IPs on `targetPorts`, and the
/// picker's Service as `clusterIP:port` (or its DNS name when it has no cluster IP).
fn pool_backend(cx: &mut Cx<'_>, to: &ObjectRef, name: &str) -> Option<NamedBackend> {
    let pool = cx
        .snapshot
        .inference_pools
        .iter()
        .find(|p| ns_name(*p) == (to.namespace.as_str(), to.name.as_str()))?;
    let spec = &pool.spec;
    let mut endpoints: Vec<String> = cx
        .snapshot
        .pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(to.namespace.as_str()))
        .filter(|p| pod_selected(p, &spec.selector.match_labels))
        .filter_map(ready_ip)
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let target_ports = spec
        .target_ports
        .iter()
        .filter_map(|p| u16::try_from(p.number).ok())
        .collect();
    let picker = &spec.endpoint_picker_ref;
    let port = picker.port.as_ref().map(|p| p.number).unwrap_or(9002);
    let service = cx
        .snapshot
        .services
        .iter()
        .find(|s| ns_name(*s) == (to.namespace.as_str(), picker.name.as_str()));
    let host = match service
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.cluster_ip.clone())
        .filter(|ip| !ip.is_empty() && ip != "None")
    {
        Some(ip) => host_port(&ip, port),
        None => format!("{}.{}.svc:{port}", picker.name, to.namespace),
    };
    let failure_mode = match picker.failure_mode.as_deref() {
        Some("FailOpen") => PickerFailureMode::FailOpen,
        _ => PickerFailureMode::FailClose,
    };
    if service.is_none() {
        cx.pool_problems.insert(
            to.clone(),
            format!(
                "endpoint picker Service {}/{} not found",
                to.namespace, picker.name
            ),
        );
    }
    Some(NamedBackend {
        name: name.to_string(),
        host: None,
        mcp: None,
        ai: None,
        inference_pool: Some(InferencePoolConfig {
            endpoints,
            target_ports,
            endpoint_picker: Some(EndpointPickerConfig {
                host,
                failure_mode,
                timeout: None,
            }),
            load_picker: None,
            destination_mode: Default::default(),
        }),
        policies: None,
    })
}

fn pod_selected(pod: &Pod, labels: &std::collections::BTreeMap<String, String>) -> bool {
    let have = pod.metadata.labels.clone().unwrap_or_default();
    pod.metadata.deletion_timestamp.is_none() && labels.iter().all(|(k, v)| have.get(k) == Some(v))
}

fn ready_ip(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    status.pod_ip.clone().filter(|ip| ready && !ip.is_empty())
}

/// Checks every SwitchboardBackend (secrets expanded, the file's schema), recording the valid
/// ones in `cx.backends` and the status of each.
pub(super) fn switchboard_backends(cx: &mut Cx<'_>) {
    let mut list: Vec<&SwitchboardBackend> = cx.snapshot.backends.iter().collect();
    list.sort_by(|a, b| ns_name(*a).cmp(&ns_name(*b)));
    for backend in list {
        let object = ObjectRef::of(backend);
        let existing = backend
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let mut conditions =
            super::conditions::Conditions::new(super::refs::generation(backend), &existing, cx.now);
        let name = format!("switchboardbackend/{}/{}", object.namespace, object.name);
        let mut spec = serde_json::to_value(&backend.spec).unwrap_or(Value::Null);
        match super::secrets::expand(cx.snapshot, &object.namespace, &mut spec) {
            Err(errors) => {
                conditions.set("Accepted", false, "Invalid", "a Secret it names is missing");
                conditions.set("ResolvedRefs", false, "SecretNotFound", errors.join("; "));
            }
            Ok(secret_paths) => {
                conditions.set(
                    "ResolvedRefs",
                    true,
                    "ResolvedRefs",
                    "every Secret resolved",
                );
                match super::check::backend(&name, &spec) {
                    Err(errors) => conditions.set("Accepted", false, "Invalid", errors.join("; ")),
                    Ok(named) => {
                        if let Some(reason) = cx.rejected.get(&object) {
                            conditions.set("Accepted", false, "Invalid", reason.clone());
                        } else {
                            conditions.set("Accepted", true, "Accepted", "valid");
                            cx.backends.insert(object.clone(), named);
                            cx.backend_secret_paths.insert(object.clone(), secret_paths);
                        }
                    }
                }
            }
        }
        cx.status.insert(
            object,
            serde_json::json!({ "conditions": conditions.into_vec() }),
        );
    }
}
