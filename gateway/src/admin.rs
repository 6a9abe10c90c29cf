//! Admin endpoints: `/healthz`, `/readyz`, `/metrics`, `/config`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::server::Runtime;

/// The admin router.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .with_state(runtime)
}

async fn readyz(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    if rt.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        rt.metrics.encode(),
    )
}

async fn config(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    Json(rt.effective_config().as_ref().clone())
}

/// Binds the admin address and serves until the process ends.
pub async fn serve(addr: SocketAddr, runtime: Arc<Runtime>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(runtime);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(local)
}
