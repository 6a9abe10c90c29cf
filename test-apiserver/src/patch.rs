//! PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902) through the `json-patch`
//! crate, and an approximation of Kubernetes' strategic merge patch, which `kubectl apply` sends
//! for built-in kinds.
//!
//! Strategic merge here: lists are merged by a patchMergeKey taken from a table of the lists
//! Services, Deployments, Pods and EndpointSlices use (keyed by field name and, for `ports`, by
//! where the list sits); other lists are replaced. Directives honoured: `$patch: replace|delete|
//! merge` (in maps and list elements), `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
//! `$setElementOrder/<field>` (reorders merged elements), and `null` deleting a key. Not kept:
//! the full Go struct-tag table (a list not in the table is replaced, as for an atomic list).

use serde_json::{Map, Value};

/// The content types PATCH accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    /// From a Content-Type header value.
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a patch of `kind` to `doc`. `object_kind` (e.g. `Service`) picks list merge keys.
pub fn apply(
    kind: PatchKind,
    object_kind: &str,
    doc: &Value,
    body: &[u8],
) -> Result<Value, String> {
    match kind {
        PatchKind::Merge => {
            let p: Value =
                serde_json::from_slice(body).map_err(|e| format!("invalid merge patch: {e}"))?;
            let mut out = doc.clone();
            json_patch::merge(&mut out, &p);
            Ok(out)
        }
        PatchKind::Json => {
            let p: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON patch: {e}"))?;
            let mut out = doc.clone();
            json_patch::patch(&mut out, &p.0).map_err(|e| e.to_string())?;
            Ok(out)
        }
        PatchKind::Strategic => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| format!("invalid strategic merge patch: {e}"))?;
            Ok(strategic(doc, &p, object_kind, &mut Vec::new()).unwrap_or(Value::Null))
        }
        PatchKind::Apply => Err("server-side apply is not implemented".into()),
    }
}

