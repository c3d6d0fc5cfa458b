//! Management keys (`kwm_...`): who may use the management API, and over
//! which accounts ([`AccountScope::of_management_key`]). Created by
//! `keyward admin` and the first start of `serve`, which need no catalog.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::audit::event;
use super::error::KeyError;
use super::fields::KeyName;
use super::format::{self, KeyHash, KeySecret};
use super::record::ManagementKeyRecord;
use super::AccountId;
use crate::store::{NewManagementKey, Store, StoreError};
use crate::time::Millis;

/// Management-key lookups are bounded and unknown digests cached briefly,
/// so a flood of well-formed made-up `kwm_` keys (the checksum is public)
/// cannot take the store's connections from verification (docs/SECURITY.md).
#[derive(Clone)]
pub struct ManagementLookups {
    permits: Arc<tokio::sync::Semaphore>,
    unknown: moka::sync::Cache<KeyHash, ()>,
    /// Keys whose use was recorded (or tried) within the last minute.
    touched: moka::sync::Cache<String, ()>,
}

const MANAGEMENT_LOOKUPS: usize = 4;
const MANAGEMENT_LOOKUP_WAIT: Duration = Duration::from_secs(2);
/// How finely a management key's `last_used_at` is kept.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl ManagementLookups {
    pub fn new() -> ManagementLookups {
        ManagementLookups {
            permits: Arc::new(tokio::sync::Semaphore::new(MANAGEMENT_LOOKUPS)),
            unknown: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(5))
                .build(),
            touched: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_millis(LAST_USED_RESOLUTION_MS as u64))
                .build(),
        }
    }

    /// The live management key this plaintext belongs to, if any. Customer
    /// keys never match: they are in another table and another format.
    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<Option<ManagementKeyRecord>, KeyError> {
        if format::parse_management(presented).is_err() {
            return Ok(None);
        }
        let hash = KeyHash::of(presented);
        if self.unknown.contains_key(&hash) {
            return Ok(None);
        }
        let _permit = tokio::time::timeout(MANAGEMENT_LOOKUP_WAIT, self.permits.acquire())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Busy)?;
        let found = store.find_management_key_by_hash(&hash).await?;
        drop(_permit);
        if found.is_none() {
            self.unknown.insert(hash, ());
        }
        let live = found.filter(|k| k.revoked_at.is_none());
        if let Some(key) = &live {
            self.record_use(store, key);
        }
        Ok(live)
    }

    /// Moves `last_used_at` at most once a minute per key (a busy operator
    /// does not turn every request into a write), in the background and
    /// briefly: the request never waits for it, a failure is only logged.
    fn record_use(&self, store: &Store, key: &ManagementKeyRecord) {
        let now = Millis::now();
        let recent = key
            .last_used_at
            .is_some_and(|at| now.0 - at.0 < LAST_USED_RESOLUTION_MS);
        if recent || self.touched.contains_key(&key.id) {
            return;
        }
        self.touched.insert(key.id.clone(), ());
        let (store, id) = (store.clone(), key.id.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(2), store.touch_management_key(&id, now)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, management_key_id = %id, "could not record the management key's use")
                }
                Err(_) => tracing::warn!(management_key_id = %id, "recording the management key's use timed out"),
            }
        });
    }
}

impl Default for ManagementLookups {
    fn default() -> Self {
        ManagementLookups::new()
    }
}

/// A management key to create, with the secret it will hold: generated
/// first, so that a caller can put the secret somewhere safe before the
/// key exists (`serve`'s first start writes it to a file, then commits).
pub struct NewManagementKeySecret {
    pub name: KeyName,
    pub account: Option<AccountId>,
    pub secret: KeySecret,
}

impl NewManagementKeySecret {
    pub fn generate(name: KeyName, account: Option<AccountId>) -> Result<NewManagementKeySecret, KeyError> {
        let secret = format::generate_management().map_err(StoreError::from)?;
        Ok(NewManagementKeySecret { name, account, secret })
    }
}

/// Stores a management key whose secret was made with
/// [`NewManagementKeySecret::generate`]; the secret comes back.
pub async fn insert_management_key(
    store: &Store,
    new: NewManagementKeySecret,
    actor: &str,
) -> Result<(ManagementKeyRecord, KeySecret), KeyError> {
    let NewManagementKeySecret { name, account, secret } = new;
    let id = super::audit::new_id("mk")?;
    let account = account.as_ref().map(AccountId::as_str);
    let mut audit = event(actor, "management_key.created")?;
    audit.account = account.map(str::to_owned);
    audit.after = Some(json!({ "management_key": id, "name": name.as_str(), "account": account }));
    let row = NewManagementKey {
        id: &id,
        name: name.as_str(),
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

/// Creates a management key (limited to `account` if given).
pub async fn create_management_key(
    store: &Store,
    name: KeyName,
    account: Option<AccountId>,
    actor: &str,
) -> Result<(ManagementKeyRecord, KeySecret), KeyError> {
    insert_management_key(store, NewManagementKeySecret::generate(name, account)?, actor).await
}

/// Revokes a management key: permanent and idempotent.
pub async fn revoke_management_key(store: &Store, id: &str, actor: &str) -> Result<ManagementKeyRecord, KeyError> {
    let mut audit = event(actor, "management_key.revoked")?;
    audit.after = Some(json!({ "management_key": id }));
    store
        .revoke_management_key(id, Millis::now(), actor, &audit)
        .await?
        .ok_or_else(|| KeyError::NotFound(id.to_owned()))
}
