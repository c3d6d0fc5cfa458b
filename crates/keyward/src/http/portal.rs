//! `POST /v1/portal/sessions` (docs/API.md and docs/PAGES.md): a host
//! application, server to server, asks for a single-use link that opens
//! the keys pages of one of its customers' accounts, as a Stripe
//! integration asks for a billing-portal session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Manager;
use super::json::ApiJson;
use super::problem::Problem;
use super::AppState;
use crate::keys::AccountId;
use crate::sessions::ReturnUrl;
use crate::time::Millis;

/// A portal session to open.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortalSession {
    /// The customer whose keys the page shows.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$")]
    pub account: String,
    /// Where the page's "Back to ..." link leads: an absolute https URL
    /// (http only for localhost), on an allowed origin if
    /// `portal.return_origins` is set.
    #[schema(format = "uri", max_length = 2048)]
    pub return_url: Option<String>,
}

/// A single-use link to the keys pages of one account.
#[derive(Serialize, ToSchema)]
pub struct PortalSession {
    /// Works once, until `expires_at` (5 minutes). Redirect the signed-in
    /// customer there; never log it.
    #[schema(format = "uri")]
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Millis,
}

/// Open a portal session for an account.
#[utoipa::path(
    post,
    path = "/v1/portal/sessions",
    tag = "portal",
    request_body = CreatePortalSession,
    responses(
        (status = 201, description = "The link", body = PortalSession),
        (status = 403, description = "The management key is limited to another account", body = super::schemas::ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("management_key" = []))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiJson(body): ApiJson<CreatePortalSession>,
) -> Result<(StatusCode, Json<PortalSession>), Problem> {
    let account = AccountId::parse(&body.account)?;
    let return_url = body
        .return_url
        .as_deref()
        .map(|url| ReturnUrl::parse(url, state.pages.settings.return_origins.as_deref()))
        .transpose()?;
    let link = state
        .sessions
        .portal_link(&account, return_url.as_ref(), &manager.key)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PortalSession {
            url: format!("{}/portal/{}", state.pages.origin, link.token.reveal()),
            expires_at: link.expires_at,
        }),
    ))
}