/// How a list field merges.
#[derive(Debug, PartialEq)]
enum ListMerge {
    /// Elements matched by this key.
    Key(&'static str),
    /// A set of primitives (union).
    Primitive,
    /// Replaced whole.
    Replace,
}

/// The patchMergeKey table (a subset of the Go struct tags).
fn list_merge(object_kind: &str, path: &[String], field: &str) -> ListMerge {
    let under = |f: &str| path.iter().any(|p| p == f);
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListMerge::Key("name"),
        "volumeMounts" => ListMerge::Key("mountPath"),
        "volumeDevices" => ListMerge::Key("devicePath"),
        "hostAliases" => ListMerge::Key("ip"),
        "ownerReferences" => ListMerge::Key("uid"),
        "conditions" => ListMerge::Key("type"),
        "finalizers" => ListMerge::Primitive,
        "ports" if under("containers") || under("initContainers") => {
            ListMerge::Key("containerPort")
        }
        "ports" if object_kind == "Service" && path.len() == 1 && path[0] == "spec" => {
            ListMerge::Key("port")
        }
        "topologySpreadConstraints" => ListMerge::Key("topologyKey"),
        _ => ListMerge::Replace,
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| {
                    !(e.is_object()
                        && e.get("$patch").is_some()
                        && e.as_object().is_some_and(|m| m.len() == 1))
                })
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Merges `patch` into `orig`; None means "delete this value" (`$patch: delete`).
fn strategic(orig: &Value, patch: &Value, kind: &str, path: &mut Vec<String>) -> Option<Value> {
    let Value::Object(pm) = patch else {
        return Some(patch.clone());
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("delete") => return None,
        Some("replace") => return Some(strip_directives(patch)),
        _ => {}
    }
    let mut out: Map<String, Value> = match orig {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, pv) in pm {
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(a) = pv.as_array() {
                orders.push((field.to_string(), a.clone()));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (out.get_mut(field), pv.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let ov = out.get(k).cloned().unwrap_or(Value::Null);
        let merged = match (&ov, pv) {
            (Value::Object(_), Value::Object(_)) | (Value::Null, Value::Object(_)) => {
                path.push(k.clone());
                let r = strategic(&ov, pv, kind, path);
                path.pop();
                r
            }
            (_, Value::Array(pa)) => {
                let oa = ov.as_array().cloned().unwrap_or_default();
                Some(Value::Array(merge_list(&oa, pa, kind, path, k)))
            }
            _ => Some(strip_directives(pv)),
        };
        match merged {
            Some(v) => {
                out.insert(k.clone(), v);
            }
            None => {
                out.remove(k);
            }
        }
    }
    for (field, order) in orders {
        if let Some(Value::Array(items)) = out.get_mut(&field) {
            reorder(items, &order, list_merge(kind, path, &field));
        }
    }
    if let Some(Value::Array(keep)) = pm.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    Some(Value::Object(out))
}

fn merge_list(
    orig: &[Value],
    patch: &[Value],
    kind: &str,
    path: &mut Vec<String>,
    field: &str,
) -> Vec<Value> {
    // A `{"$patch": "replace"}` element replaces the whole list with the other elements.
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return strip_directives(&Value::Array(patch.to_vec()))
            .as_array()
            .cloned()
            .unwrap_or_default();
    }
    match list_merge(kind, path, field) {
        ListMerge::Replace => strip_directives(&Value::Array(patch.to_vec()))
            .as_array()
            .cloned()
            .unwrap_or_default(),
        ListMerge::Primitive => {
            let mut out = orig.to_vec();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            out
        }
        ListMerge::Key(key) => {
            let mut out = orig.to_vec();
            path.push(field.to_string());
            for p in patch {
                let id = p.get(key).cloned();
                let pos = id
                    .as_ref()
                    .and_then(|id| out.iter().position(|o| o.get(key) == Some(id)));
                let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => match strategic(&out[i], p, kind, path) {
                        Some(v) => out[i] = v,
                        None => {
                            out.remove(i);
                        }
                    },
                    (None, false) => out.push(strip_directives(p)),
                }
            }
            path.pop();
            out
        }
    }
}

/// Puts elements named in `order` first, in that order; the rest keep their relative order.
fn reorder(items: &mut Vec<Value>, order: &[Value], how: ListMerge) {
    let ident = |v: &Value| -> Value {
        match &how {
            ListMerge::Key(k) => v.get(*k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let mut sorted = Vec::with_capacity(items.len());
    for o in order {
        let want = ident(o);
        if let Some(i) = items.iter().position(|it| ident(it) == want) {
            sorted.push(items.remove(i));
        }
    }
    sorted.append(items);
    *items = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(kind: &str, doc: Value, patch: Value) -> Value {
        apply(
            PatchKind::Strategic,
            kind,
            &doc,
            serde_json::to_vec(&patch).unwrap().as_slice(),
        )
        .unwrap()
    }

    #[test]
    fn merges_containers_by_name_and_service_ports_by_port() {
        let doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}}}});
        let out = smp(
            "Deployment",
            doc,
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                               {"name": "b", "$patch": "delete"}]}}}}),
        );
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 1);
        assert_eq!(cs[0]["image"], "a:2");
        assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);

        let svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}});
        let out = smp(
            "Service",
            svc,
            json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}),
        );
        assert_eq!(out["spec"]["ports"][1]["targetPort"], 8443);
        assert_eq!(out["spec"]["ports"][0]["name"], "http");
    }

    #[test]
    fn directives() {
        let doc = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
                         "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = smp(
            "Deployment",
            doc,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"x": null}},
                   "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["metadata"]["labels"], json!({"y": "2"}));
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = smp(
            "ConfigMap",
            json!({"data": {"a": "1"}}),
            json!({"data": {"$patch": "replace", "b": "2"}}),
        );
        assert_eq!(out["data"], json!({"b": "2"}));
    }
}
