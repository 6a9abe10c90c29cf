//! Request dispatch: the URL grammar of the Kubernetes API (`/api/v1/...`,
//! `/apis/<group>/<version>/...`, `namespaces/<ns>/<plural>[/<name>[/status]]`) onto the store
//! and the watch, with every error a `Status`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::discovery;
use crate::openapi;
use crate::patch::PatchKind;
use crate::resources::{self, Registry, ResourceInfo};
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::{ListOptions, Store};
use crate::watch::{self, WatchRequest};

/// What every request sees.
pub struct AppState {
    pub store: Store,
    pub registry: Registry,
    pub addr: String,
    pub bookmark_interval: Duration,
    pub stop: CancellationToken,
}

/// The largest request body accepted.
pub const MAX_BODY: usize = 8 << 20;

fn json_response(code: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

/// The axum fallback handler: every path.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match dispatch(&state, &method, uri.path(), &query, &headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn dispatch(
    state: &AppState,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let reg = &state.registry;
    let get = method == Method::GET;
    match segs.as_slice() {
        ["version"] if get => return Ok(json_response(200, &discovery::version())),
        ["healthz" | "livez" | "readyz"] if get => {
            return Ok((StatusCode::OK, "ok").into_response())
        }
        ["api"] if get => return Ok(json_response(200, &discovery::api_versions(&state.addr))),
        ["apis"] if get => return Ok(json_response(200, &discovery::api_groups(reg))),
        ["api", "v1"] if get => {
            return discovery::resource_list(reg, "", "v1")
                .map(|v| json_response(200, &v))
                .ok_or_else(|| ApiError::path_not_found(path))
        }
        ["apis", g] if get => {
            return discovery::api_group(reg, g)
                .map(|v| json_response(200, &v))
                .ok_or_else(|| ApiError::path_not_found(path))
        }
        ["apis", g, v] if get => {
            return discovery::resource_list(reg, g, v)
                .map(|v| json_response(200, &v))
                .ok_or_else(|| ApiError::path_not_found(path))
        }
        ["openapi", ..] if get => return openapi::answer(reg, &segs[1..]),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::path_not_found(path)),
    };
    // namespaces/<ns>/<plural>/... unless it is the namespace itself (or its status).
    let (ns, rest): (Option<&str>, &[&str]) = match rest {
        ["namespaces", _, "status" | "finalize"] if group.is_empty() => (None, rest),
        ["namespaces", ns, _, ..] => (Some(*ns), &rest[2..]),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(*n), None),
        [p, n, s] => (*p, Some(*n), Some(*s)),
        _ => return Err(ApiError::path_not_found(path)),
    };
    let ri = reg
        .find(group, version, plural)
        .ok_or_else(|| ApiError::path_not_found(path))?;
    if ri.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::path_not_found(path));
    }
    let ns = if ri.namespaced { ns } else { None };
    let status = match sub {
        None => false,
        Some("status") if ri.has_status => true,
        Some(_) => return Err(ApiError::path_not_found(path)),
    };
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: unsupported value {other:?} (All is the only one)"
            )))
        }
    };
    let dry_store;
    let store = if dry_run {
        dry_store = state.store.dry();
        &dry_store
    } else {
        &state.store
    };
    let metadata_only = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let one = |v: Value| {
        if metadata_only {
            crate::store::partial_metadata(&v)
        } else {
            v
        }
    };
    match (method.clone(), name) {
        (Method::GET, None) => {
            if is_true(query.get("watch")) {
                return watch_response(state, ri, ns, query, metadata_only);
            }
            let opts = list_options(query, &ri)?;
            let list = store.list(&ri, ns, &opts).await?;
            let list = if metadata_only {
                crate::store::partial_metadata_list(&list)
            } else {
                list
            };
            Ok(json_response(200, &list))
        }
        (Method::GET, Some(n)) => Ok(json_response(200, &one(store.get(&ri, ns, n).await?))),
        (Method::POST, None) => {
            let obj = parse_typed_body(headers, &body)?;
            let created = store.create(&ri, ns, obj).await?;
            if !dry_run {
                after_write(state, &ri, &created);
            }
            Ok(json_response(201, &created))
        }
        (Method::PUT, Some(n)) => {
            let obj = parse_typed_body(headers, &body)?;
            let updated = store.update(&ri, ns, n, obj, status).await?;
            if !dry_run {
                after_write(state, &ri, &updated);
            }
            Ok(json_response(200, &updated))
        }
        (Method::PATCH, Some(n)) => {
            let ct = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let kind = PatchKind::from_content_type(ct).ok_or_else(|| {
                ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ct:?})"),
                )
            })?;
            let patched = store.patch(&ri, ns, n, kind, &body, status).await?;
            if !dry_run {
                after_write(state, &ri, &patched);
            }
            Ok(json_response(200, &one(patched)))
        }
        (Method::DELETE, None) => {
            // deletecollection: every object the selectors match, one by one.
            let mut opts = list_options(query, &ri)?;
            opts.limit = None;
            opts.continue_token = None;
            let mut list = store.list(&ri, ns, &opts).await?;
            let mut deleted = Vec::new();
            for item in list["items"].as_array().cloned().unwrap_or_default() {
                let item_ns = item["metadata"]["namespace"].as_str();
                let Some(n) = item["metadata"]["name"].as_str() else {
                    continue;
                };
                match store.delete(&ri, item_ns, n, None).await {
                    Ok(d) => deleted.push(d),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            list["items"] = Value::Array(deleted);
            Ok(json_response(200, &list))
        }
        (Method::DELETE, Some(n)) if !status => {
            let precondition = if body.is_empty() {
                None
            } else {
                parse_body(&body)?["preconditions"]["resourceVersion"]
                    .as_str()
                    .map(String::from)
            };
            let deleted = store.delete(&ri, ns, n, precondition).await?;
            if ri.kind == "CustomResourceDefinition" && !dry_run {
                if let Some(name) = deleted["metadata"]["name"].as_str() {
                    state.registry.remove_crd(name);
                }
            }
            Ok(json_response(200, &deleted))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {path})"
            ),
        )),
    }
}

