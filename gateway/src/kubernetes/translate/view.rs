//! HTTPRoutes and GRPCRoutes seen through one shape: the fields the translator reads, taken
//! from each object's JSON. The generated `gateway-api` types give every nesting its own
//! type (`HttpRouteRulesFiltersRequestHeaderModifierAdd`...), twice over for the two kinds;
//! reading both through these structs lets one piece of code translate both.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Resource;
use serde::Deserialize;
use serde_json::Value;

use super::refs::{generation, ObjectRef};

/// A route of either kind.
#[derive(Debug, Clone)]
pub(super) struct RouteView {
    pub(super) object: ObjectRef,
    pub(super) generation: i64,
    pub(super) created: Option<Time>,
    pub(super) spec: RouteSpec,
    /// `.status.parents` as the API server has it (other controllers' entries are kept).
    pub(super) parents_status: Vec<ParentStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteSpec {
    #[serde(default)]
    pub(super) hostnames: Vec<String>,
    #[serde(default)]
    pub(super) parent_refs: Vec<ParentRef>,
    #[serde(default)]
    pub(super) rules: Vec<Rule>,
}

/// A `parentRef` (also the `parentRef` of a status entry).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ParentRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<String>,
    pub(super) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) section_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) port: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ParentStatus {
    pub(super) parent_ref: ParentRef,
    pub(super) controller_name: String,
    #[serde(default)]
    pub(super) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Rule {
    #[serde(default)]
    pub(super) name: Option<String>,
    /// HTTPRoute matches, or GRPCRoute matches converted by [`RouteView::grpc`].
    #[serde(default)]
    pub(super) matches: Vec<Match>,
    #[serde(default)]
    pub(super) filters: Vec<Filter>,
    #[serde(default)]
    pub(super) backend_refs: Vec<BackendRef>,
    #[serde(default)]
    pub(super) timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Match {
    #[serde(default)]
    pub(super) path: Option<TypedValue>,
    #[serde(default)]
    pub(super) headers: Vec<NamedMatch>,
    #[serde(default)]
    pub(super) query_params: Vec<NamedMatch>,
    #[serde(default)]
    pub(super) method: Option<String>,
}

/// `{type, value}` (a path match; `type` defaults to `PathPrefix`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct TypedValue {
    #[serde(rename = "type", default)]
    pub(super) type_: Option<String>,
    #[serde(default)]
    pub(super) value: Option<String>,
}

/// `{type, name, value}` (a header or query match; `type` defaults to `Exact`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct NamedMatch {
    #[serde(rename = "type", default)]
    pub(super) type_: Option<String>,
    pub(super) name: String,
    pub(super) value: String,
}

/// A filter: its `type` and the object under the type's key, kept as JSON.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Filter {
    #[serde(rename = "type")]
    pub(super) type_: String,
    #[serde(flatten)]
    pub(super) config: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BackendRef {
    #[serde(default)]
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) kind: Option<String>,
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) port: Option<i32>,
    #[serde(default)]
    pub(super) weight: Option<i32>,
    #[serde(default)]
    pub(super) filters: Vec<Filter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Timeouts {
    #[serde(default)]
    pub(super) request: Option<String>,
    #[serde(default)]
    pub(super) backend_request: Option<String>,
}

/// GRPCRoute's match: a method and headers.
#[derive(Debug, Clone, Default, Deserialize)]
struct GrpcMatch {
    #[serde(default)]
    method: Option<GrpcMethod>,
    #[serde(default)]
    headers: Vec<NamedMatch>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GrpcMethod {
    #[serde(rename = "type", default)]
    type_: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    method: Option<String>,
}

impl RouteView {
    /// An HTTPRoute or GRPCRoute (`grpc`), or why its spec could not be read.
    pub(super) fn of<K: Resource<DynamicType = ()> + serde::Serialize>(
        route: &K,
        grpc: bool,
    ) -> Result<RouteView, String> {
        let json = serde_json::to_value(route).map_err(|e| e.to_string())?;
        let mut spec_json = json.get("spec").cloned().unwrap_or(Value::Null);
        if grpc {
            grpc_to_http(&mut spec_json)?;
        }
        let spec: RouteSpec = serde_json::from_value(spec_json).map_err(|e| e.to_string())?;
        let parents_status = json
            .pointer("/status/parents")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(RouteView {
            object: ObjectRef::of(route),
            generation: generation(route),
            created: route.meta().creation_timestamp.clone(),
            spec,
            parents_status,
        })
    }
}

/// Rewrites a GRPCRoute spec's matches as HTTP matches (gRPC is HTTP/2 `POST /service/method`):
/// an exact service and method give an exact path, a service alone a path prefix, a regular
/// expression type a regex path.
fn grpc_to_http(spec: &mut Value) -> Result<(), String> {
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for rule in rules {
        let Some(matches) = rule.get_mut("matches") else {
            continue;
        };
        let grpc: Vec<GrpcMatch> =
            serde_json::from_value(matches.take()).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for m in grpc {
            let mut http = serde_json::json!({ "method": "POST", "headers": [] });
            if let Some(method) = m.method {
                let regex = method.type_.as_deref() == Some("RegularExpression");
                let path = match (method.service, method.method, regex) {
                    (Some(s), Some(m), false) => {
                        serde_json::json!({"type": "Exact", "value": format!("/{s}/{m}")})
                    }
                    (Some(s), None, false) => {
                        serde_json::json!({"type": "PathPrefix", "value": format!("/{s}")})
                    }
                    (None, Some(m), false) => {
                        serde_json::json!({"type": "RegularExpression", "value": format!("/[^/]+/{}", regex_escape(&m))})
                    }
                    (s, m, true) => {
                        serde_json::json!({"type": "RegularExpression", "value": format!("/{}/{}", s.unwrap_or_else(|| "[^/]+".into()), m.unwrap_or_else(|| "[^/]+".into()))})
                    }
                    (None, None, false) => Value::Null,
                };
                if !path.is_null() {
                    http["path"] = path;
                }
            }
            http["headers"] = serde_json::to_value(
                m.headers
                    .iter()
                    .map(|h| serde_json::json!({"type": h.type_, "name": h.name, "value": h.value}))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or(Value::Null);
            out.push(http);
        }
        *matches = Value::Array(out);
    }
    Ok(())
}

fn regex_escape(s: &str) -> String {
    regex::escape(s)
}
