//! Customer keys in the store.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::keys::record::{AuditEvent, KeyRecord, Page, StatusFilter};
use crate::keys::KeyHash;
use crate::time::Millis;

const KEY_COLUMNS: &str = "seq, id, account, name, environment, scopes, start, metadata, created_at, created_by, \
     expires_at, revoked_at, revoked_by, revoke_reason, rotated_to, last_used_at, hash";

#[derive(FromRow)]
struct KeyRow {
    seq: i64,
    id: String,
    account: String,
    name: String,
    environment: String,
    scopes: String,
    start: String,
    metadata: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    revoke_reason: Option<String>,
    rotated_to: Option<String>,
    last_used_at: Option<i64>,
    hash: Vec<u8>,
}

impl KeyRow {
    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let scopes = serde_json::from_str(&self.scopes)
            .map_err(|e| StoreError::Corrupt(format!("scopes of key {}: {e}", self.id)))?;
        let metadata = serde_json::from_str(&self.metadata)
            .map_err(|e| StoreError::Corrupt(format!("metadata of key {}: {e}", self.id)))?;
        let hash =
            KeyHash::from_bytes(&self.hash).ok_or_else(|| StoreError::Corrupt(format!("digest of key {}", self.id)))?;
        Ok(KeyRecord {
            id: self.id,
            account: self.account,
            name: self.name,
            environment: self.environment,
            scopes,
            start: self.start,
            metadata,
            created_at: Millis(self.created_at),
            created_by: self.created_by,
            expires_at: self.expires_at.map(Millis),
            revoked_at: self.revoked_at.map(Millis),
            revoked_by: self.revoked_by,
            revoke_reason: self.revoke_reason,
            rotated_to: self.rotated_to,
            last_used_at: self.last_used_at.map(Millis),
            hash,
        })
    }
}

/// A key about to be inserted.
pub struct NewKeyRow<'a> {
    pub id: &'a str,
    pub account: &'a str,
    pub name: &'a str,
    pub environment: &'a str,
    pub scopes: &'a [String],
    pub hash: &'a KeyHash,
    pub start: &'a str,
    pub metadata: &'a serde_json::Map<String, serde_json::Value>,
    pub created_at: Millis,
    pub created_by: &'a str,
    pub expires_at: Option<Millis>,
}

/// The changes a PATCH may make. There is deliberately no field for the
/// revocation: only [`Store::revoke_key`] touches it, and only to set it.
#[derive(Debug, Clone, Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<Millis>>,
}

/// Why a change was refused by the store's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Revoked,
    Expired,
    AlreadyRotated,
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

const INSERT_KEY: &str =
    "INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, \
     created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

macro_rules! insert_key {
    ($tx:expr, $k:expr) => {
        sqlx::query(INSERT_KEY)
            .bind($k.id)
            .bind($k.account)
            .bind($k.name)
            .bind($k.environment)
            .bind(json(&$k.scopes))
            .bind($k.hash.as_bytes())
            .bind($k.start)
            .bind(json(&$k.metadata))
            .bind($k.created_at.0)
            .bind($k.created_by)
            .bind($k.expires_at.map(|m| m.0))
            .execute(&mut *$tx)
            .await?
    };
}

/// The status condition of a listing, `$4` being now.
fn status_condition(status: StatusFilter) -> &'static str {
    match status {
        StatusFilter::Active => "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)",
        StatusFilter::Expired => "revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $4",
        StatusFilter::Revoked => "revoked_at IS NOT NULL AND $4 = $4",
        StatusFilter::All => "$4 = $4",
    }
}

/// Page cursors are the `seq` of the last item, opaque to clients.
pub(crate) fn encode_cursor(seq: i64) -> String {
    format!("c{seq}")
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    cursor.strip_prefix('c')?.parse().ok().filter(|s: &i64| *s > 0)
}

impl Store {
    /// A key by id (`$1`), within an account limit (`$2`, or NULL).
    fn key_by_id_sql(&self) -> String {
        sqlite_compatible(
            self,
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = $1 AND ($2::text IS NULL OR account = $2)"),
        )
    }

