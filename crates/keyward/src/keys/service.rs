//! The key lifecycle (DESIGN.md sections 3 and 8): create, update, revoke,
//! rotate, list and the audit trail, each within the caller's
//! [`AccountScope`]. Inputs arrive parsed (`fields.rs`, `account.rs`,
//! `paging.rs`); the rules of a key's life are decided here, on the key as
//! the store holds it locked; every change appends an audit event in the
//! same transaction and is told to the verification cache.
//!
//! Never sees a plaintext except to create one: secrets leave as
//! [`KeySecret`], which cannot be logged.

use std::sync::Arc;

use keyward_scopes::Catalog;
use serde_json::{json, Value};

use super::audit::{audit_view, event, key_event, new_id};
use super::error::{invalid, KeyError};
use super::fields::{Grace, KeyId, KeyName, Metadata, RevokeReason, Scopes};
use super::format::{self, KeyHash, KeySecret};
use super::management::ManagementLookups;
use super::record::{AuditEvent, KeyRecord, ManagementKeyRecord, Status, StatusFilter};
use super::{AccountId, AccountScope, Cursor, KeyView, Limit, Page};
use crate::store::{NewKeyRow, Rotation, Store, StoreError};
use crate::time::Millis;

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub account: AccountId,
    pub name: KeyName,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
    /// Default: the catalog's first environment.
    pub environment: Option<String>,
    pub metadata: Metadata,
}

impl NewKey {
    /// A key of `account` named `name` with these grants, parsed; no
    /// expiry, the default environment, no metadata.
    pub fn parse(account: &str, name: &str, scopes: &[&str], catalog: &Catalog) -> Result<NewKey, KeyError> {
        Ok(NewKey {
            account: AccountId::parse(account)?,
            name: KeyName::parse(name)?,
            scopes: Scopes::parse(scopes.iter().map(|s| (*s).to_owned()).collect(), catalog)?,
            expires_at: None,
            environment: None,
            metadata: Metadata::default(),
        })
    }
}

/// A PATCH: each `Some` field is changed; at least one must be.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub name: Option<KeyName>,
    pub scopes: Option<Scopes>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Millis>>,
}

#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// How long the old key keeps working; default 0 (it expires at once).
    pub grace: Grace,
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
    /// The longest rotation grace granted (`max_rotation_grace`).
    max_grace: Grace,
}