/// A CRD written here is served at once (other servers learn it from their etcd watch).
fn after_write(state: &AppState, ri: &ResourceInfo, obj: &Value) {
    if ri.kind == "CustomResourceDefinition" && ri.group == "apiextensions.k8s.io" {
        if let Some(name) = obj["metadata"]["name"].as_str() {
            state.registry.set_crd(name, resources::from_crd(obj));
        }
    }
}

/// A create or update body: JSON, or the protobuf kubectl's typed client sends.
fn parse_typed_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::decode(body).map_err(|(code, msg)| {
            if code == 415 {
                ApiError::new(415, "UnsupportedMediaType", msg)
            } else {
                ApiError::bad_request(msg)
            }
        });
    }
    parse_body(body)
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not JSON (this server speaks JSON only, not protobuf or YAML): {e}"
        ))
    })
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("1" | "true" | "True"))
}

fn selectors(
    query: &HashMap<String, String>,
    ri: &ResourceInfo,
) -> Result<(Selector, Selector), ApiError> {
    let labels = Selector::labels(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = Selector::fields(
        query.get("fieldSelector").map(String::as_str).unwrap_or(""),
        &ri.kind,
    )
    .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn list_options(
    query: &HashMap<String, String>,
    ri: &ResourceInfo,
) -> Result<ListOptions, ApiError> {
    let (labels, fields) = selectors(query, ri)?;
    let limit = match query.get("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        None => None,
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: query.get("continue").filter(|s| !s.is_empty()).cloned(),
        resource_version: query.get("resourceVersion").cloned(),
        resource_version_match: query.get("resourceVersionMatch").cloned(),
    })
}

fn watch_response(
    state: &AppState,
    ri: ResourceInfo,
    ns: Option<&str>,
    query: &HashMap<String, String>,
    metadata_only: bool,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(query, &ri)?;
    // No timeoutSeconds: the real server picks 30-60 minutes; so do we (30).
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => Duration::from_secs(1800),
    };
    let req = WatchRequest {
        resource: ri,
        namespace: ns.map(String::from),
        resource_version: query.get("resourceVersion").cloned(),
        labels,
        fields,
        bookmarks: is_true(query.get("allowWatchBookmarks")),
        send_initial_events: is_true(query.get("sendInitialEvents")),
        timeout,
        bookmark_interval: state.bookmark_interval,
        metadata_only,
    };
    let rx = watch::start(state.store.clone(), req, state.stop.child_token());
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
}
