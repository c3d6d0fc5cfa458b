//! Operations endpoints: liveness, readiness (storage reachable), metrics.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use super::AppState;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Storage reachable"), (status = 503, description = "Storage unreachable")))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, Problem> {
    state.readiness.check().await.map_err(|_| Problem::unavailable())?;
    Ok("ready")
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let stats = &state.verifier.stats;
    let text = state.metrics.render(
        stats.cache_hits.load(Relaxed),
        stats.cache_misses.load(Relaxed),
        state.usage.recorder().flush_lag(),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
