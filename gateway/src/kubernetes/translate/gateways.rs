//! GatewayClasses and Gateways: which are served, their listeners (validated, checked for
//! conflicts, TLS certificates resolved) and the binds and listeners of the generated config.
//!
//! Listeners of served Gateways that share a port share a bind; those that also share a
//! hostname share one generated listener (one process serves them all, so two Gateways'
//! `*:80` are one listener whose routes are both Gateways' routes). HTTP and HTTPS on one
//! port conflict (the later listener, by Gateway creation then name, is `Conflicted`), as do
//! two listeners of one Gateway with the same port and hostname.

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as From,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{json, Value};

use super::conditions::Conditions;
use super::refs::{generation, ns_name, permitted, ObjectRef, GATEWAY_GROUP};
use super::Cx;
use crate::config::file::{Bind, Listener, ListenerProtocol, TlsConfig};

/// A certificate chain and private key, PEM.
type Pem = (String, String);

/// A label selector's parts (`matchLabels`, `matchExpressions`), as JSON.
pub(super) type Selector = Value;

/// Which namespaces' routes a listener accepts.
#[derive(Debug, Clone)]
pub(super) enum AllowedNamespaces {
    Same,
    All,
    Selector(Selector),
}

/// One listener of a served Gateway.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) gateway: ObjectRef,
    pub(super) name: String,
    pub(super) port: i32,
    pub(super) hostname: Option<String>,
    pub(super) namespaces: AllowedNamespaces,
    /// Route kinds accepted (group, kind).
    pub(super) kinds: Vec<(String, String)>,
    /// Where its routes go in the generated config: (bind, listener) indices; `None` when
    /// the listener is not programmed.
    pub(super) target: Option<(usize, usize)>,
    /// Routes attached (counted per route, for `attachedRoutes`).
    pub(super) attached: i32,
    /// Accepted, Programmed, ResolvedRefs, Conflicted: (ok, reason, message) each.
    accepted: (bool, String, String),
    resolved: (bool, String, String),
    conflicted: Option<(String, String)>,
    existing: Vec<Condition>,
    generation: i64,
    protocol: ListenerProtocol,
    tls: Option<Pem>,
}

/// A served Gateway.
#[derive(Debug, Clone)]
pub(super) struct ServedGateway {
    pub(super) object: ObjectRef,
    generation: i64,
    existing: Vec<Condition>,
    /// Indices into [`Gateways::slots`].
    pub(super) slots: Vec<usize>,
}

/// The served Gateways and their listeners.
#[derive(Debug, Default)]
pub(super) struct Gateways {
    pub(super) served: Vec<ServedGateway>,
    pub(super) slots: Vec<Slot>,
}

const HTTP_ROUTE: &str = "HTTPRoute";

impl Gateways {
    /// The served Gateway `namespace/name`, if any.
    pub(super) fn find(&self, namespace: &str, name: &str) -> Option<&ServedGateway> {
        self.served
            .iter()
            .find(|g| g.object.namespace == namespace && g.object.name == name)
    }
}

/// Classes whose `controllerName` is ours (and, when the scope names classes, named there),
/// with their status.
pub(super) fn classes(cx: &mut Cx<'_>) -> Vec<String> {
    let mut names = Vec::new();
    for class in &cx.snapshot.gateway_classes {
        let name = class.metadata.name.clone().unwrap_or_default();
        if class.spec.controller_name != cx.scope.controller_name
            || (!cx.scope.gateway_classes.is_empty() && !cx.scope.gateway_classes.contains(&name))
        {
            continue;
        }
        let existing = class
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let mut conditions = Conditions::new(generation(class), &existing, cx.now);
        conditions.set(
            "Accepted",
            true,
            "Accepted",
            "Switchboard serves this class",
        );
        let mut status = serde_json::to_value(class.status.clone().unwrap_or_default())
            .unwrap_or_else(|_| json!({}));
        status["conditions"] = json!(conditions.into_vec());
        cx.status.insert(ObjectRef::of(class), status);
        names.push(name);
    }
    names.sort();
    names
}

