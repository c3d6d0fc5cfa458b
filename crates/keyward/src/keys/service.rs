//! The key lifecycle (DESIGN.md sections 3 and 8). Every input is validated
//! here, against the loaded catalog, before the store sees it; every change
//! appends an audit event in the same transaction.
//!
//! Never sees a plaintext except to create one: secrets leave as
//! [`KeySecret`], which cannot be logged.

use std::sync::Arc;

use keyward_scopes::Catalog;
use serde_json::{json, Map, Value};

use super::format::{self, KeyHash, KeySecret};
use super::record::{AuditEvent, KeyRecord, ManagementKeyRecord, Page, StatusFilter};
use crate::store::{KeyChanges, NewKeyRow, NewManagementKey, Refusal, RotationRowsOwned, Store, StoreError};
use crate::time::Millis;

pub const NAME_MAX_CHARS: usize = 100;
pub const METADATA_MAX_BYTES: usize = 4096;
pub const LIST_LIMIT_MAX: u32 = 1000;
pub const LIST_LIMIT_DEFAULT: u32 = 100;
/// The longest rotation grace (DESIGN.md section 8): 30 days.
pub const ROTATION_GRACE_MAX_SECONDS: i64 = 30 * 86_400;
/// Different grants a key may hold.
pub const GRANTS_MAX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Bad input: names the field and the value.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("no key `{0}`")]
    NotFound(String),
    /// The change is not allowed in the key's state (revoked, expired,
    /// already rotated).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        field,
        message: message.into(),
    }
}

/// A key to create.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub account: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<Millis>,
    pub environment: Option<String>,
    pub metadata: Option<Value>,
}

/// A PATCH: each `Some` field is changed.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Millis>>,
}

#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// Seconds the old key keeps working; default 0 (it expires at once).
    pub grace_period: Option<i64>,
    /// The new key's expiry; default: the old key's.
    pub expires_at: Option<Millis>,
}

/// Told of every key change the service wrote, right after the write:
/// how the verification cache of this node forgets a changed key before the
/// change's answer leaves (DESIGN.md section 7). Other nodes learn it from
/// the change feed.
pub trait KeyChangeListener: Send + Sync {
    /// The key with this digest changed (created, updated, revoked,
    /// rotated).
    fn key_changed(&self, hash: &KeyHash);
    /// A write failed after it may have committed: which key changed is
    /// unknown, so everything must be forgotten.
    fn changes_unknown(&self);
}

#[derive(Clone)]
pub struct KeyService {
    store: Store,
    catalog: Arc<Catalog>,
    listener: Option<Arc<dyn KeyChangeListener>>,
    management: ManagementLookups,
}

/// Management-key lookups are bounded and unknown digests cached briefly,
/// so a flood of well-formed made-up `kwm_` keys (the checksum is public)
/// cannot take the store's connections from verification (DESIGN.md
/// section 9).
#[derive(Clone)]
struct ManagementLookups {
    permits: Arc<tokio::sync::Semaphore>,
    unknown: moka::sync::Cache<KeyHash, ()>,
}

const MANAGEMENT_LOOKUPS: usize = 4;
const MANAGEMENT_LOOKUP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl ManagementLookups {
    fn new() -> ManagementLookups {
        ManagementLookups {
            permits: Arc::new(tokio::sync::Semaphore::new(MANAGEMENT_LOOKUPS)),
            unknown: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(5))
                .build(),
        }
    }
}

