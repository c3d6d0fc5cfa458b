//! The key lifecycle (docs/KEYS.md): create, update, revoke,
//! rotate, list and the audit trail, each within the caller's
//! [`AccountScope`]. Inputs arrive parsed (`fields.rs`, `account.rs`,
//! `paging.rs`); the rules of a key's life are decided here, on the key as
//! the store holds it locked; every change appends an audit event in the
//! same transaction and is told to the verification cache.
//!
//! Never sees a plaintext except to create one: secrets leave as
//! [`KeySecret`], which cannot be logged.

use std::sync::Arc;

use crate::catalog::{CatalogVersion, LiveCatalog};
use serde_json::{json, Value};

use super::audit::{audit_view, event, key_event, new_id};
use super::error::{invalid, KeyError};
use super::fields::{Grace, KeyId, RevokeReason};
use super::format::{self, KeyHash, KeySecret};
use super::management::ManagementLookups;
use super::record::{AuditEvent, KeyRecord, ManagementKeyRecord, StatusFilter};
use super::requests::{NewKey, RotateOptions, Update};
use super::rules::{check_expiry, rotatable, updatable, within_grace_limit};
use super::{AccountId, AccountScope, Cursor, KeyChangeListener, KeyView, Limit, Page};
use crate::store::{NewKeyRow, Rotation, Store, StoreError};
use crate::time::Millis;

#[derive(Clone)]
pub struct KeyService {
    store: Store,
    catalog: Arc<LiveCatalog>,
    listener: Option<Arc<dyn KeyChangeListener>>,
    management: ManagementLookups,
    /// The longest rotation grace granted (`max_rotation_grace`).
    max_grace: Grace,
}

impl KeyService {
    pub fn new(store: Store, catalog: Arc<LiveCatalog>) -> KeyService {
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

    /// The longest rotation grace this service grants.
    pub fn max_rotation_grace(&self) -> Grace {
        self.max_grace
    }

    /// The catalog version served now.
    pub fn catalog(&self) -> Arc<CatalogVersion> {
        self.catalog.current()
    }

    /// The view of a key as shown (status at `now`, stale grants).
    pub fn view(&self, k: &KeyRecord) -> KeyView {
        let stale = self.stale_scopes(k).into_iter().map(str::to_owned).collect();
        KeyView::new(k, stale, Millis::now())
    }

    /// The grants of a stored key that the loaded catalog no longer defines.
    pub fn stale_scopes<'k>(&self, key: &'k KeyRecord) -> Vec<&'k str> {
        let compiled = self.catalog().compile_grants(&key.scopes);
        compiled
            .stale()
            .iter()
            .filter_map(|&i| key.scopes.get(i).map(String::as_str))
            .collect()
    }

    /// The environment a new key gets: one the catalog lists, by default
    /// its first.
    fn environment(&self, asked: Option<String>) -> Result<String, KeyError> {
        let catalog = self.catalog();
        let environments = &catalog.api().environments;
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
        let secret = format::generate(&self.catalog().api().key_prefix, &environment).map_err(StoreError::from)?;
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

    /// Accounts that have keys, within `scope`, by name; those containing
    /// `search` if given (the dashboard's account picker).
    pub async fn accounts(
        &self,
        scope: &AccountScope,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::store::AccountRow>, KeyError> {
        let search = scope.confined_to().map(AccountId::as_str).or(search);
        let rows = self.store.list_accounts(search, limit).await?;
        Ok(rows.into_iter().filter(|row| scope.reaches(&row.account)).collect())
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
            .update_key(id.as_str(), scope, |before| -> Result<_, KeyError> {
                updatable(before, now)?;
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
        within_grace_limit(options.grace, self.max_grace)?;
        let now = Millis::now();
        if let Some(at) = options.expires_at {
            check_expiry(at, now)?;
        }
        let new_id = new_id("key")?;
        let rotated_event = event(actor, "key.rotated")?;
        let created_event = event(actor, "key.created")?;
        let prefix = self.catalog().api().key_prefix.clone();
        let mut secret_slot: Option<KeySecret> = None;
        let result = self
            .store
            .rotate_key(id.as_str(), scope, |old| -> Result<_, KeyError> {
                rotatable(old, now)?;
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
