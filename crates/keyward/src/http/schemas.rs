//! The shapes of answers the handlers write by hand (pre-rendered, or
//! built by `problem.rs`), declared for the OpenAPI document: a test checks
//! each against what is served.

use serde::Serialize;
use utoipa::ToSchema;

/// A verification answer. The handler writes it pre-rendered for speed;
/// a test checks every code's answer against this schema.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: crate::verify::Code,
    pub key_id: Option<String>,
    pub account: Option<String>,
    pub environment: Option<String>,
    /// The scopes the request needed.
    pub required: Vec<String>,
    /// The key's grants.
    pub granted: Vec<String>,
    /// Required scopes the key lacks.
    pub missing: Vec<String>,
    /// Why the answer is not valid; absent when `valid` is true.
    #[schema(required = false)]
    pub detail: Option<String>,
}

/// An error (`application/problem+json`, RFC 9457).
#[derive(Serialize, ToSchema)]
pub struct ProblemDetails {
    /// Always `about:blank`: the status says what kind of error it is.
    pub r#type: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, naming the value at fault.
    pub detail: String,
    /// The request field at fault, for validation errors.
    #[schema(required = false)]
    pub field: Option<String>,
    /// A verification's code (`/v1/authz` 401s).
    #[schema(required = false)]
    pub code: Option<String>,
    /// `false` on `/v1/verify`'s 503.
    #[schema(required = false)]
    pub valid: Option<bool>,
}

/// The 403 body of `/v1/authz` (seed 001's).
#[derive(Serialize, ToSchema)]
pub struct Forbidden {
    pub detail: String,
    pub code: String,
    pub required: Vec<String>,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
}
