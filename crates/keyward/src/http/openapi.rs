//! `/openapi.json`: the OpenAPI document of keyward's own API, generated
//! from the handlers' annotations and the request and response types.

use serde::Serialize;
use utoipa::{Modify, OpenApi, ToSchema};

/// A verification answer.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// VALID, MALFORMED, NOT_FOUND, EXPIRED, REVOKED, INSUFFICIENT_SCOPE or UNKNOWN_ROUTE.
    pub code: String,
    pub key_id: Option<String>,
    pub account: Option<String>,
    pub environment: Option<String>,
    pub required: Vec<String>,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
    /// Why the answer is not valid; absent when `valid` is true.
    #[schema(required = false)]
    pub detail: Option<String>,
}

/// A key (never its digest; `key`, the plaintext, only when created or rotated).
#[derive(Serialize, ToSchema)]
pub struct KeyResponse {
    pub id: String,
    pub account: String,
    pub name: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub start: String,
    /// active, expired or revoked.
    pub status: String,
    pub stale_scopes: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    pub rotated_to: Option<String>,
    pub last_used_at: Option<String>,
    /// The plaintext key: only in the answer that created or rotated it.
    #[schema(required = false)]
    pub key: Option<String>,
    /// Usage totals: only in `GET /v1/keys/{id}`.
    #[schema(required = false)]
    pub usage: Option<UsageTotals>,
}

/// A key's usage totals, as `GET /v1/keys/{id}` shows them.
#[derive(Serialize, ToSchema)]
pub struct UsageTotals {
    pub last_used_at: Option<String>,
    /// `24h`, `7d`, `30d`.
    pub windows: std::collections::BTreeMap<String, UsageWindow>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyPage {
    pub items: Vec<KeyResponse>,
    pub next_cursor: Option<String>,
}

/// An error (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct ProblemDetails {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
}

/// The 403 body of `/v1/authz`.
#[derive(Serialize, ToSchema)]
pub struct Forbidden {
    pub detail: String,
    pub code: String,
    pub required: Vec<String>,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageWindow {
    pub allowed: u64,
    pub denied: u64,
}

/// Usage of a key (DESIGN.md section 4).
#[derive(Serialize, ToSchema)]
pub struct UsageResponse {
    pub key_id: String,
    pub last_used_at: Option<String>,
    /// `24h`, `7d`, `30d`.
    pub windows: std::collections::BTreeMap<String, UsageWindow>,
    #[schema(value_type = Vec<Object>)]
    pub daily: Vec<serde_json::Value>,
    pub scopes_used: std::collections::BTreeMap<String, u64>,
    pub unused_scopes: Vec<String>,
    pub suggested_scopes: Vec<String>,
}

struct ManagementAuth;

impl Modify for ManagementAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "management_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "keyward", description = "Scoped API keys: verification, lifecycle, usage, audit."),
    paths(
        super::verify::verify,
        super::verify::authz,
        super::keys::create,
        super::keys::list,
        super::keys::get,
        super::keys::patch,
        super::keys::revoke,
        super::keys::rotate,
        super::keys::usage,
        super::keys::audit,
        super::keys::catalog,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(VerifyResponse, KeyResponse, KeyPage, ProblemDetails, Forbidden, UsageResponse, UsageWindow, UsageTotals)),
    modifiers(&ManagementAuth)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
