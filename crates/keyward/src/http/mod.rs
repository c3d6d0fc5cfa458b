//! The HTTP layer: routes, state, and the mapping of results to responses.
//! Handlers parse, call the key service or the verifier, and answer; none
//! of them touches storage directly.

mod auth;
pub mod authz;
pub mod connections;
mod credentials;
mod json;
mod keys;
mod limits;
pub mod metrics;
pub mod openapi;
mod ops;
pub mod pages;
mod params;
mod portal;
pub mod problem;
mod published;
mod rendered;
mod schemas;
pub mod verify;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, on, post, MethodFilter};
use axum::Router;

use crate::config::ServerConfig;
use crate::keys::KeyService;
use crate::readiness::Readiness;
use crate::services::Services;
use crate::sessions::SessionService;
use crate::usage::UsageService;
use crate::verify::Verifier;

/// What the handlers share: the services (never the store itself) and what
/// is rendered once.
pub struct AppState {
    pub keys: KeyService,
    pub verifier: Arc<Verifier>,
    pub usage: UsageService,
    pub readiness: Readiness,
    pub sessions: SessionService,
    pub pages: pages::PagesState,
    pub metrics: metrics::Metrics,
    pub config: ServerConfig,
    renderings: published::Renderings,
}

impl AppState {
    /// The state of one node's API over its services
    /// ([`Services::for_server`]), listening on `listening` (the pages'
    /// default public URL).
    pub fn new(
        services: Services,
        verifier: Arc<Verifier>,
        config: ServerConfig,
        listening: std::net::SocketAddr,
    ) -> Result<AppState, String> {
        let renderings = published::Renderings::new(verifier.catalog(), &config);
        let Services {
            keys,
            usage,
            readiness,
            sessions,
        } = services;
        Ok(AppState {
            keys,
            usage,
            readiness,
            sessions,
            pages: pages::PagesState::new(config.pages.clone(), listening),
            metrics: metrics::Metrics::new().map_err(|e| e.to_string())?,
            config,
            renderings,
            verifier,
        })
    }

    /// What is rendered from the catalog served now.
    pub fn published(&self) -> Arc<published::Published> {
        self.renderings.of(self.verifier.catalog(), &self.config)
    }
}

/// The methods `/v1/authz` answers (as `/openapi.json` declares them).
fn authz_methods() -> MethodFilter {
    MethodFilter::GET
        .or(MethodFilter::PUT)
        .or(MethodFilter::POST)
        .or(MethodFilter::DELETE)
        .or(MethodFilter::OPTIONS)
        .or(MethodFilter::HEAD)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::TRACE)
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let verification = Router::new()
        .route("/v1/verify", post(verify::verify))
        .route("/v1/authz", on(authz_methods(), authz::authz))
        // Envoy's check has the original method, whatever it is: an
        // unknown one is a 403 (UNKNOWN_ROUTE), never a 405.
        .route("/v1/authz/envoy", any(authz::authz_envoy))
        .route("/v1/authz/envoy/", any(authz::authz_envoy))
        .route("/v1/authz/envoy/{*path}", any(authz::authz_envoy));
    let verification = match state.config.verify_token {
        Some(_) => verification.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            credentials::require_verifier_token,
        )),
        None => verification,
    };
    Router::new()
        .merge(verification)
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/{id}", get(keys::get).patch(keys::patch))
        .route("/v1/keys/{id}/revoke", post(keys::revoke))
        .route("/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/v1/keys/{id}/usage", get(keys::usage))
        .route("/v1/audit", get(keys::audit))
        .route("/v1/catalog", get(keys::catalog))
        .route("/v1/portal/sessions", post(portal::create))
        .merge(pages::router(state.clone()))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(limits::reject_oversized))
        .with_state(state)
}

/// An error answer: a page with the pages' headers under the pages'
/// paths, problem+json elsewhere (the API's contract).
fn page_or_problem(
    state: &AppState,
    uri: &axum::http::Uri,
    page: pages::PageError,
    problem: problem::Problem,
) -> Response {
    let path = uri.path();
    if !pages::is_page_path(path) {
        return problem.into_response();
    }
    let mut response = page.into_response();
    pages::add_page_headers(
        response.headers_mut(),
        &state.pages.settings,
        path.starts_with("/portal"),
    );
    response
}

/// An unknown address.
async fn not_found(State(state): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    page_or_problem(
        &state,
        &uri,
        pages::PageError::not_found(),
        problem::Problem::not_found("no such endpoint"),
    )
}

/// A method an address does not take (the router adds `Allow`).
async fn method_not_allowed(State(state): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    let status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    page_or_problem(
        &state,
        &uri,
        pages::PageError::new(status, "Not here", "This page cannot be used that way."),
        problem::Problem::new(
            status,
            "this endpoint does not take this method (the Allow header lists those it takes)",
        ),
    )
}