/// The lifecycle's one rule for changes: revoked and expired keys cannot
/// be changed (revocation is permanent; an expired key is renewed by
/// creating another).
fn changeable(key: &KeyRecord, now: Millis) -> Result<(), KeyError> {
    match key.status(now) {
        Status::Revoked => Err(KeyError::Conflict(format!(
            "key `{}` is revoked; revoked keys cannot be changed",
            key.id
        ))),
        Status::Expired => Err(KeyError::Conflict(format!(
            "key `{}` has expired; expired keys cannot be changed",
            key.id
        ))),
        Status::Active => Ok(()),
    }
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

impl KeyService {
    pub fn new(store: Store, catalog: Arc<Catalog>) -> KeyService {
        KeyService {
            store,
            catalog,
            listener: None,
            management: ManagementLookups::new(),
            max_grace: Grace::longest(),
        }
    }

    /// A service granting rotation graces of at most `max` (a server's
    /// `max_rotation_grace`).
    pub fn with_max_rotation_grace(mut self, max: Grace) -> KeyService {
        self.max_grace = max;
        self
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

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The view of a key as shown (status at `now`, stale grants).
    pub fn view(&self, k: &KeyRecord) -> KeyView {
        let stale = self.stale_scopes(k).into_iter().map(str::to_owned).collect();
        KeyView::new(k, stale, Millis::now())
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

    /// The environment a new key gets: one the catalog lists, by default
    /// its first.
    fn environment(&self, asked: Option<String>) -> Result<String, KeyError> {
        let environments = &self.catalog.api().environments;
        match asked {
            Some(e) if environments.contains(&e) => Ok(e),
            Some(e) => Err(invalid(
                "environment",
                format!("`{e}` is not one of {}", environments.join(", ")),
            )),
            None => Ok(environments.first().cloned().unwrap_or_else(|| "live".to_owned())),
        }
    }

    /// Creates a key in an account within `scope` (else the caller is
    /// refused: [`KeyError::OutOfScope`]).
    pub async fn create(
        &self,
        new: NewKey,
        actor: &str,
        scope: &AccountScope,
    ) -> Result<(KeyRecord, KeySecret), KeyError> {
        if !scope.reaches(new.account.as_str()) {
            return Err(KeyError::OutOfScope(new.account.to_string()));
        }
        let now = Millis::now();
        if let Some(at) = new.expires_at {
            check_expiry(at, now)?;
        }
        let environment = self.environment(new.environment)?;
        let metadata = new.metadata.into_map();
        let secret = format::generate(&self.catalog.api().key_prefix, &environment).map_err(StoreError::from)?;
        let id = new_id("key")?;
        let row = NewKeyRow {
            id: &id,
            account: new.account.as_str(),
            name: new.name.as_str(),
            environment: &environment,
            scopes: new.scopes.as_slice(),
            hash: &secret.hash(),
            start: &secret.start(),
            metadata: &metadata,
            created_at: now,
            created_by: actor,
            expires_at: new.expires_at,
        };
        let after = json!({
            "name": new.name.as_str(), "scopes": new.scopes.as_slice(), "environment": environment,
            "expires_at": new.expires_at.map(Millis::to_rfc3339),
        });
        let audit = key_event(
            event(actor, "key.created")?,
            &id,
            new.account.as_str(),
            None,
            Some(after),
        );
        let inserted = self.store.insert_key(&row, &audit).await;
        self.written(&inserted, |record| vec![record.hash]);
        let record = inserted?;
        tracing::info!(key_id = %record.id, account = %record.account, start = %record.start, actor, "key created");
        Ok((record, secret))
    }

    pub async fn get(&self, id: &KeyId, scope: &AccountScope) -> Result<KeyRecord, KeyError> {
        self.store
            .get_key(id.as_str(), scope)
            .await?
            .ok_or_else(|| KeyError::NotFound(id.to_string()))
    }

    /// Keys newest first, of `account` if given; an account out of `scope`
    /// has none.
    pub async fn list(
        &self,
        scope: &AccountScope,
        account: Option<&AccountId>,
        status: StatusFilter,
        limit: Limit,
        cursor: Option<Cursor>,
    ) -> Result<Page<KeyRecord>, KeyError> {
        let Some(scope) = scope.narrowed_to(account) else {
            return Ok(Page::empty());
        };
        Ok(self
            .store
            .list_keys(&scope, status, limit, cursor, Millis::now())
            .await?)
    }

    /// Renames, changes grants or expiry of an active key. Only grants being
    /// set are validated, so a key holding a stale grant can be renamed.
    pub async fn update(
        &self,
        id: &KeyId,
        update: Update,
        actor: &str,
        scope: &AccountScope,
    ) -> Result<KeyRecord, KeyError> {
        if update.name.is_none() && update.scopes.is_none() && update.expires_at.is_none() {
            return Err(invalid(
                "body",
                "names nothing to change: give name, scopes or expires_at",
            ));
        }
        let now = Millis::now();
        if let Some(Some(at)) = update.expires_at {
            check_expiry(at, now)?;
        }
        let template = event(actor, "key.updated")?;
        let result = self
            .store
            .update_key(id.as_str(), scope, |before| {
                changeable(before, now)?;
                if let Some(to) = &before.rotated_to {
                    // Its life ends with its grace: a change (a later
                    // expiry, say) would keep a replaced key alive.
                    return Err(KeyError::Conflict(format!(
                        "key `{}` was rotated to `{to}`; change its replacement instead",
                        before.id
                    )));
                }
                let mut after = before.clone();
                if let Some(name) = &update.name {
                    after.name = name.as_str().to_owned();
                }
                if let Some(scopes) = &update.scopes {
                    after.scopes = scopes.as_slice().to_vec();
                }
                if let Some(expires_at) = update.expires_at {
                    after.expires_at = expires_at;
                }
                let audit = key_event(
                    template,
                    &after.id,
                    &after.account,
                    Some(audit_view(before)),
                    Some(audit_view(&after)),
                );
                Ok((after, audit))
            })
            .await;
        self.written(&result, |r| match r {
            Some(Ok(after)) => vec![after.hash],
            _ => Vec::new(),
        });
        result?.ok_or_else(|| KeyError::NotFound(id.to_string()))?
    }

    /// Permanent; revoking a revoked key returns it unchanged and records
    /// nothing.
    pub async fn revoke(
        &self,
        id: &KeyId,
        reason: Option<RevokeReason>,
        actor: &str,
        scope: &AccountScope,
    ) -> Result<KeyRecord, KeyError> {
        let now = Millis::now();
        let template = event(actor, "key.revoked")?;
        let reason = reason.as_ref().map(RevokeReason::as_str);
        let revoked = self
            .store
            .revoke_key(id.as_str(), scope, |before| {
                if before.revoked_at.is_some() {
                    return None;
                }
                let mut after = before.clone();
                after.revoked_at = Some(now);
                after.revoked_by = Some(actor.to_owned());
                after.revoke_reason = reason.map(str::to_owned);
                let mut shown = audit_view(&after);
                shown["revoke_reason"] = json!(reason);
                let audit = key_event(
                    template,
                    &before.id,
                    &before.account,
                    Some(audit_view(before)),
                    Some(shown),
                );
                Some((after, audit))
            })
            .await;
        self.written(&revoked, |r| r.iter().map(|k| k.hash).collect());
        let revoked = revoked?.ok_or_else(|| KeyError::NotFound(id.to_string()))?;
        tracing::info!(key_id = %revoked.id, account = %revoked.account, actor, "key revoked");
        Ok(revoked)
    }

    /// A new key with the same name, account, grants and metadata; the old
    /// key expires after the grace period (never later than it would have).
    pub async fn rotate(
        &self,
        id: &KeyId,
        options: RotateOptions,
        actor: &str,
        scope: &AccountScope,
    ) -> Result<(KeyRecord, KeyRecord, KeySecret), KeyError> {
        if options.grace.as_seconds() > self.max_grace.as_seconds() {
            return Err(invalid(
                "grace_period",
                format!(
                    "{} seconds is more than this server's limit of {} seconds (max_rotation_grace)",
                    options.grace.as_seconds(),
                    self.max_grace.as_seconds()
                ),
            ));
        }
        let now = Millis::now();
        if let Some(at) = options.expires_at {
            check_expiry(at, now)?;
        }
        let new_id = new_id("key")?;
        let rotated_event = event(actor, "key.rotated")?;
        let created_event = event(actor, "key.created")?;
        let prefix = self.catalog.api().key_prefix.clone();
        let mut secret_slot: Option<KeySecret> = None;
        let result = self
            .store
            .rotate_key(id.as_str(), scope, |old| {
                changeable(old, now)?;
                if old.rotated_to.is_some() {
                    return Err(KeyError::Conflict(format!(
                        "key `{}` was already rotated; rotate its replacement instead",
                        old.id
                    )));
                }
                let secret = format::generate(&prefix, &old.environment).map_err(StoreError::from)?;
                let grace_end = now.plus_seconds(options.grace.as_seconds());
                let old_expires_at = old.expires_at.map_or(grace_end, |e| e.min(grace_end));
                let rotation = Rotation {
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
                let mut old_after = old.clone();
                old_after.expires_at = Some(old_expires_at);
                old_after.rotated_to = Some(new_id.clone());
                let mut created: Value = audit_view(old);
                created["rotated_from"] = json!(old.id);
                created["rotated_to"] = Value::Null;
                let events = vec![
                    key_event(
                        rotated_event,
                        &old.id,
                        &old.account,
                        Some(audit_view(old)),
                        Some(audit_view(&old_after)),
                    ),
                    key_event(created_event, &new_id, &old.account, None, Some(created)),
                ];
                Ok((rotation, events))
            })
            .await;
        self.written(&result, |r| match r {
            Some(Ok((old, new))) => vec![old.hash, new.hash],
            _ => Vec::new(),
        });
        let (old, new) = result?.ok_or_else(|| KeyError::NotFound(id.to_string()))??;
        let secret = secret_slot.ok_or_else(|| StoreError::Corrupt("rotation produced no key".to_owned()))?;
        tracing::info!(key_id = %old.id, new_key_id = %new.id, start = %new.start, actor, "key rotated");
        Ok((old, new, secret))
    }

    /// Audit events newest first, of `account` and/or one key if given;
    /// an account out of `scope` has none.
    pub async fn audit(
        &self,
        scope: &AccountScope,
        account: Option<&AccountId>,
        key_id: Option<&KeyId>,
        limit: Limit,
        cursor: Option<Cursor>,
    ) -> Result<Page<AuditEvent>, KeyError> {
        let Some(scope) = scope.narrowed_to(account) else {
            return Ok(Page::empty());
        };
        Ok(self
            .store
            .list_audit(&scope, key_id.map(KeyId::as_str), limit, cursor)
            .await?)
    }

    /// The live management key this plaintext belongs to, if any.
    pub async fn authenticate_management(&self, presented: &str) -> Result<Option<ManagementKeyRecord>, KeyError> {
        self.management.authenticate(&self.store, presented).await
    }
}
