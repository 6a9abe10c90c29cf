//! HTTPRoutes and GRPCRoutes attached to served listeners: `parentRefs` (`sectionName`,
//! `port`), `allowedRoutes` (namespaces, kinds), hostname intersection, and each rule as
//! a generated route per listener, with its parent statuses.
//!
//! Generated routes are named `namespace/route/rule` (the rule's `name`, else its index) and
//! placed in each listener oldest route first (creation time, then namespace/name), the
//! order the Gateway API gives for ties; the model orders the rest by specificity.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::backends::{self, Problem};
use super::conditions::Conditions;
use super::gateways::{AllowedNamespaces, Gateways, Slot};
use super::policies::{self, Site, Valid};
use super::refs::{ObjectRef, GATEWAY_GROUP};
use super::view::{Match, ParentRef, RouteView, Rule};
use super::{filters, hostnames, Cx};
use crate::config::file::{PathMatch, Route, RouteMatch, Timeout, ValueMatch};
use crate::config::units::Duration;

/// A rule translated once, placed under every listener the route attaches to.
struct RuleOut {
    name: String,
    matches: Vec<RouteMatch>,
    policies: Map<String, Value>,
    backends: Vec<crate::config::file::RouteBackend>,
    /// SwitchboardPolicies named by ExtensionRef filters.
    extension_refs: Vec<ObjectRef>,
}

/// Every route of the snapshot, attached to `gateways` (their `attached` counts updated).
pub(super) fn routes(cx: &mut Cx<'_>, gateways: &mut Gateways, valid: &[Valid]) {
    let mut views = Vec::new();
    for r in &cx.snapshot.http_routes {
        if let Ok(v) = RouteView::of(r, false) {
            views.push(v);
        }
    }
    for r in &cx.snapshot.grpc_routes {
        if let Ok(v) = RouteView::of(r, true) {
            views.push(v);
        }
    }
    views.sort_by(|a, b| (&a.created, &a.object).cmp(&(&b.created, &b.object)));
    for view in &views {
        route(cx, gateways, valid, view);
    }
}

fn route(cx: &mut Cx<'_>, gateways: &mut Gateways, valid: &[Valid], view: &RouteView) {
    let rejected = cx.rejected.get(&view.object).cloned();
    let mut problems: Vec<Problem> = Vec::new();
    let mut pools = BTreeSet::new();
    let mut rules = Vec::new();
    if rejected.is_none() {
        for (i, rule) in view.spec.rules.iter().enumerate() {
            let (out, mut p) = translate_rule(cx, view, i, rule, &mut pools);
            problems.append(&mut p);
            rules.push(out);
        }
    }
    let mut parents = Vec::new();
    let mut accepted_gateways = BTreeSet::new();
    for parent in &view.spec.parent_refs {
        let group = parent.group.as_deref().unwrap_or(GATEWAY_GROUP);
        let kind = parent.kind.as_deref().unwrap_or("Gateway");
        let namespace = parent
            .namespace
            .as_deref()
            .unwrap_or(&view.object.namespace);
        if group != GATEWAY_GROUP || kind != "Gateway" {
            continue;
        }
        let Some(gateway) = gateways.find(namespace, &parent.name).cloned() else {
            continue;
        };
        let existing = view
            .parents_status
            .iter()
            .find(|p| p.controller_name == cx.scope.controller_name && p.parent_ref == *parent)
            .map(|p| p.conditions.clone())
            .unwrap_or_default();
        let mut conditions = Conditions::new(view.generation, &existing, cx.now);
        match (
            &rejected,
            attach(cx, gateways, &gateway.slots, view, parent),
        ) {
            (Some(reason), _) => {
                conditions.set("Accepted", false, "UnsupportedValue", reason.clone());
            }
            (None, Err((reason, message))) => conditions.set("Accepted", false, &reason, message),
            (None, Ok(slots)) => {
                let mut failed = None;
                for (slot, hosts) in slots {
                    if let Err(e) = place(cx, gateways, valid, view, &rules, slot, hosts) {
                        failed = Some(e);
                    }
                }
                match failed {
                    Some(e) => conditions.set("Accepted", false, "UnsupportedValue", e),
                    None => {
                        conditions.set("Accepted", true, "Accepted", "attached");
                        accepted_gateways.insert(gateway.object.clone());
                    }
                }
            }
        }
        match problems.first() {
            Some((reason, message)) => {
                conditions.set("ResolvedRefs", false, reason, message.clone())
            }
            None => conditions.set(
                "ResolvedRefs",
                true,
                "ResolvedRefs",
                "every reference resolved",
            ),
        }
        parents.push(json!({
            "parentRef": parent,
            "controllerName": cx.scope.controller_name,
            "conditions": conditions.into_vec(),
        }));
    }
    for pool in pools {
        cx.pool_parents
            .entry(pool)
            .or_default()
            .extend(accepted_gateways.iter().cloned());
    }
    if parents.is_empty() {
        return;
    }
    // Other controllers' entries stay: the status is replaced whole by a merge patch.
    let mut all: Vec<Value> = view
        .parents_status
        .iter()
        .filter(|p| p.controller_name != cx.scope.controller_name)
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    all.extend(parents);
    cx.status
        .insert(view.object.clone(), json!({ "parents": all }));
}

