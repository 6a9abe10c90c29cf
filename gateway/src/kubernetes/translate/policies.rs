//! SwitchboardPolicies: checked (Secrets expanded, the file's schema) and attached by their
//! GEP-713 `targetRefs`.
//!
//! A policy applies, key by key, to the generated routes of its targets: a `Gateway` (every
//! route attached through it, or through its listener named by `sectionName`), an
//! `HTTPRoute`/`GRPCRoute` (every rule, or the rule named by `sectionName`), or a
//! `SwitchboardBackend` (the backend's `policies`). Where several set one key, the most
//! specific target wins (rule, route, listener, Gateway), then the oldest policy (creation
//! time, then namespace/name); a route's own filters win over every policy.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Map, Value};

use super::conditions::Conditions;
use super::refs::{generation, ns_name, ObjectRef, GATEWAY_GROUP};
use super::Cx;
use crate::config::Source;
use crate::kubernetes::crd::{PolicyTargetRef, SwitchboardPolicy, GROUP};

/// A valid policy.
#[derive(Debug, Clone)]
pub(super) struct Valid {
    pub(super) object: ObjectRef,
    pub(super) policies: Map<String, Value>,
    /// Key paths (relative to `policies`) of values that came from Secrets.
    pub(super) secret_paths: Vec<String>,
    targets: Vec<PolicyTargetRef>,
}

/// Where a generated route came from, to find the policies that target it.
pub(super) struct Site<'a> {
    pub(super) route: &'a ObjectRef,
    pub(super) rule: Option<&'a str>,
    pub(super) gateway: &'a ObjectRef,
    pub(super) listener: &'a str,
}

/// Checks every SwitchboardPolicy, keeping the valid ones (oldest first) and writing the
/// status of the invalid ones. The valid ones' status is written by [`statuses`].
pub(super) fn check(cx: &mut Cx<'_>) -> Vec<Valid> {
    let mut list: Vec<&SwitchboardPolicy> = cx.snapshot.policies.iter().collect();
    let key = |p: &SwitchboardPolicy| -> (Option<Time>, (String, String)) {
        let (ns, name) = ns_name(p);
        (
            p.metadata.creation_timestamp.clone(),
            (ns.to_string(), name.to_string()),
        )
    };
    list.sort_by_key(|a| key(a));
    let mut valid = Vec::new();
    for policy in list {
        let object = ObjectRef::of(policy);
        let existing = policy
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let mut conditions = Conditions::new(generation(policy), &existing, cx.now);
        let mut value = policy.spec.policies.clone();
        let outcome = match super::secrets::expand(cx.snapshot, &object.namespace, &mut value) {
            Err(errors) => Err(("SecretNotFound", errors.join("; "))),
            Ok(paths) => match super::check::policies(&value) {
                Err(errors) => Err(("Invalid", errors.join("; "))),
                Ok(_) => Ok(paths),
            },
        };
        match outcome {
            Err((reason, message)) => {
                if reason == "SecretNotFound" {
                    conditions.set("ResolvedRefs", false, reason, message.clone());
                }
                conditions.set("Accepted", false, "Invalid", message);
                cx.status.insert(
                    object,
                    serde_json::json!({ "conditions": conditions.into_vec() }),
                );
            }
            Ok(_) if cx.rejected.contains_key(&object) => {
                let reason = cx.rejected.get(&object).cloned().unwrap_or_default();
                conditions.set("Accepted", false, "Invalid", reason);
                cx.status.insert(
                    object,
                    serde_json::json!({ "conditions": conditions.into_vec() }),
                );
            }
            Ok(secret_paths) => valid.push(Valid {
                object,
                policies: value.as_object().cloned().unwrap_or_default(),
                secret_paths,
                targets: policy.spec.target_refs.clone(),
            }),
        }
    }
    valid
}

/// Precedence of a target that matches `site`: lower is more specific; `None` when it does
/// not match.
fn rank(policy: &Valid, target: &PolicyTargetRef, site: &Site<'_>) -> Option<u8> {
    let ns = &policy.object.namespace;
    let section = target.section_name.as_deref();
    if target.group == GATEWAY_GROUP
        && target.kind == site.route.kind
        && *ns == site.route.namespace
        && target.name == site.route.name
    {
        return match section {
            None => Some(1),
            Some(s) if Some(s) == site.rule => Some(0),
            Some(_) => None,
        };
    }
    if target.group == GATEWAY_GROUP
        && target.kind == "Gateway"
        && *ns == site.gateway.namespace
        && target.name == site.gateway.name
    {
        return match section {
            None => Some(3),
            Some(s) if s == site.listener => Some(2),
            Some(_) => None,
        };
    }
    None
}