    pub async fn insert_key(&self, key: &NewKeyRow<'_>, event: &AuditEvent) -> Result<KeyRecord, StoreError> {
        write_tx!(self, tx, _lock => {
            insert_key!(tx, key);
            super::audit::insert_event!(self, tx, event);
        });
        self.get_key(key.id, None)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("key {} vanished", key.id)))
    }

    /// One key; `None` if it does not exist or belongs to another account
    /// than `account_limit`.
    pub async fn get_key(&self, id: &str, account_limit: Option<&str>) -> Result<Option<KeyRecord>, StoreError> {
        let sql = self.key_by_id_sql();
        let row: Option<KeyRow> =
            on_backend!(self, pool => sqlx::query_as(&sql).bind(id).bind(account_limit).fetch_optional(pool).await?);
        row.map(KeyRow::into_record).transpose()
    }

    /// The key with this digest, compared exactly (for verification).
    pub async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = $1");
        let row: Option<KeyRow> =
            on_backend!(self, pool => sqlx::query_as(&sql).bind(hash.as_bytes()).fetch_optional(pool).await?);
        row.map(KeyRow::into_record).transpose()
    }

    /// Keys newest first. The cursor is the position after the last item
    /// returned, so keys added meanwhile never shift a later page.
    pub async fn list_keys(
        &self,
        account: Option<&str>,
        status: StatusFilter,
        limit: u32,
        cursor: Option<i64>,
        now: Millis,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE ($1::text IS NULL OR account = $1) AND ($2::bigint IS NULL OR seq < $2) \
             AND {} ORDER BY seq DESC LIMIT $3",
            status_condition(status)
        );
        let sql = sqlite_compatible(self, &sql);
        let rows: Vec<KeyRow> = on_backend!(self, pool => sqlx::query_as(&sql)
            .bind(account)
            .bind(cursor)
            .bind(i64::from(limit) + 1)
            .bind(now.0)
            .fetch_all(pool)
            .await?);
        let more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_seq = None;
        for row in rows.into_iter().take(limit as usize) {
            last_seq = Some(row.seq);
            items.push(row.into_record()?);
        }
        let next_cursor = if more { last_seq.map(encode_cursor) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// Applies `changes` to an active key and records `event` (whose
    /// `before`/`after` the caller fills from the records given to `audit`).
    pub async fn update_key(
        &self,
        id: &str,
        account_limit: Option<&str>,
        now: Millis,
        changes: &KeyChanges,
        audit: impl FnOnce(&KeyRecord, &KeyRecord) -> AuditEvent,
    ) -> Result<Result<KeyRecord, Refusal>, StoreError> {
        let select = self.key_by_id_sql();
        write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(account_limit).fetch_optional(&mut *tx).await?;
            let Some(before) = row.map(KeyRow::into_record).transpose()? else { return Ok(Err(Refusal::NotFound)) };
            if let Some(refusal) = refuse_change(&before, now) {
                return Ok(Err(refusal));
            }
            let mut after = before.clone();
            if let Some(name) = &changes.name { after.name = name.clone(); }
            if let Some(scopes) = &changes.scopes { after.scopes = scopes.clone(); }
            if let Some(expires_at) = changes.expires_at { after.expires_at = expires_at; }
            sqlx::query("UPDATE keys SET name = $2, scopes = $3, expires_at = $4 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(&after.name)
                .bind(json(&after.scopes))
                .bind(after.expires_at.map(|m| m.0))
                .execute(&mut *tx)
                .await?;
            let event = audit(&before, &after);
            super::audit::insert_event!(self, tx, &event);
            Ok(Ok(after))
        })
    }

    /// Revokes a key: permanent and idempotent (revoking a revoked key
    /// changes nothing and records nothing). `None` if not found.
    pub async fn revoke_key(
        &self,
        id: &str,
        account_limit: Option<&str>,
        at: Millis,
        by: &str,
        reason: Option<&str>,
        audit: impl FnOnce(&KeyRecord) -> AuditEvent,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let select = self.key_by_id_sql();
        // The answer is built from the locked row, not read again after the
        // commit: a committed revocation always reaches the caller (who
        // clears caches with it).
        write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(account_limit).fetch_optional(&mut *tx).await?;
            let Some(before) = row.map(KeyRow::into_record).transpose()? else { return Ok(None) };
            let mut after = before.clone();
            if before.revoked_at.is_none() {
                after.revoked_at = Some(at);
                after.revoked_by = Some(by.to_owned());
                after.revoke_reason = reason.map(str::to_owned);
                sqlx::query("UPDATE keys SET revoked_at = $2, revoked_by = $3, revoke_reason = $4 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(at.0)
                    .bind(by)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                let event = audit(&before);
                super::audit::insert_event!(self, tx, &event);
            }
            Ok(Some(after))
        })
    }

    /// Rotation: inserts the new key and shortens the old one's life, in one
    /// transaction. Refused on a revoked, expired or already rotated key.
    pub async fn rotate_key(
        &self,
        id: &str,
        account_limit: Option<&str>,
        now: Millis,
        rows: impl FnOnce(&KeyRecord) -> Result<RotationRowsOwned, StoreError>,
        audit: impl FnOnce(&KeyRecord, &KeyRecord) -> Vec<AuditEvent>,
    ) -> Result<Result<(KeyRecord, KeyRecord), Refusal>, StoreError> {
        let select = self.key_by_id_sql();
        let new_id = write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(account_limit).fetch_optional(&mut *tx).await?;
            let Some(old) = row.map(KeyRow::into_record).transpose()? else { return Ok(Err(Refusal::NotFound)) };
            if let Some(refusal) = refuse_change(&old, now) {
                return Ok(Err(refusal));
            }
            if old.rotated_to.is_some() {
                return Ok(Err(Refusal::AlreadyRotated));
            }
            let owned = rows(&old)?;
            let new_key = owned.as_row();
            insert_key!(tx, new_key);
            sqlx::query("UPDATE keys SET expires_at = $2, rotated_to = $3 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(owned.old_expires_at.0)
                .bind(&owned.id)
                .execute(&mut *tx)
                .await?;
            let mut old_after = old.clone();
            old_after.expires_at = Some(owned.old_expires_at);
            old_after.rotated_to = Some(owned.id.clone());
            for event in audit(&old, &old_after) {
                super::audit::insert_event!(self, tx, &event);
            }
            owned.id
        });
        let old = self.get_key(id, account_limit).await?;
        let new = self.get_key(&new_id, account_limit).await?;
        match (old, new) {
            (Some(old), Some(new)) => Ok(Ok((old, new))),
            _ => Err(StoreError::Corrupt(format!("rotation of {id} lost a key"))),
        }
    }

    /// Records the last allowed use of a key.
    pub async fn touch_key(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        let sql = "UPDATE keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        on_backend!(self, pool => {
            sqlx::query(sql).bind(id).bind(at.0).execute(pool).await?;
        });
        Ok(())
    }
}