/// The listeners of a Gateway (`slots`) that `parent` selects and that accept the route,
/// each with the hostnames the route gets there; or why none does.
fn attach(
    cx: &Cx<'_>,
    gateways: &Gateways,
    slots: &[usize],
    view: &RouteView,
    parent: &ParentRef,
) -> Result<Vec<(usize, Vec<String>)>, Problem> {
    let selected: Vec<usize> = slots
        .iter()
        .copied()
        .filter(|&i| {
            let s = &gateways.slots[i];
            parent.section_name.as_ref().is_none_or(|n| *n == s.name)
                && parent.port.is_none_or(|p| p == s.port)
        })
        .collect();
    if selected.is_empty() {
        return Err((
            "NoMatchingParent".into(),
            "no listener matches sectionName and port".into(),
        ));
    }
    let allowed: Vec<usize> = selected
        .into_iter()
        .filter(|&i| allows(cx, &gateways.slots[i], view))
        .collect();
    if allowed.is_empty() {
        let why = if view.object.kind == "GRPCRoute" {
            "GRPCRoute is not served yet: the gateway speaks HTTP/1.1 to backends and gRPC needs HTTP/2"
        } else {
            "the listeners' allowedRoutes do not admit this route"
        };
        return Err(("NotAllowedByListeners".into(), why.into()));
    }
    let mut out = Vec::new();
    for i in allowed {
        let slot = &gateways.slots[i];
        if let Some(hosts) = hostnames::intersect(slot.hostname.as_deref(), &view.spec.hostnames) {
            out.push((i, hosts));
        }
    }
    if out.is_empty() {
        return Err((
            "NoMatchingListenerHostname".into(),
            "no hostname of the route matches a listener's hostname".into(),
        ));
    }
    Ok(out)
}

/// Whether a listener's `allowedRoutes` admit the route (namespaces and kinds).
fn allows(cx: &Cx<'_>, slot: &Slot, view: &RouteView) -> bool {
    let kind_ok = slot
        .kinds
        .iter()
        .any(|(g, k)| *g == view.object.group && *k == view.object.kind);
    let ns_ok = match &slot.namespaces {
        AllowedNamespaces::All => true,
        AllowedNamespaces::Same => view.object.namespace == slot.gateway.namespace,
        AllowedNamespaces::Selector(selector) => {
            let labels = cx
                .snapshot
                .namespaces
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(view.object.namespace.as_str()))
                .and_then(|n| n.metadata.labels.clone())
                .unwrap_or_default();
            hostnames::selector_matches(selector, &labels)
        }
    };
    kind_ok && ns_ok
}

/// Adds the route's rules to the generated listener of `slot`, once per listener.
fn place(
    cx: &mut Cx<'_>,
    gateways: &mut Gateways,
    valid: &[Valid],
    view: &RouteView,
    rules: &[RuleOut],
    slot_index: usize,
    hosts: Vec<String>,
) -> Result<(), String> {
    // A route attached to a listener counts in its `attachedRoutes` even when the listener
    // is not programmed (an unresolved certificate, say), as the Gateway API says.
    gateways.slots[slot_index].attached += 1;
    let slot = &gateways.slots[slot_index];
    let Some((b, l)) = slot.target else {
        return Ok(());
    };
    let (gateway, listener) = (slot.gateway.clone(), slot.name.clone());
    for rule in rules {
        let routes = &cx.file.binds[b].listeners[l].routes;
        if routes.iter().any(|r| r.name == rule.name) {
            continue;
        }
        let k = routes.len();
        let at = format!("binds[{b}].listeners[{l}].routes[{k}]");
        let mark = cx.origins.len();
        cx.origins.push((at.clone(), view.object.clone()));
        let rule_name = rule.name.rsplit('/').next();
        let site = Site {
            route: &view.object,
            rule: rule_name,
            gateway: &gateway,
            listener: &listener,
        };
        let mut order: Vec<usize> = rule
            .extension_refs
            .iter()
            .filter_map(|r| valid.iter().position(|p| p.object == *r))
            .collect();
        order.extend(policies::for_site(valid, &site));
        let mut merged = rule.policies.clone();
        policies::merge(
            cx,
            valid,
            &order,
            &mut merged,
            &format!("{at}.policies"),
            &gateway,
        );
        let policies = if merged.is_empty() {
            None
        } else {
            match serde_json::from_value(Value::Object(merged)) {
                Ok(p) => Some(p),
                Err(e) => {
                    cx.origins.truncate(mark);
                    return Err(format!(
                        "rule {}: its filters and policies do not combine: {e}",
                        rule.name
                    ));
                }
            }
        };
        cx.file.binds[b].listeners[l].routes.push(Route {
            name: rule.name.clone(),
            hostnames: hosts.clone(),
            matches: rule.matches.clone(),
            policies,
            backends: rule.backends.clone(),
        });
    }
    Ok(())
}

