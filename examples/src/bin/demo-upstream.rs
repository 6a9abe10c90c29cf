//! `demo-upstream`: a tiny HTTP server used by the quickstart and by tests.
//!
//! ```text
//! demo-upstream --listen 127.0.0.1:9000 [--name NAME]
//! ```
//!
//! Endpoints:
//! - `GET /`                                  `hello from NAME`
//! - `ANY /echo/*`                            JSON: method, path, query, headers, body length, server name
//! - `GET /sse?count=N&interval_ms=M`         an SSE stream of N events, M ms apart
//! - `GET /slow?ms=N`                         answers after N ms
//! - `GET /status/{code}`                     answers with that status

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use clap::Parser;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;

/// Upper bounds so a typo cannot pin the server for hours.
const MAX_SSE_EVENTS: u64 = 100_000;
const MAX_DELAY_MS: u64 = 600_000;

#[derive(Parser, Debug)]
#[command(
    name = "demo-upstream",
    version,
    about = "Small demo HTTP upstream for the Switchboard quickstart"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Name reported in responses (defaults to the listen address).
    #[arg(long)]
    name: Option<String>,
}

struct AppState {
    name: String,
}

type Shared = Arc<AppState>;

fn app(name: String) -> Router {
    let state = Arc::new(AppState { name });
    Router::new()
        .route("/", get(root))
        .route("/echo", any(echo))
        .route("/echo/", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/sse", get(sse))
        .route("/slow", get(slow))
        .route("/status/{code}", any(status))
        .with_state(state)
}

async fn root(State(st): State<Shared>) -> String {
    format!("hello from {}\n", st.name)
}

async fn echo(
    State(st): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Json<serde_json::Value> {
    // Repeated headers are joined with ", " as HTTP allows; non-UTF-8 values are shown lossily.
    let mut hs: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        hs.entry(k.as_str().to_owned())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    Json(json!({
        "server": st.name,
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query().unwrap_or(""),
        "headers": hs,
        "bodyLength": body.len(),
    }))
}

#[derive(Deserialize)]
struct SseParams {
    count: Option<u64>,
    interval_ms: Option<u64>,
}

async fn sse(
    State(st): State<Shared>,
    Query(p): Query<SseParams>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let count = p.count.unwrap_or(5).min(MAX_SSE_EVENTS);
    let interval = Duration::from_millis(p.interval_ms.unwrap_or(500).min(MAX_DELAY_MS));
    let name = st.name.clone();
    let events = stream::unfold(0u64, move |i| {
        let name = name.clone();
        async move {
            if i >= count {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            let data = json!({ "seq": i, "of": count, "server": name }).to_string();
            let ev = Event::default().id(i.to_string()).event("tick").data(data);
            Some((Ok(ev), i + 1))
        }
    });
    Sse::new(events)
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

async fn slow(State(st): State<Shared>, Query(p): Query<SlowParams>) -> String {
    let ms = p.ms.unwrap_or(1000).min(MAX_DELAY_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slow response from {} after {ms} ms\n", st.name)
}

async fn status(Path(code): Path<String>) -> Response {
    match code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(sc) => {
            let reason = sc.canonical_reason().unwrap_or("");
            (sc, format!("{} {reason}\n", sc.as_u16())).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("invalid status code {code:?}; expected 100-999\n"),
        )
            .into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = args.name.unwrap_or_else(|| args.listen.to_string());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    eprintln!("demo-upstream {name:?} listening on http://{local}");
    axum::serve(listener, app(name))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
