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

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Storage reachable: `ready`, then `catalog <digest>` (SHA-256 of the catalog file served), also in `X-Keyward-Catalog`"),
    (status = 503, description = "Storage unreachable")))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    state.readiness.check().await.map_err(|_| Problem::unavailable())?;
    let catalog = state.verifier.catalog();
    Ok((
        [(
            header::HeaderName::from_static(CATALOG_HEADER),
            catalog.digest().to_owned(),
        )],
        format!("ready\ncatalog {}\n", catalog.digest()),
    )
        .into_response())
}

/// The header of `/readyz` that names the catalog served (its digest).
pub const CATALOG_HEADER: &str = "x-keyward-catalog";

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let stats = &state.verifier.stats;
    let catalog = state.verifier.catalog();
    let text = state.metrics.render(&super::metrics::Scrape {
        cache_hits: stats.cache_hits.load(Relaxed),
        cache_misses: stats.cache_misses.load(Relaxed),
        flush_lag: state.usage.recorder().flush_lag(),
        flush_interval: state.usage.recorder().flush_interval(),
        catalog_digest: catalog.digest(),
        reloads: state.verifier.live_catalog().reload_counts(),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
