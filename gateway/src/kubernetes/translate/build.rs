//! One translation run, and the lowering loop of [`super::serve`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

use super::conditions::Conditions;
use super::refs::{generation, ObjectRef, GATEWAY_GROUP};
use super::{ObjectRef as Obj, Served, StatusReport, Translation};
use crate::config::file::{ConfigFile, NamedBackend};
use crate::config::{ConfigErrors, Diagnostic};
use crate::kubernetes::snapshot::{Scope, Snapshot};
use crate::model::plan::BuildMcp;

/// Objects left out of a translation, with the reason their status gives.
pub(super) type Rejected = BTreeMap<ObjectRef, String>;

/// The state of one translation run, shared by the submodules.
pub(crate) struct Cx<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) scope: &'a Scope,
    pub(super) rejected: &'a Rejected,
    pub(super) now: &'a Time,
    pub(super) file: ConfigFile,
    pub(super) origins: Vec<(String, ObjectRef)>,
    pub(super) secret_paths: BTreeSet<String>,
    pub(super) status: BTreeMap<ObjectRef, Value>,
    /// Named backends of the generated config, by name, with the object they came from.
    pub(super) named: BTreeMap<String, (NamedBackend, ObjectRef)>,
    /// Valid SwitchboardBackends (as named backends) and their secret paths.
    pub(super) backends: BTreeMap<ObjectRef, NamedBackend>,
    pub(super) backend_secret_paths: BTreeMap<ObjectRef, Vec<String>>,
    /// The Gateways whose routes use each InferencePool, and pools' own problems.
    pub(super) pool_parents: BTreeMap<ObjectRef, BTreeSet<ObjectRef>>,
    pub(super) pool_problems: BTreeMap<ObjectRef, String>,
    /// SwitchboardPolicies attached somewhere, with the objects they reached through
    /// (GEP-713 ancestors: Gateways, or the SwitchboardBackend itself).
    pub(super) attached_policies: BTreeMap<ObjectRef, BTreeSet<ObjectRef>>,
}

pub(super) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

pub(super) fn run(snapshot: &Snapshot, scope: &Scope, rejected: &Rejected) -> Translation {
    run_at(snapshot, scope, rejected, &now())
}

/// A translation with `now` as the time of conditions that change.
pub(super) fn run_at(
    snapshot: &Snapshot,
    scope: &Scope,
    rejected: &Rejected,
    now: &Time,
) -> Translation {
    let mut cx = Cx {
        snapshot,
        scope,
        rejected,
        now,
        file: ConfigFile {
            config: scope.process.clone(),
            binds: Vec::new(),
            backends: Vec::new(),
        },
        origins: Vec::new(),
        secret_paths: BTreeSet::new(),
        status: BTreeMap::new(),
        named: BTreeMap::new(),
        backends: BTreeMap::new(),
        backend_secret_paths: BTreeMap::new(),
        pool_parents: BTreeMap::new(),
        pool_problems: BTreeMap::new(),
        attached_policies: BTreeMap::new(),
    };
    let classes = super::gateways::classes(&mut cx);
    let mut gateways = super::gateways::gateways(&mut cx, &classes);
    let valid = super::policies::check(&mut cx);
    super::backends::switchboard_backends(&mut cx);
    super::routes::routes(&mut cx, &mut gateways, &valid);
    super::gateways::statuses(&mut cx, &gateways);
    named_backends(&mut cx, &valid);
    super::policies::statuses(&mut cx, &valid);
    pool_statuses(&mut cx);
    // Longest prefix first, so the most specific origin is found first.
    cx.origins
        .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
    Translation {
        file: cx.file,
        status: StatusReport {
            statuses: cx.status,
        },
        origins: cx.origins,
        secret_paths: cx.secret_paths,
    }
}

/// The named backends used by routes, sorted by name, with their policies attached.
fn named_backends(cx: &mut Cx<'_>, valid: &[super::policies::Valid]) {
    let named = std::mem::take(&mut cx.named);
    for (_, (mut backend, object)) in named {
        let i = cx.file.backends.len();
        let at = format!("backends[{i}]");
        cx.origins.push((at.clone(), object.clone()));
        for p in cx
            .backend_secret_paths
            .get(&object)
            .cloned()
            .unwrap_or_default()
        {
            let sep = if p.starts_with('[') { "" } else { "." };
            cx.secret_paths.insert(format!("{at}{sep}{p}"));
        }
        let order = super::policies::for_backend(valid, &object);
        if !order.is_empty() {
            let mut merged = backend
                .policies
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            let at = format!("{at}.policies");
            super::policies::merge(cx, valid, &order, &mut merged, &at, &object);
            backend.policies = serde_json::from_value(Value::Object(merged)).ok();
        }
        cx.file.backends.push(backend);
    }
}