/// The served Gateways, their listeners, and the binds of the generated config.
pub(super) fn gateways(cx: &mut Cx<'_>, classes: &[String]) -> Gateways {
    let mut list: Vec<&Gateway> = cx
        .snapshot
        .gateways
        .iter()
        .filter(|g| classes.contains(&g.spec.gateway_class_name))
        .filter(|g| {
            let (ns, name) = ns_name(*g);
            cx.scope.gateways.is_empty()
                || cx.scope.gateways.iter().any(|(n, m)| n == ns && m == name)
        })
        .collect();
    list.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, ns_name(*a))
            .cmp(&(&b.metadata.creation_timestamp, ns_name(*b)))
    });
    let mut out = Gateways::default();
    for gateway in list {
        let object = ObjectRef::of(gateway);
        let existing_listeners: Vec<(String, Vec<Condition>)> = gateway
            .status
            .as_ref()
            .and_then(|s| s.listeners.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.name, l.conditions))
            .collect();
        let mut served = ServedGateway {
            object: object.clone(),
            generation: generation(gateway),
            existing: gateway
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default(),
            slots: Vec::new(),
        };
        if cx.rejected.contains_key(&object) {
            // Rejected while lowering: no listeners; its status says why.
            out.served.push(served);
            continue;
        }
        for listener in &gateway.spec.listeners {
            let existing = existing_listeners
                .iter()
                .find(|(n, _)| *n == listener.name)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let slot = slot(cx, gateway, &object, listener, existing);
            served.slots.push(out.slots.len());
            out.slots.push(slot);
        }
        out.served.push(served);
    }
    conflicts(&mut out);
    binds(cx, &mut out);
    out
}

fn slot(
    cx: &Cx<'_>,
    gateway: &Gateway,
    object: &ObjectRef,
    listener: &GatewayListeners,
    existing: Vec<Condition>,
) -> Slot {
    let mut slot = Slot {
        gateway: object.clone(),
        name: listener.name.clone(),
        port: listener.port,
        hostname: listener.hostname.clone().filter(|h| h != "*"),
        namespaces: AllowedNamespaces::Same,
        kinds: Vec::new(),
        target: None,
        attached: 0,
        accepted: (true, "Accepted".into(), "the listener is valid".into()),
        resolved: (
            true,
            "ResolvedRefs".into(),
            "every reference resolved".into(),
        ),
        conflicted: None,
        existing,
        generation: generation(gateway),
        protocol: ListenerProtocol::Http,
        tls: None,
    };
    let supported: Vec<(String, String)> = match listener.protocol.as_str() {
        // Not GRPCRoute: the data plane speaks HTTP/1.1 to backends and gRPC needs HTTP/2,
        // so a listener that claimed it would accept routes that cannot work. Its rules are
        // translated all the same (routes.rs), for when HTTP/2 backends arrive.
        "HTTP" | "HTTPS" => vec![(GATEWAY_GROUP.to_string(), HTTP_ROUTE.to_string())],
        other => {
            slot.accepted = (
                false,
                "UnsupportedProtocol".into(),
                format!("protocol {other} is not supported (HTTP and HTTPS are)"),
            );
            Vec::new()
        }
    };
    if listener.protocol == "HTTPS" {
        slot.protocol = ListenerProtocol::Https;
    }
    if !(1..=65535).contains(&listener.port) {
        slot.accepted = (
            false,
            "UnsupportedValue".into(),
            format!("port {} is not a TCP port", listener.port),
        );
    }
    if let Some(allowed) = &listener.allowed_routes {
        if let Some(ns) = &allowed.namespaces {
            slot.namespaces = match ns.from {
                Some(From::All) => AllowedNamespaces::All,
                Some(From::Selector) => AllowedNamespaces::Selector(
                    serde_json::to_value(&ns.selector).unwrap_or(Value::Null),
                ),
                Some(From::Same) | None => AllowedNamespaces::Same,
            };
        }
        if let Some(kinds) = &allowed.kinds {
            let mut invalid = Vec::new();
            for k in kinds {
                let group = k.group.clone().unwrap_or_else(|| GATEWAY_GROUP.to_string());
                if supported.contains(&(group.clone(), k.kind.clone())) {
                    slot.kinds.push((group, k.kind.clone()));
                } else {
                    invalid.push(k.kind.clone());
                }
            }
            if !invalid.is_empty() {
                slot.resolved = (
                    false,
                    "InvalidRouteKinds".into(),
                    format!("route kinds not supported: {}", invalid.join(", ")),
                );
            }
        } else {
            slot.kinds = supported.clone();
        }
    } else {
        slot.kinds = supported.clone();
    }
    if slot.protocol == ListenerProtocol::Https && slot.accepted.0 {
        match certificate(cx, gateway, listener) {
            Ok(pem) => slot.tls = Some(pem),
            Err((reason, message)) => slot.resolved = (false, reason, message),
        }
    }
    slot
}

