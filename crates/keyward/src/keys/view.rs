//! What keyward shows of a key and of its audit trail: the answers of the
//! management API (and its OpenAPI schemas, derived from these very types),
//! of the command line's `--json` and of the pages. Never a digest; the
//! plaintext only in the answer that created or rotated it.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::record::{KeyRecord, Status};
use crate::time::Millis;
use crate::usage::Windows;

/// A key (never its digest; `key`, the plaintext, only when created or
/// rotated). No `Debug`: it may hold the plaintext.
#[derive(Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// `key_` and 20 letters or digits.
    pub id: String,
    pub account: String,
    pub name: String,
    pub environment: String,
    /// The grants, as given (deduplicated).
    pub scopes: Vec<String>,
    /// The key's first characters, to recognise it by (`cs_live_AbCd`).
    pub start: String,
    pub status: Status,
    /// Grants the loaded catalog no longer defines: they grant nothing.
    pub stale_scopes: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Millis,
    pub created_by: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Millis>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    /// The key that replaced this one by rotation.
    pub rotated_to: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Millis>,
    /// The plaintext key: only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub key: Option<String>,
    /// The key this one replaced: only in the answer of a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub rotated_from: Option<String>,
    /// When the replaced key stops working: only in the answer of a
    /// rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = Option<String>, format = DateTime)]
    pub old_key_expires_at: Option<Millis>,
    /// Usage totals: only in `GET /v1/keys/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub usage: Option<UsageTotals>,
}

/// A key's usage totals, as `GET /v1/keys/{id}` shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageTotals {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Millis>,
    pub windows: Windows,
}

impl KeyView {
    /// The view of `record` at `now`, with the grants the catalog no longer
    /// defines.
    pub fn new(record: &KeyRecord, stale_scopes: Vec<String>, now: Millis) -> KeyView {
        KeyView {
            id: record.id.clone(),
            account: record.account.clone(),
            name: record.name.clone(),
            environment: record.environment.clone(),
            scopes: record.scopes.clone(),
            start: record.start.clone(),
            status: record.status(now),
            stale_scopes,
            metadata: record.metadata.clone(),
            created_at: record.created_at,
            created_by: record.created_by.clone(),
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            revoked_by: record.revoked_by.clone(),
            revoke_reason: record.revoke_reason.clone(),
            rotated_to: record.rotated_to.clone(),
            last_used_at: record.last_used_at,
            key: None,
            rotated_from: None,
            old_key_expires_at: None,
            usage: None,
        }
    }
}
