//! A small petstore REST API used by the `openapi-tools` tests and demos.
//!
//! The `/pets` routes keep pets in memory; the `/echo`, `/forms`, `/uploads`, `/blobs` and
//! `/secure` routes answer with what they received (raw path, raw query, headers, cookie, body)
//! so tests can assert the exact serialisation the converter produced. The OpenAPI 3.0, 3.1 and
//! Swagger 2.0 descriptions live in `examples/petstore/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The credentials the secure routes accept.
pub const API_KEY: &str = "secret-key";
pub const BEARER: &str = "secret-token";
pub const BASIC_USER: &str = "alice";
pub const BASIC_PASSWORD: &str = "wonderland";
pub const OAUTH_CLIENT: &str = "client-1";
pub const OAUTH_SECRET: &str = "client-secret";

#[derive(Default)]
struct Store {
    pets: BTreeMap<u64, Value>,
    next: u64,
    token_requests: u64,
}

type Shared = Arc<Mutex<Store>>;

/// Directory holding the petstore OpenAPI documents.
pub fn spec_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("petstore")
}

/// The router (two pets pre-loaded: 1 "Rex" dog, 2 "Tom" cat).
pub fn router() -> Router {
    let mut store = Store {
        next: 3,
        ..Default::default()
    };
    store
        .pets
        .insert(1, json!({"id": 1, "name": "Rex", "tag": "dog"}));
    store
        .pets
        .insert(2, json!({"id": 2, "name": "Tom", "tag": "cat"}));
    let state: Shared = Arc::new(Mutex::new(store));
    Router::new()
        .route("/pets", get(list_pets).post(create_pet))
        .route("/pets/{id}", get(get_pet).delete(delete_pet))
        .route("/oauth/token", post(token))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database on fire") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/image",
            get(|| async { ([("content-type", "image/png")], PNG.to_vec()) }),
        )
        .route(
            "/octets",
            get(|| async {
                (
                    [("content-type", "application/octet-stream")],
                    vec![0u8, 1, 2, 255],
                )
            }),
        )
        .route("/secure/{kind}", get(secure))
        .fallback(any(echo))
        .with_state(state)
}

/// Binds 127.0.0.1:0, serves in the background, returns the address.
pub async fn spawn() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router()).await;
    });
    Ok(addr)
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
];

async fn list_pets(State(s): State<Shared>, uri: Uri) -> Json<Value> {
    let store = s
        .lock()
        .map(|g| g.pets.values().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    Json(json!({"pets": store, "query": uri.query().unwrap_or("")}))
}

#[derive(Deserialize)]
struct NewPet {
    name: String,
    tag: Option<String>,
}

async fn create_pet(State(s): State<Shared>, body: Bytes) -> Response {
    let Ok(new) = serde_json::from_slice::<NewPet>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be {name, tag?}"})),
        )
            .into_response();
    };
    let Ok(mut g) = s.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let id = g.next;
    g.next += 1;
    let pet = json!({"id": id, "name": new.name, "tag": new.tag});
    g.pets.insert(id, pet.clone());
    (StatusCode::CREATED, Json(pet)).into_response()
}

async fn get_pet(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let pet = id
        .parse::<u64>()
        .ok()
        .and_then(|id| s.lock().ok()?.pets.get(&id).cloned());
    match pet {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no pet {id}")})),
        )
            .into_response(),
    }
}

async fn delete_pet(State(s): State<Shared>, Path(id): Path<u64>) -> StatusCode {
    match s.lock().ok().and_then(|mut g| g.pets.remove(&id)) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

async fn secure(Path(kind): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let basic = format!("Basic {}", b64(&format!("{BASIC_USER}:{BASIC_PASSWORD}")));
    let ok = match kind.as_str() {
        "header" => header("x-api-key") == API_KEY,
        "query" => uri
            .query()
            .unwrap_or("")
            .split('&')
            .any(|p| p == format!("api_key={API_KEY}")),
        "cookie" => header("cookie")
            .split("; ")
            .any(|c| c == format!("key={API_KEY}")),
        "bearer" => header("authorization") == format!("Bearer {BEARER}"),
        "basic" => header("authorization") == basic,
        "oauth" => header("authorization") == "Bearer oauth-token-1",
        _ => false,
    };
    if ok {
        Json(json!({"ok": true, "kind": kind})).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad credentials"})),
        )
            .into_response()
    }
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let expected = format!("Basic {}", b64(&format!("{OAUTH_CLIENT}:{OAUTH_SECRET}")));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != expected || !body.contains("grant_type=client_credentials") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if let Ok(mut g) = s.lock() {
        g.token_requests += 1;
    }
    Json(json!({"access_token": "oauth-token-1", "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// Answers with what it received.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let hdrs: BTreeMap<String, String> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-") || *k == "cookie" || *k == "content-type")
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query().unwrap_or(""),
        "headers": hdrs,
        "body": String::from_utf8_lossy(&body),
        "bodyLength": body.len(),
    }))
}

/// Minimal base64 so the example crate needs no extra dependency.
fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
