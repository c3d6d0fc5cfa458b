//! What keyward knows about a key: its record (never its plaintext), its
//! derived status, and the audit events of its life.

use serde::Serialize;

use super::format::KeyHash;
use crate::time::Millis;

/// A key's status: revoked wins over expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }
}

/// Which keys a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Expired,
    Revoked,
    /// Expired or revoked (the pages' "Revoked / Expired"; not a value of
    /// the API's `status`).
    Inactive,
    All,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(StatusFilter::Active),
            "expired" => Ok(StatusFilter::Expired),
            "revoked" => Ok(StatusFilter::Revoked),
            "all" => Ok(StatusFilter::All),
            other => Err(format!("status `{other}` must be one of active, expired, revoked, all")),
        }
    }
}

/// A customer key as stored. There is no way to build one with a cleared
/// revocation from a revoked one: the store only ever sets `revoked_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub account: String,
    pub name: String,
    pub environment: String,
    /// The grants as given.
    pub scopes: Vec<String>,
    pub start: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: Millis,
    pub created_by: String,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    /// The key that replaced this one by rotation.
    pub rotated_to: Option<String>,
    pub last_used_at: Option<Millis>,
    /// The digest the key is found by: how a change names the cache entry
    /// to forget. Never serialized.
    #[serde(skip)]
    pub hash: KeyHash,
}

impl KeyRecord {
    /// The status as people read it in tables and pages: the API's three,
    /// and `in grace` for an active key already replaced by rotation (it
    /// stops at its expiry).
    pub fn status_label(&self, now: Millis) -> &'static str {
        match self.status(now) {
            Status::Active if self.rotated_to.is_some() => "in grace",
            status => status.as_str(),
        }
    }

    /// Revoked wins over expired; a key expires at `expires_at` exactly.
    pub fn status(&self, now: Millis) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Status::Expired
        } else {
            Status::Active
        }
    }
}

/// A management key as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagementKeyRecord {
    pub id: String,
    pub name: String,
    /// The one account this key may act on, if limited.
    pub account: Option<super::AccountId>,
    pub start: String,
    pub created_at: Millis,
    pub created_by: String,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<Millis>,
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Millis,
    /// Who made the change: `management_key:<id>`, `cli:<user>`, ...
    pub actor: String,
    /// `key.created`, `key.updated`, `key.revoked`, `key.rotated`,
    /// `management_key.created`, `management_key.revoked`.
    pub action: String,
    pub account: Option<String>,
    pub key_id: Option<String>,
    /// The key's fields before the change.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The key's fields after the change.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// A record for unit tests of what is shown of a key.
#[cfg(test)]
pub(crate) fn sample(account: &str, scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        id: "key_abc".into(),
        account: account.into(),
        name: "n".into(),
        environment: "live".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        start: "cs_live_Ab3x".into(),
        metadata: serde_json::Map::new(),
        created_at: Millis(0),
        created_by: "t".into(),
        expires_at: None,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
        rotated_to: None,
        last_used_at: None,
        hash: KeyHash::default(),
    }
}