/// The PEM certificate and key of an HTTPS listener's first `certificateRef`.
fn certificate(
    cx: &Cx<'_>,
    gateway: &Gateway,
    listener: &GatewayListeners,
) -> Result<(String, String), (String, String)> {
    let invalid = |m: String| ("InvalidCertificateRef".to_string(), m);
    let tls = listener
        .tls
        .as_ref()
        .ok_or_else(|| invalid("HTTPS needs tls.certificateRefs".into()))?;
    if let Some(mode) = &tls.mode {
        if format!("{mode:?}") != "Terminate" {
            return Err((
                "UnsupportedValue".into(),
                "tls.mode Passthrough is not supported".into(),
            ));
        }
    }
    let r = tls
        .certificate_refs
        .as_ref()
        .and_then(|refs| refs.first())
        .ok_or_else(|| invalid("HTTPS needs tls.certificateRefs".into()))?;
    let (gw_ns, _) = ns_name(gateway);
    let group = r.group.clone().unwrap_or_default();
    let kind = r.kind.clone().unwrap_or_else(|| "Secret".into());
    if !group.is_empty() || kind != "Secret" {
        return Err(invalid(format!(
            "certificateRefs of kind {group}/{kind} are not supported"
        )));
    }
    let to = ObjectRef::new(
        "",
        "Secret",
        r.namespace.as_deref().unwrap_or(gw_ns),
        &r.name,
    );
    if !permitted(cx.snapshot, (GATEWAY_GROUP, "Gateway", gw_ns), &to) {
        return Err((
            "RefNotPermitted".into(),
            format!(
                "no ReferenceGrant in {} allows this Gateway to use Secret {}",
                to.namespace, to.name
            ),
        ));
    }
    let secret: &Secret = cx
        .snapshot
        .secrets
        .iter()
        .find(|s| ns_name(*s) == (to.namespace.as_str(), to.name.as_str()))
        .ok_or_else(|| invalid(format!("Secret {}/{} not found", to.namespace, to.name)))?;
    let data = secret.data.clone().unwrap_or_default();
    let text = |key: &str| -> Result<String, (String, String)> {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| s.contains("-----BEGIN"))
            .ok_or_else(|| {
                invalid(format!(
                    "Secret {}/{} has no PEM {key}",
                    to.namespace, to.name
                ))
            })
    };
    Ok((text("tls.crt")?, text("tls.key")?))
}

/// Marks conflicting listeners: HTTP and HTTPS on one port (the later loses), two listeners
/// of one Gateway with the same port and hostname, and HTTPS listeners of different
/// Gateways with the same port and hostname but different certificates (one generated
/// listener has one certificate).
fn conflicts(out: &mut Gateways) {
    let mut port_protocol: BTreeMap<i32, ListenerProtocol> = BTreeMap::new();
    let mut seen: Vec<(ObjectRef, i32, Option<String>)> = Vec::new();
    let mut certs: BTreeMap<(i32, Option<String>), Option<Pem>> = BTreeMap::new();
    for slot in out.slots.iter_mut().filter(|s| s.accepted.0) {
        match port_protocol.get(&slot.port) {
            Some(p) if *p != slot.protocol => {
                slot.conflicted = Some((
                    "ProtocolConflict".into(),
                    format!("port {} already serves {:?}", slot.port, p),
                ));
                continue;
            }
            _ => {
                port_protocol.insert(slot.port, slot.protocol);
            }
        }
        let key = (slot.gateway.clone(), slot.port, slot.hostname.clone());
        let cert_key = (slot.port, slot.hostname.clone());
        if slot.resolved.0 && !seen.contains(&key) {
            match certs.get(&cert_key) {
                Some(cert) if *cert != slot.tls => {
                    slot.conflicted = Some((
                        "HostnameConflict".into(),
                        "another Gateway serves this port and hostname with another certificate"
                            .into(),
                    ));
                    continue;
                }
                Some(_) => {}
                None => {
                    certs.insert(cert_key, slot.tls.clone());
                }
            }
        }
        if seen.contains(&key) {
            slot.conflicted = Some((
                "HostnameConflict".into(),
                "another listener of this Gateway has the same port and hostname".into(),
            ));
        } else {
            seen.push(key);
        }
    }
}

