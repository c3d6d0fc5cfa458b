//! The pages (docs/PAGES.md): an operator dashboard at `/dashboard`
//! and the customer portal at `/portal`, the same key pages behind two ways
//! in. Server-rendered (askama templates, checked at compile time), every
//! flow works without JavaScript (the one script only adds a copy button),
//! every asset is in the binary.
//!
//! - `visitor.rs`: who is asking (the session, its account) and the form
//!   check every POST passes (CSRF token, Origin);
//! - `security.rs`: the headers every page sends, cookies, client
//!   addresses and the sign-in throttle;
//! - `sign_in.rs`: signing in and out, the account picker, portal links;
//! - `keys.rs` and `changes.rs`: the key pages and the forms that change
//!   keys; `matrix.rs`, `chart.rs`, `show.rs`: what they show;
//! - `catalog.rs`, `assets.rs`: the catalog page and the static files.

mod assets;
pub mod catalog;
mod changes;
mod chart;
mod error;
mod keys;
pub mod matrix;
mod security;
mod show;
mod sign_in;
mod visitor;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use super::AppState;
use crate::config::PageSettings;
pub use error::PageError;
pub use security::{add_page_headers, is_page_path, SignInThrottle};

/// What the pages render once and share.
pub struct PagesState {
    pub settings: PageSettings,
    /// `public_url`'s origin (a present `Origin` must equal it).
    pub origin: String,
    pub theme_css: String,
    pub throttle: SignInThrottle,
}

impl PagesState {
    /// `listening` is where the server listens: the default public URL.
    pub fn new(settings: PageSettings, listening: std::net::SocketAddr) -> PagesState {
        let origin = match &settings.public_url {
            Some(url) => url.origin().ascii_serialization(),
            None => format!("http://{listening}"),
        };
        PagesState {
            theme_css: format!(":root {{ --accent: {}; }}\n", settings.accent_color),
            throttle: SignInThrottle::new(),
            settings,
            origin,
        }
    }
}

/// The key pages, under the operator's `/dashboard/accounts/{account}` and
/// under the portal's `/portal` alike.
fn key_pages(router: Router<Arc<AppState>>, base: &str) -> Router<Arc<AppState>> {
    router
        .route(&format!("{base}/keys"), get(keys::list).post(changes::create))
        .route(&format!("{base}/keys/new"), get(changes::new_key))
        .route(&format!("{base}/keys/{{id}}"), get(keys::show).post(changes::edit))
        .route(&format!("{base}/keys/{{id}}/reduce"), post(changes::reduce))
        .route(&format!("{base}/keys/{{id}}/rotate"), post(changes::rotate))
        .route(
            &format!("{base}/keys/{{id}}/revoke"),
            get(keys::confirm_revoke).post(changes::revoke),
        )
}

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let pages = Router::new()
        .route("/dashboard", get(sign_in::dashboard))
        .route("/dashboard/sign-in", post(sign_in::sign_in))
        .route("/dashboard/sign-out", post(sign_in::sign_out_operator))
        .route("/dashboard/open", get(sign_in::open_account))
        .route("/dashboard/catalog", get(catalog::page))
        .route("/portal/sign-out", post(sign_in::sign_out_portal))
        // A link is opened by GET only: a HEAD (a link checker's) must not
        // use it up.
        .route("/portal/{token}", get(sign_in::open_portal).head(sign_in::not_by_head));
    let pages = key_pages(key_pages(pages, visitor::DASHBOARD_ACCOUNT_BASE), visitor::PORTAL_BASE)
        .layer(axum::middleware::from_fn_with_state(state, security::page_headers));
    Router::new()
        .merge(pages)
        .route("/assets/keyward.css", get(assets::css))
        .route("/assets/keyward.js", get(assets::js))
        .route("/assets/theme.css", get(assets::theme))
}