/// The status of every InferencePool a served route uses: one parent entry per Gateway.
fn pool_statuses(cx: &mut Cx<'_>) {
    for pool in &cx.snapshot.inference_pools {
        let object = ObjectRef::of(pool);
        let Some(gateways) = cx.pool_parents.get(&object) else {
            continue;
        };
        let existing = pool.status.clone().unwrap_or_default().parents;
        let mut parents: Vec<Value> = existing
            .iter()
            .filter(|p| p.controller_name.as_deref() != Some(cx.scope.controller_name.as_str()))
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect();
        for gateway in gateways {
            let old = existing
                .iter()
                .find(|p| {
                    p.parent_ref.name == gateway.name
                        && p.parent_ref.namespace.as_deref() == Some(gateway.namespace.as_str())
                })
                .map(|p| p.conditions.clone())
                .unwrap_or_default();
            let mut conditions = Conditions::new(generation(pool), &old, cx.now);
            match cx.rejected.get(&object) {
                Some(reason) => conditions.set("Accepted", false, "Invalid", reason.clone()),
                None => conditions.set(
                    "Accepted",
                    true,
                    "Accepted",
                    "used by a route of this Gateway",
                ),
            }
            match cx.pool_problems.get(&object) {
                Some(problem) => conditions.set(
                    "ResolvedRefs",
                    false,
                    "InvalidExtensionRef",
                    problem.clone(),
                ),
                None => conditions.set(
                    "ResolvedRefs",
                    true,
                    "ResolvedRefs",
                    "the endpoint picker Service exists",
                ),
            }
            parents.push(json!({
                "parentRef": {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway.namespace, "name": gateway.name},
                "controllerName": cx.scope.controller_name,
                "conditions": conditions.into_vec(),
            }));
        }
        cx.status.insert(object, json!({ "parents": parents }));
    }
}

/// The object that produced the part of the config at `path`, if any.
fn blame<'t>(origins: &'t [(String, Obj)], path: &str) -> Option<&'t Obj> {
    origins
        .iter()
        .find(|(prefix, _)| {
            path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .map(|(_, o)| o)
}

pub(super) fn serve(snapshot: &Snapshot, scope: &Scope, build_mcp: BuildMcp) -> Served {
    serve_at(snapshot, scope, build_mcp, &now())
}

/// Translates and lowers, rejecting the objects blamed for lowering errors until the rest
/// lowers (at most once per object, so it ends).
pub(super) fn serve_at(
    snapshot: &Snapshot,
    scope: &Scope,
    build_mcp: BuildMcp,
    now: &Time,
) -> Served {
    let mut rejected = Rejected::new();
    let mut all_errors: Vec<Diagnostic> = Vec::new();
    loop {
        let translation = run_at(snapshot, scope, &rejected, now);
        let lowered = super::source_of(&translation).and_then(|source| {
            crate::model::lower(&source, build_mcp).map(|model| (source, model))
        });
        let errors = match lowered {
            Ok((source, model)) => {
                return Served {
                    source: Some(source),
                    model: Some(model),
                    status: translation.status,
                    errors: ConfigErrors(all_errors),
                }
            }
            Err(errors) => errors,
        };
        let mut blamed: BTreeMap<Obj, Vec<String>> = BTreeMap::new();
        for d in &errors.0 {
            match blame(&translation.origins, &d.path) {
                Some(object) if !rejected.contains_key(object) => blamed
                    .entry(object.clone())
                    .or_default()
                    .push(format!("{}: {}", d.path, d.message)),
                _ => {}
            }
        }
        all_errors.extend(errors.0.iter().cloned());
        if blamed.is_empty() {
            return Served {
                source: None,
                model: None,
                status: translation.status,
                errors: ConfigErrors(all_errors),
            };
        }
        for (object, messages) in blamed {
            rejected.insert(
                object,
                format!(
                    "the generated config does not load: {}",
                    messages.join("; ")
                ),
            );
        }
    }
}