/// The binds of the generated config, one per port; listeners of one hostname merged.
fn binds(cx: &mut Cx<'_>, out: &mut Gateways) {
    let mut ports: BTreeMap<i32, BTreeMap<Option<String>, Vec<usize>>> = BTreeMap::new();
    for (i, slot) in out.slots.iter().enumerate() {
        if slot.accepted.0 && slot.resolved.0 && slot.conflicted.is_none() {
            ports
                .entry(slot.port)
                .or_default()
                .entry(slot.hostname.clone())
                .or_default()
                .push(i);
        }
    }
    for (port, hosts) in ports {
        let Ok(port_u16) = u16::try_from(port) else {
            continue;
        };
        let bind_index = cx.file.binds.len();
        let mut listeners = Vec::new();
        for (hostname, slots) in hosts {
            let first = &out.slots[slots[0]];
            let listener_index = listeners.len();
            let tls = first.tls.clone().map(|(cert, key)| TlsConfig { cert, key });
            if tls.is_some() {
                let path = format!("binds[{bind_index}].listeners[{listener_index}].tls.key");
                cx.secret_paths.insert(path);
            }
            cx.origins.push((
                format!("binds[{bind_index}].listeners[{listener_index}]"),
                first.gateway.clone(),
            ));
            listeners.push(Listener {
                name: format!(
                    "{}/{}/{}",
                    first.gateway.namespace, first.gateway.name, first.name
                ),
                protocol: first.protocol,
                hostname: hostname.clone(),
                tls,
                routes: Vec::new(),
            });
            for i in slots {
                out.slots[i].target = Some((bind_index, listener_index));
            }
        }
        cx.file.binds.push(Bind {
            port: port_u16,
            address: cx.scope.listen_address.clone(),
            listeners,
            limits: None,
        });
    }
}

/// The `.status` of every served Gateway, once routes are attached.
pub(super) fn statuses(cx: &mut Cx<'_>, gateways: &Gateways) {
    for served in &gateways.served {
        let mut conditions = Conditions::new(served.generation, &served.existing, cx.now);
        let mut listeners = Vec::new();
        let mut programmed = 0;
        let mut invalid = 0;
        for &i in &served.slots {
            let slot = &gateways.slots[i];
            let mut lc = Conditions::new(slot.generation, &slot.existing, cx.now);
            lc.set(
                "Accepted",
                slot.accepted.0,
                &slot.accepted.1,
                slot.accepted.2.clone(),
            );
            lc.set(
                "ResolvedRefs",
                slot.resolved.0,
                &slot.resolved.1,
                slot.resolved.2.clone(),
            );
            match &slot.conflicted {
                Some((reason, message)) => lc.set("Conflicted", true, reason, message.clone()),
                None => lc.set("Conflicted", false, "NoConflicts", "no conflicts"),
            }
            if slot.target.is_some() {
                programmed += 1;
                lc.set("Programmed", true, "Programmed", "served");
            } else {
                invalid += 1;
                lc.set(
                    "Programmed",
                    false,
                    "Invalid",
                    "not served: see the other conditions",
                );
            }
            listeners.push(json!({
                "name": slot.name,
                "supportedKinds": slot.kinds.iter().map(|(g, k)| json!({"group": g, "kind": k})).collect::<Vec<_>>(),
                "attachedRoutes": slot.attached,
                "conditions": lc.into_vec(),
            }));
        }
        if let Some(reason) = cx.rejected.get(&served.object) {
            conditions.set("Accepted", false, "Invalid", reason.clone());
            conditions.set("Programmed", false, "Invalid", reason.clone());
        } else {
            if invalid > 0 {
                conditions.set(
                    "Accepted",
                    true,
                    "ListenersNotValid",
                    format!("{invalid} listener(s) not valid"),
                );
            } else {
                conditions.set("Accepted", true, "Accepted", "the Gateway is valid");
            }
            if programmed > 0 {
                conditions.set("Programmed", true, "Programmed", "served");
            } else {
                conditions.set("Programmed", false, "Invalid", "no listener is served");
            }
        }
        cx.status.insert(
            served.object.clone(),
            json!({ "conditions": conditions.into_vec(), "listeners": listeners }),
        );
    }
}
