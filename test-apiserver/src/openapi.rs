//! `/openapi/v3`: just enough for kubectl. `kubectl apply` (validation on by default) first
//! asks the OpenAPI v3 documents whether the PATCH of the kind takes the `fieldValidation`
//! query parameter; when it does, kubectl leaves validation to the server and never downloads
//! `/openapi/v2` (protobuf) for client-side validation. So every group-version's document lists
//! each resource's paths with the operations' `x-kubernetes-group-version-kind` and the
//! `fieldValidation` parameter, and no schemas: kubectl then computes strategic merge patches
//! from its compiled-in types (built-in kinds) or sends merge patches (custom resources).
//! This server accepts `fieldValidation` and does not validate fields (the README says so).
//! `/openapi/v2` answers 404.

use axum::body::Body;
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::resources::{Registry, ResourceInfo};
use crate::status::ApiError;

fn respond(v: &Value) -> Result<Response, ApiError> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap_or_default()))
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
}

/// `api/v1` or `apis/<group>/<version>`.
fn gv_path(r: &ResourceInfo) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// A short content hash (FNV-1a) so clients' caches of the documents follow CRD changes.
fn hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn operation(r: &ResourceInfo, verb: &str) -> Value {
    json!({
        "operationId": format!("{verb}{}", r.kind),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ],
        "responses": {"200": {"description": "OK"}},
    })
}

fn gv_document(resources: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    for r in resources {
        let base = if r.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", gv_path(r), r.plural)
        } else {
            format!("/{}/{}", gv_path(r), r.plural)
        };
        paths.insert(
            base.clone(),
            json!({"get": operation(r, "list"), "post": operation(r, "post")}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(r, "get"),
                "put": operation(r, "put"),
                "patch": operation(r, "patch"),
                "delete": operation(r, "delete"),
            }),
        );
        if r.has_status {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({"get": operation(r, "get"), "put": operation(r, "put"), "patch": operation(r, "patch")}),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (switchboard test API server)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

pub fn answer(registry: &Registry, segs: &[&str]) -> Result<Response, ApiError> {
    let all = registry.all();
    let not_found = || ApiError::path_not_found(&format!("/openapi/{}", segs.join("/")));
    match segs {
        ["v3"] => {
            let mut gvs: Vec<String> = all.iter().map(gv_path).collect();
            gvs.dedup();
            let mut paths = Map::new();
            for gv in gvs {
                let rs: Vec<ResourceInfo> =
                    all.iter().filter(|r| gv_path(r) == gv).cloned().collect();
                let h = hash(&gv_document(&rs));
                paths.insert(
                    gv.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={h}")}),
                );
            }
            respond(&json!({"paths": paths}))
        }
        ["v3", rest @ ..] => {
            let gv = rest.join("/");
            let rs: Vec<ResourceInfo> = all.into_iter().filter(|r| gv_path(r) == gv).collect();
            if rs.is_empty() {
                return Err(not_found());
            }
            respond(&gv_document(&rs))
        }
        _ => Err(not_found()),
    }
}
