//! The pages' static files, compiled into the binary: nothing comes from
//! a CDN. The theme is generated from the `[portal]` accent colour, so that
//! no page needs an inline style.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::AppState;

const CSS: &str = include_str!("../../../assets/keyward.css");
const JS: &str = include_str!("../../../assets/keyward.js");
const CACHE: &str = "public, max-age=3600";
const NOSNIFF: (header::HeaderName, &str) = (header::X_CONTENT_TYPE_OPTIONS, "nosniff");

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
            NOSNIFF,
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
            NOSNIFF,
        ],
        JS,
    )
}

pub async fn theme(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
            NOSNIFF,
        ],
        state.pages.theme_css.clone(),
    )
}