fn check_name(name: &str) -> Result<String, KeyError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(invalid("name", "must not be empty"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(invalid(
            "name",
            format!("is {chars} characters long; the limit is {NAME_MAX_CHARS}"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// DESIGN.md section 8: 1-128 characters of `A-Z a-z 0-9 . _ : @ + -`,
/// starting with a letter or digit. So an account always fits in a header
/// (`X-Keyward-Account`) and never looks like another.
pub const ACCOUNT_MAX_CHARS: usize = 128;

fn check_account(account: &str) -> Result<(), KeyError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '+' | '-');
    let starts_well = account.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if account.is_empty() || account.len() > ACCOUNT_MAX_CHARS || !starts_well || !account.chars().all(valid_char) {
        return Err(invalid(
            "account",
            format!(
                "`{}` must be 1-{ACCOUNT_MAX_CHARS} characters of A-Z a-z 0-9 . _ : @ + -, starting with a letter or digit",
                account.escape_debug()
            ),
        ));
    }
    Ok(())
}

fn check_expiry(expires_at: Millis, now: Millis) -> Result<(), KeyError> {
    if expires_at <= now {
        return Err(invalid(
            "expires_at",
            format!("`{}` is not in the future", expires_at.to_rfc3339()),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: Option<Value>) -> Result<Map<String, Value>, KeyError> {
    match metadata {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => {
            let size = Value::Object(map.clone()).to_string().len();
            if size > METADATA_MAX_BYTES {
                return Err(invalid(
                    "metadata",
                    format!("is {size} bytes as JSON; the limit is {METADATA_MAX_BYTES}"),
                ));
            }
            Ok(map)
        }
        Some(other) => Err(invalid("metadata", format!("must be a JSON object, not `{other}`"))),
    }
}

fn refusal(id: &str, r: Refusal) -> KeyError {
    match r {
        Refusal::NotFound => KeyError::NotFound(id.to_owned()),
        Refusal::Revoked => KeyError::Conflict(format!("key `{id}` is revoked; revoked keys cannot be changed")),
        Refusal::Expired => KeyError::Conflict(format!("key `{id}` has expired; expired keys cannot be changed")),
        Refusal::AlreadyRotated => KeyError::Conflict(format!(
            "key `{id}` was already rotated; rotate its replacement instead"
        )),
    }
}

/// The parts of a record an audit event shows (never a digest or secret).
fn audit_view(k: &KeyRecord) -> Value {
    json!({
        "name": k.name,
        "scopes": k.scopes,
        "expires_at": k.expires_at.map(Millis::to_rfc3339),
        "revoked_at": k.revoked_at.map(Millis::to_rfc3339),
        "rotated_to": k.rotated_to,
    })
}

pub fn new_id(prefix: &str) -> Result<String, StoreError> {
    let mut id = format!("{prefix}_");
    format::random_base62(&mut id, 20)?;
    Ok(id)
}

fn event(
    actor: &str,
    action: &str,
    key: Option<&KeyRecord>,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: new_id("evt")?,
        at: Millis::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        account: key.map(|k| k.account.clone()),
        key_id: key.map(|k| k.id.clone()),
        before,
        after,
    })
}

impl KeyService {
    pub fn new(store: Store, catalog: Arc<Catalog>) -> KeyService {
        KeyService {
            store,
            catalog,
            listener: None,
            management: ManagementLookups::new(),
        }
    }

    /// A service that tells `listener` of every change it writes (a server
    /// passes its verifier).
    pub fn with_listener(mut self, listener: Arc<dyn KeyChangeListener>) -> KeyService {
        self.listener = Some(listener);
        self
    }

    /// After a write: the keys it changed, or, if it failed (perhaps after
    /// committing), that anything may have changed.
    fn written<T>(&self, result: &Result<T, StoreError>, changed: impl FnOnce(&T) -> Vec<KeyHash>) {
        let Some(listener) = &self.listener else { return };
        match result {
            Ok(value) => {
                for hash in changed(value) {
                    listener.key_changed(&hash);
                }
            }
            Err(_) => listener.changes_unknown(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The grants to store: valid against the catalog, deduplicated (order
    /// kept) and at most [`GRANTS_MAX`] (DESIGN.md section 8).
    fn check_scopes(&self, scopes: Vec<String>) -> Result<Vec<String>, KeyError> {
        let mut unique: Vec<String> = Vec::with_capacity(scopes.len().min(GRANTS_MAX));
        for scope in scopes {
            if !unique.contains(&scope) {
                if unique.len() == GRANTS_MAX {
                    return Err(invalid(
                        "scopes",
                        format!("a key holds at most {GRANTS_MAX} different grants; use a bundle or a wildcard"),
                    ));
                }
                unique.push(scope);
            }
        }
        self.catalog.check_grants(&unique).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            invalid("scopes", messages.join("; "))
        })?;
        Ok(unique)
    }

    /// The JSON view of a key: its record, derived status and stale grants
    /// (never its digest or secret).
    pub fn view(&self, k: &KeyRecord) -> Value {
        let mut v = serde_json::to_value(k).unwrap_or_default();
        v["status"] = json!(k.status(Millis::now()).as_str());
        v["stale_scopes"] = json!(self.stale_scopes(k));
        v
    }

    /// The grants of a stored key that the loaded catalog no longer defines.
    pub fn stale_scopes<'k>(&self, key: &'k KeyRecord) -> Vec<&'k str> {
        let compiled = self.catalog.compile_grants(&key.scopes);
        compiled
            .stale()
            .iter()
            .filter_map(|&i| key.scopes.get(i).map(String::as_str))
            .collect()
    }

    pub async fn create(&self, new: NewKey, actor: &str) -> Result<(KeyRecord, KeySecret), KeyError> {
        let now = Millis::now();
        check_account(&new.account)?;
        let name = check_name(&new.name)?;
        let scopes = self.check_scopes(new.scopes)?;
        if let Some(at) = new.expires_at {
            check_expiry(at, now)?;
        }
        let api = self.catalog.api();
        let environment = match new.environment {
            Some(e) if api.environments.contains(&e) => e,
            Some(e) => {
                return Err(invalid(
                    "environment",
                    format!("`{e}` is not one of {}", api.environments.join(", ")),
                ))
            }
            None => api.environments.first().cloned().unwrap_or_else(|| "live".to_owned()),
        };
        let metadata = check_metadata(new.metadata)?;
        let secret = format::generate(&api.key_prefix, &environment).map_err(StoreError::from)?;
        let id = new_id("key")?;
        let row = NewKeyRow {
            id: &id,
            account: &new.account,
            name: &name,
            environment: &environment,
            scopes: &scopes,
            hash: &secret.hash(),
            start: &secret.start(),
            metadata: &metadata,
            created_at: now,
            created_by: actor,
            expires_at: new.expires_at,
        };
        let mut audit = event(actor, "key.created", None, None, None)?;
        audit.account = Some(new.account.clone());
        audit.key_id = Some(id.clone());
        audit.after = Some(json!({
            "name": name, "scopes": scopes, "environment": environment,
            "expires_at": new.expires_at.map(Millis::to_rfc3339),
        }));
        let inserted = self.store.insert_key(&row, &audit).await;
        self.written(&inserted, |record| vec![record.hash]);
        let record = inserted?;
        tracing::info!(key_id = %record.id, account = %record.account, start = %record.start, actor, "key created");
        Ok((record, secret))
    }

    pub async fn get(&self, id: &str, account_limit: Option<&str>) -> Result<KeyRecord, KeyError> {
        self.store
            .get_key(id, account_limit)
            .await?
            .ok_or_else(|| KeyError::NotFound(id.to_owned()))
    }

    pub async fn list(
        &self,
        account: Option<&str>,
        status: StatusFilter,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<KeyRecord>, KeyError> {
        let limit = limit.unwrap_or(LIST_LIMIT_DEFAULT);
        if limit == 0 || limit > LIST_LIMIT_MAX {
            return Err(invalid(
                "limit",
                format!("{limit} must be between 1 and {LIST_LIMIT_MAX}"),
            ));
        }
        let cursor = match cursor {
            None => None,
            Some(c) => Some(
                crate::store::decode_cursor(c)
                    .ok_or_else(|| invalid("cursor", format!("`{c}` is not a cursor keyward gave")))?,
            ),
        };
        Ok(self
            .store
            .list_keys(account, status, limit, cursor, Millis::now())
            .await?)
    }

    /// Renames, changes grants or expiry of an active key. Only grants being
    /// set are validated, so a key holding a stale grant can be renamed.
    pub async fn update(
        &self,
        id: &str,
        update: Update,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let now = Millis::now();
        let changes = KeyChanges {
            name: update.name.as_deref().map(check_name).transpose()?,
            scopes: match update.scopes {
                Some(scopes) => Some(self.check_scopes(scopes)?),
                None => None,
            },
            expires_at: match update.expires_at {
                Some(Some(at)) => {
                    check_expiry(at, now)?;
                    Some(Some(at))
                }
                other => other,
            },
        };
        let audit_event = event(actor, "key.updated", None, None, None)?;
        let result = self
            .store
            .update_key(id, account_limit, now, &changes, |before, after| AuditEvent {
                account: Some(after.account.clone()),
                key_id: Some(after.id.clone()),
                before: Some(audit_view(before)),
                after: Some(audit_view(after)),
                ..audit_event
            })
            .await;
        self.written(&result, |r| r.iter().map(|after| after.hash).collect());
        result?.map_err(|r| refusal(id, r))
    }

    /// Permanent; revoking a revoked key returns it unchanged.
    pub async fn revoke(
        &self,
        id: &str,
        reason: Option<&str>,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        if let Some(r) = reason {
            if r.chars().count() > 500 {
                return Err(invalid("reason", "is longer than 500 characters"));
            }
        }
        let now = Millis::now();
        let audit_event = event(actor, "key.revoked", None, None, None)?;
        let revoked = self
            .store
            .revoke_key(id, account_limit, now, actor, reason, |before| {
                let mut after = audit_view(before);
                after["revoked_at"] = json!(now.to_rfc3339());
                after["revoke_reason"] = json!(reason);
                AuditEvent {
                    account: Some(before.account.clone()),
                    key_id: Some(before.id.clone()),
                    before: Some(audit_view(before)),
                    after: Some(after),
                    ..audit_event
                }
            })
            .await;
        self.written(&revoked, |r| r.iter().map(|k| k.hash).collect());
        let revoked = revoked?.ok_or_else(|| KeyError::NotFound(id.to_owned()))?;
        tracing::info!(key_id = %revoked.id, account = %revoked.account, actor, "key revoked");
        Ok(revoked)
    }

    /// A new key with the same name, account, grants and metadata; the old
    /// key expires after the grace period (never later than it would have).
    pub async fn rotate(
        &self,
        id: &str,
        options: RotateOptions,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<(KeyRecord, KeyRecord, KeySecret), KeyError> {
        let now = Millis::now();
        let grace = options.grace_period.unwrap_or(0);
        if grace < 0 {
            return Err(invalid("grace_period", format!("{grace} must not be negative")));
        }
        if grace > ROTATION_GRACE_MAX_SECONDS {
            return Err(invalid(
                "grace_period",
                format!("{grace} seconds is more than the limit of 30 days ({ROTATION_GRACE_MAX_SECONDS} seconds)"),
            ));
        }
        if let Some(at) = options.expires_at {
            check_expiry(at, now)?;
        }
        let new_id = new_id("key")?;
        let rotated_event = event(actor, "key.rotated", None, None, None)?;
        let created_event = event(actor, "key.created", None, None, None)?;
        let prefix = self.catalog.api().key_prefix.clone();
        let mut secret_slot: Option<KeySecret> = None;
        let result = self
            .store
            .rotate_key(
                id,
                account_limit,
                now,
                |old| {
                    let secret = format::generate(&prefix, &old.environment)?;
                    let grace_end = now.plus_seconds(grace);
                    let old_expires_at = old.expires_at.map_or(grace_end, |e| e.min(grace_end));
                    let rows = RotationRowsOwned {
                        id: new_id.clone(),
                        account: old.account.clone(),
                        name: old.name.clone(),
                        environment: old.environment.clone(),
                        scopes: old.scopes.clone(),
                        hash: secret.hash(),
                        start: secret.start(),
                        metadata: old.metadata.clone(),
                        created_at: now,
                        created_by: actor.to_owned(),
                        expires_at: options.expires_at.or(old.expires_at),
                        old_expires_at,
                    };
                    secret_slot = Some(secret);
                    Ok(rows)
                },
                |old_before, old_after| {
                    let mut created_after = audit_view(old_before);
                    created_after["rotated_from"] = json!(old_before.id);
                    created_after["rotated_to"] = Value::Null;
                    vec![
                        AuditEvent {
                            account: Some(old_before.account.clone()),
                            key_id: Some(old_before.id.clone()),
                            before: Some(audit_view(old_before)),
                            after: Some(audit_view(old_after)),
                            ..rotated_event
                        },
                        AuditEvent {
                            account: Some(old_before.account.clone()),
                            key_id: Some(new_id.clone()),
                            before: None,
                            after: Some(created_after),
                            ..created_event
                        },
                    ]
                },
            )
            .await;
        self.written(&result, |r| {
            r.iter().flat_map(|(old, new)| [old.hash, new.hash]).collect()
        });
        let (old, new) = result?.map_err(|r| refusal(id, r))?;
        let secret = secret_slot.ok_or_else(|| StoreError::Corrupt("rotation produced no key".to_owned()))?;
        tracing::info!(key_id = %old.id, new_key_id = %new.id, start = %new.start, actor, "key rotated");
        Ok((old, new, secret))
    }

    pub async fn audit(
        &self,
        account: Option<&str>,
        key_id: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEvent>, KeyError> {
        let limit = limit.unwrap_or(LIST_LIMIT_DEFAULT);
        if limit == 0 || limit > LIST_LIMIT_MAX {
            return Err(invalid(
                "limit",
                format!("{limit} must be between 1 and {LIST_LIMIT_MAX}"),
            ));
        }
        Ok(self.store.list_audit(account, key_id, limit, cursor).await?)
    }

    // ---- management keys ----

    pub async fn create_management_key(
        &self,
        name: &str,
        account: Option<&str>,
        actor: &str,
    ) -> Result<(ManagementKeyRecord, KeySecret), KeyError> {
        create_management_key(&self.store, name, account, actor).await
    }

    /// The live management key this plaintext belongs to, if any. Customer
    /// keys never match: they are in another table and another format.
    pub async fn authenticate_management(&self, presented: &str) -> Result<Option<ManagementKeyRecord>, KeyError> {
        if format::parse_management(presented).is_err() {
            return Ok(None);
        }
        let hash = format::KeyHash::of(presented);
        if self.management.unknown.contains_key(&hash) {
            return Ok(None);
        }
        let _permit = tokio::time::timeout(MANAGEMENT_LOOKUP_WAIT, self.management.permits.acquire())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Busy)?;
        let found = self.store.find_management_key_by_hash(&hash).await?;
        if found.is_none() {
            self.management.unknown.insert(hash, ());
        }
        Ok(found.filter(|k| k.revoked_at.is_none()))
    }

    pub async fn revoke_management_key(&self, id: &str, actor: &str) -> Result<ManagementKeyRecord, KeyError> {
        revoke_management_key(&self.store, id, actor).await
    }
}

/// Creates a management key (no catalog needed: `keyward admin` and the
/// first start of `serve` use it).
pub async fn create_management_key(
    store: &Store,
    name: &str,
    account: Option<&str>,
    actor: &str,
) -> Result<(ManagementKeyRecord, KeySecret), KeyError> {
    let name = check_name(name)?;
    if let Some(a) = account {
        check_account(a)?;
    }
    let secret = format::generate_management().map_err(StoreError::from)?;
    let id = new_id("mk")?;
    let mut audit = event(actor, "management_key.created", None, None, None)?;
    audit.account = account.map(str::to_owned);
    audit.after = Some(json!({ "management_key": id, "name": name, "account": account }));
    let row = NewManagementKey {
        id: &id,
        name: &name,
        account,
        hash: &secret.hash(),
        start: &secret.start(),
        created_at: Millis::now(),
        created_by: actor,
    };
    let record = store.insert_management_key(&row, &audit).await?;
    tracing::info!(management_key_id = %record.id, start = %record.start, actor, "management key created");
    Ok((record, secret))
}

/// Revokes a management key: permanent and idempotent.
pub async fn revoke_management_key(store: &Store, id: &str, actor: &str) -> Result<ManagementKeyRecord, KeyError> {
    let mut audit = event(actor, "management_key.revoked", None, None, None)?;
    audit.after = Some(json!({ "management_key": id }));
    store
        .revoke_management_key(id, Millis::now(), actor, &audit)
        .await?
        .ok_or_else(|| KeyError::NotFound(id.to_owned()))
}