/// One rule: matches, filters as policies, backends (a `status: 500` entry when it has
/// none and no redirect, as the Gateway API says).
fn translate_rule(
    cx: &mut Cx<'_>,
    view: &RouteView,
    index: usize,
    rule: &Rule,
    pools: &mut BTreeSet<ObjectRef>,
) -> (RuleOut, Vec<Problem>) {
    let name = format!(
        "{}/{}/{}",
        view.object.namespace,
        view.object.name,
        rule.name.clone().unwrap_or_else(|| index.to_string())
    );
    let f = filters::translate(cx, &view.object, &rule.filters);
    let mut problems = f.problems;
    let mut policies = f.policies;
    if let Some(t) = &rule.timeouts {
        let mut parse = |text: &Option<String>| -> Option<Duration> {
            let text = text.as_deref()?;
            let parsed = gep_duration(text);
            if parsed.is_none() && text != "0s" {
                problems.push((
                    "UnsupportedValue".into(),
                    format!("timeout {text:?} is not a duration such as 1m30s or 500ms"),
                ));
            }
            parsed
        };
        let timeout = Timeout {
            request: parse(&t.request),
            backend_request: parse(&t.backend_request),
        };
        if let Ok(v) = serde_json::to_value(&timeout) {
            policies.insert("timeout".into(), v);
        }
    }
    let resolved = backends::resolve(cx, &view.object, &rule.backend_refs);
    problems.extend(resolved.problems);
    pools.extend(resolved.pools);
    let mut entries = resolved.entries;
    // Filters on a backendRef apply when that entry is chosen.
    // (Only with a single backendRef: with several, the file has no per-ref policy that
    // spans a ref's endpoints; such filters are reported as unsupported.)
    match rule.backend_refs.as_slice() {
        [single] if !single.filters.is_empty() => {
            let bf = filters::translate(cx, &view.object, &single.filters);
            problems.extend(bf.problems);
            let p: Option<crate::config::file::Policies> =
                serde_json::from_value(Value::Object(bf.policies)).ok();
            for entry in entries.iter_mut().filter(|e| e.status.is_none()) {
                entry.policies = p.clone();
            }
        }
        refs if refs.iter().any(|r| !r.filters.is_empty()) => problems.push((
            "UnsupportedValue".into(),
            "filters on backendRefs are supported only when the rule has one backendRef".into(),
        )),
        _ => {}
    }
    if entries.is_empty() && !policies.contains_key("requestRedirect") {
        // No backendRefs (or all of weight 0): the Gateway API answers 500.
        entries.push(crate::config::file::RouteBackend {
            backend: None,
            host: None,
            status: Some(500),
            weight: None,
            policies: None,
        });
    }
    let matches = if rule.matches.is_empty() {
        vec![RouteMatch {
            path: Some(PathMatch::Prefix("/".into())),
            ..RouteMatch::default()
        }]
    } else {
        rule.matches.iter().map(route_match).collect()
    };
    let out = RuleOut {
        name,
        matches,
        policies,
        backends: entries,
        extension_refs: f.extension_refs,
    };
    (out, problems)
}

fn route_match(m: &Match) -> RouteMatch {
    let path = m.path.as_ref().map(|p| {
        let value = p.value.clone().unwrap_or_else(|| "/".into());
        match p.type_.as_deref() {
            Some("Exact") => PathMatch::Exact(value),
            Some("RegularExpression") => PathMatch::Regex(value),
            _ => PathMatch::Prefix(value),
        }
    });
    let values = |list: &[super::view::NamedMatch]| -> Vec<ValueMatch> {
        list.iter()
            .map(|h| {
                let regex = h.type_.as_deref() == Some("RegularExpression");
                ValueMatch {
                    name: h.name.clone(),
                    value: (!regex).then(|| h.value.clone()),
                    regex: regex.then(|| h.value.clone()),
                }
            })
            .collect()
    };
    RouteMatch {
        path: Some(path.unwrap_or_else(|| PathMatch::Prefix("/".into()))),
        method: m.method.clone(),
        headers: values(&m.headers),
        query: values(&m.query_params),
    }
}

/// A GEP-2257 duration (`1h30m`, `500ms`, `10s`; `0s` means none) as the file's duration.
pub(super) fn gep_duration(text: &str) -> Option<Duration> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (std::time::Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (std::time::Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (std::time::Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (std::time::Duration::from_secs(n), 1)
        } else {
            return None;
        };
        total += unit;
        rest = &rest[len..];
    }
    (!total.is_zero()).then_some(Duration(total))
}

#[cfg(test)]
mod tests {
    use super::gep_duration;

    #[test]
    fn gep_2257_durations() {
        let ms = |t: &str| gep_duration(t).map(|d| d.0.as_millis());
        assert_eq!(ms("1h30m"), Some(5_400_000));
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("10s"), Some(10_000));
        assert_eq!(ms("1m1s1ms"), Some(61_001));
        assert_eq!(ms("0s"), None);
        assert_eq!(ms("1d"), None);
        assert_eq!(ms("s"), None);
        assert_eq!(ms(""), None);
    }
}