/// An owned new key for rotation (built inside the transaction).
pub struct RotationRowsOwned {
    pub id: String,
    pub account: String,
    pub name: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub hash: KeyHash,
    pub start: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: Millis,
    pub created_by: String,
    pub expires_at: Option<Millis>,
    pub old_expires_at: Millis,
}

impl RotationRowsOwned {
    fn as_row(&self) -> NewKeyRow<'_> {
        NewKeyRow {
            id: &self.id,
            account: &self.account,
            name: &self.name,
            environment: &self.environment,
            scopes: &self.scopes,
            hash: &self.hash,
            start: &self.start,
            metadata: &self.metadata,
            created_at: self.created_at,
            created_by: &self.created_by,
            expires_at: self.expires_at,
        }
    }
}

fn refuse_change(key: &KeyRecord, now: Millis) -> Option<Refusal> {
    use crate::keys::record::Status;
    match key.status(now) {
        Status::Revoked => Some(Refusal::Revoked),
        Status::Expired => Some(Refusal::Expired),
        Status::Active => None,
    }
}

/// SQLite has no `::type` casts; PostgreSQL needs them to type a NULL
/// parameter in `$1 IS NULL`. The casts are the only difference.
pub(crate) fn sqlite_compatible(store: &Store, sql: &str) -> String {
    if store.is_embedded() {
        sql.replace("::text", "").replace("::bigint", "")
    } else {
        sql.to_owned()
    }
}