/// The policies that apply to a generated route at `site`, most specific first (each
/// with the index into `valid`).
pub(super) fn for_site(valid: &[Valid], site: &Site<'_>) -> Vec<usize> {
    let mut found: Vec<(u8, usize)> = valid
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.targets
                .iter()
                .filter_map(|t| rank(p, t, site))
                .min()
                .map(|r| (r, i))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, i)| i).collect()
}

/// The policies that target SwitchboardBackend `backend`, oldest first.
pub(super) fn for_backend(valid: &[Valid], backend: &ObjectRef) -> Vec<usize> {
    valid
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.object.namespace == backend.namespace
                && p.targets.iter().any(|t| {
                    t.group == GROUP && t.kind == "SwitchboardBackend" && t.name == backend.name
                })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Merges the policies `order` (most specific first) into the policies object at key path
/// `at`: a key already set stays. Records the origin and secret paths of each key taken, and
/// `ancestor` (the Gateway the route is served through, or the backend) of each policy.
pub(super) fn merge(
    cx: &mut Cx<'_>,
    valid: &[Valid],
    order: &[usize],
    into: &mut Map<String, Value>,
    at: &str,
    ancestor: &ObjectRef,
) {
    for &i in order {
        let policy = &valid[i];
        for (key, value) in &policy.policies {
            if into.contains_key(key) {
                continue;
            }
            into.insert(key.clone(), value.clone());
            let path = Source::child_key(at, key);
            cx.origins.push((path.clone(), policy.object.clone()));
            for secret in &policy.secret_paths {
                if secret == key
                    || secret.starts_with(&format!("{key}."))
                    || secret.starts_with(&format!("{key}["))
                {
                    cx.secret_paths.insert(format!("{at}.{secret}"));
                }
            }
        }
        cx.attached_policies
            .entry(policy.object.clone())
            .or_default()
            .insert(ancestor.clone());
    }
}

/// The status of the valid policies: `Accepted` when attached to something, else
/// `TargetNotFound`; and GEP-713 `ancestors`, one entry per Gateway (or SwitchboardBackend)
/// it reached, keeping other controllers' entries.
pub(super) fn statuses(cx: &mut Cx<'_>, valid: &[Valid]) {
    for policy in valid {
        let source = cx
            .snapshot
            .policies
            .iter()
            .find(|p| ObjectRef::of(*p) == policy.object);
        let Some(source) = source else { continue };
        let existing = source
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let generation = generation(source);
        let mut conditions = Conditions::new(generation, &existing, cx.now);
        let ancestors = cx
            .attached_policies
            .get(&policy.object)
            .cloned()
            .unwrap_or_default();
        if ancestors.is_empty() {
            conditions.set(
                "Accepted",
                false,
                "TargetNotFound",
                "no target of this policy is served",
            );
        } else {
            conditions.set("Accepted", true, "Accepted", "attached");
        }
        conditions.set(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "every Secret resolved",
        );
        let current = source.status.clone().unwrap_or_default().ancestors;
        let mut list: Vec<Value> = current
            .iter()
            .filter(|a| a["controllerName"].as_str() != Some(cx.scope.controller_name.as_str()))
            .cloned()
            .collect();
        for ancestor in &ancestors {
            let reference = serde_json::json!({
                "group": ancestor.group, "kind": ancestor.kind,
                "namespace": ancestor.namespace, "name": ancestor.name,
            });
            let old: Vec<Condition> = current
                .iter()
                .find(|a| a["ancestorRef"] == reference)
                .and_then(|a| serde_json::from_value(a["conditions"].clone()).ok())
                .unwrap_or_default();
            let mut ac = Conditions::new(generation, &old, cx.now);
            ac.set("Accepted", true, "Accepted", "attached");
            list.push(serde_json::json!({
                "ancestorRef": reference,
                "controllerName": cx.scope.controller_name,
                "conditions": ac.into_vec(),
            }));
        }
        cx.status.insert(
            policy.object.clone(),
            serde_json::json!({ "conditions": conditions.into_vec(), "ancestors": list }),
        );
    }
}
