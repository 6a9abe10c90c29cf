//! HTTPRoute and GRPCRoute filters as the file's route policies: `RequestHeaderModifier`,
//! `ResponseHeaderModifier`, `RequestRedirect`, `URLRewrite`, `RequestMirror`, `CORS`, and
//! `ExtensionRef` to a SwitchboardPolicy of the route's namespace (its policies join the
//! rule's, after the filters).

use serde_json::{json, Map, Value};

use super::backends::{service_hosts, Problem};
use super::refs::{permitted, ObjectRef};
use super::view::Filter;
use super::Cx;
use crate::kubernetes::crd::GROUP;

/// The policies of a rule's filters, the SwitchboardPolicies named by `ExtensionRef`, and
/// what could not be translated.
#[derive(Debug, Default)]
pub(super) struct Translated {
    pub(super) policies: Map<String, Value>,
    pub(super) extension_refs: Vec<ObjectRef>,
    pub(super) problems: Vec<Problem>,
}

pub(super) fn translate(cx: &Cx<'_>, route: &ObjectRef, filters: &[Filter]) -> Translated {
    let mut out = Translated::default();
    for filter in filters {
        let config = |key: &str| filter.config.get(key).cloned().unwrap_or(Value::Null);
        match filter.type_.as_str() {
            "RequestHeaderModifier" => {
                out.policies.insert(
                    "requestHeaderModifier".into(),
                    headers(&config("requestHeaderModifier")),
                );
            }
            "ResponseHeaderModifier" => {
                out.policies.insert(
                    "responseHeaderModifier".into(),
                    headers(&config("responseHeaderModifier")),
                );
            }
            "RequestRedirect" => {
                let c = config("requestRedirect");
                let mut r = Map::new();
                for key in ["scheme", "hostname", "port", "statusCode"] {
                    if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
                        r.insert(key.into(), v.clone());
                    }
                }
                if let Some(path) = path_rewrite(&c["path"]) {
                    r.insert("path".into(), path);
                }
                out.policies
                    .insert("requestRedirect".into(), Value::Object(r));
            }
            "URLRewrite" => {
                let c = config("urlRewrite");
                let mut r = Map::new();
                if let Some(h) = c.get("hostname").filter(|v| !v.is_null()) {
                    r.insert("hostname".into(), h.clone());
                }
                if let Some(path) = path_rewrite(&c["path"]) {
                    r.insert("path".into(), path);
                }
                out.policies.insert("urlRewrite".into(), Value::Object(r));
            }
            "RequestMirror" => match mirror(cx, route, &config("requestMirror")) {
                Ok(m) => {
                    out.policies.insert("requestMirror".into(), m);
                }
                Err(p) => out.problems.push(p),
            },
            "CORS" => {
                let c = config("cors");
                let mut r = Map::new();
                for key in [
                    "allowOrigins",
                    "allowMethods",
                    "allowHeaders",
                    "exposeHeaders",
                    "allowCredentials",
                    "maxAge",
                ] {
                    if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
                        r.insert(key.into(), v.clone());
                    }
                }
                out.policies.insert("cors".into(), Value::Object(r));
            }
            "ExtensionRef" => {
                let c = config("extensionRef");
                let (group, kind, name) = (
                    c["group"].as_str().unwrap_or(""),
                    c["kind"].as_str().unwrap_or(""),
                    c["name"].as_str().unwrap_or(""),
                );
                if group == GROUP && kind == "SwitchboardPolicy" {
                    out.extension_refs
                        .push(ObjectRef::new(group, kind, &route.namespace, name));
                } else {
                    out.problems.push((
                        "InvalidKind".into(),
                        format!("extensionRef to {group}/{kind} is not supported"),
                    ));
                }
            }
            other => out.problems.push((
                "UnsupportedValue".into(),
                format!("filter {other} is not supported"),
            )),
        }
    }
    out
}

/// `{add: [{name, value}], set: [...], remove: [...]}` to the file's maps.
fn headers(c: &Value) -> Value {
    let pairs = |key: &str| -> Map<String, Value> {
        c[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| Some((h["name"].as_str()?.to_string(), h["value"].clone())))
            .collect()
    };
    let mut out = Map::new();
    let (add, set) = (pairs("add"), pairs("set"));
    if !add.is_empty() {
        out.insert("add".into(), Value::Object(add));
    }
    if !set.is_empty() {
        out.insert("set".into(), Value::Object(set));
    }
    if let Some(remove) = c.get("remove").filter(|v| v.is_array()) {
        out.insert("remove".into(), remove.clone());
    }
    Value::Object(out)
}

/// `{type: ReplaceFullPath|ReplacePrefixMatch, replaceFullPath|replacePrefixMatch}`.
fn path_rewrite(c: &Value) -> Option<Value> {
    match c["type"].as_str()? {
        "ReplaceFullPath" => Some(json!({ "full": c["replaceFullPath"].as_str().unwrap_or("/") })),
        "ReplacePrefixMatch" => {
            Some(json!({ "prefix": c["replacePrefixMatch"].as_str().unwrap_or("/") }))
        }
        _ => None,
    }
}

/// A mirror to a Service: its first ready endpoint; `percent` or `fraction` as a percentage.
fn mirror(cx: &Cx<'_>, route: &ObjectRef, c: &Value) -> Result<Value, Problem> {
    let r = &c["backendRef"];
    let name = r["name"].as_str().unwrap_or("");
    let namespace = r["namespace"].as_str().unwrap_or(&route.namespace);
    let (group, kind) = (
        r["group"].as_str().unwrap_or(""),
        r["kind"].as_str().unwrap_or("Service"),
    );
    if !group.is_empty() || kind != "Service" {
        return Err((
            "InvalidKind".into(),
            format!("mirror backendRef kind {group}/{kind} is not supported"),
        ));
    }
    let to = ObjectRef::new("", "Service", namespace, name);
    if !permitted(
        cx.snapshot,
        (&route.group, &route.kind, &route.namespace),
        &to,
    ) {
        return Err((
            "RefNotPermitted".into(),
            format!("no ReferenceGrant allows the mirror to {to}"),
        ));
    }
    let port = r["port"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    let host = service_hosts(cx, namespace, name, port)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            (
                "BackendNotFound".to_string(),
                format!("{to} has no ready endpoint"),
            )
        })?;
    let mut out = json!({ "backend": { "host": host } });
    if let Some(p) = c["percent"].as_f64() {
        out["percentage"] = json!(p);
    } else if let Some(n) = c["fraction"]["numerator"].as_f64() {
        let d = c["fraction"]["denominator"]
            .as_f64()
            .unwrap_or(100.0)
            .max(1.0);
        out["percentage"] = json!(100.0 * n / d);
    }
    Ok(out)
}
