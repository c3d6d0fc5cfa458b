//! Customer keys in the store.

use sqlx::FromRow;

use super::{confined, sqlite_compatible, Store, StoreError};
use crate::keys::record::{AuditEvent, KeyRecord, StatusFilter};
use crate::keys::{AccountScope, Cursor, KeyHash, Limit, Page};
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

/// Grants and metadata as stored: JSON of strings and JSON values, which
/// always serializes.
#[expect(
    clippy::expect_used,
    reason = "a list of strings or a map of JSON values always serializes"
)]
fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("JSON values serialize")
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
        StatusFilter::Inactive => "(revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= $4))",
        StatusFilter::All => "$4 = $4",
    }
}

impl Store {
    /// A key by id (`$1`), within an account (`$2`, or NULL for all).
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
        self.get_key(key.id, &AccountScope::operator())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("key {} vanished", key.id)))
    }

    /// One key; `None` if it does not exist or is out of `scope`.
    pub async fn get_key(&self, id: &str, scope: &AccountScope) -> Result<Option<KeyRecord>, StoreError> {
        let sql = self.key_by_id_sql();
        let row: Option<KeyRow> =
            on_backend!(self, pool => sqlx::query_as(&sql).bind(id).bind(confined(scope)).fetch_optional(pool).await?);
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
        scope: &AccountScope,
        status: StatusFilter,
        limit: Limit,
        cursor: Option<Cursor>,
        now: Millis,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let limit = limit.get();
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE ($1::text IS NULL OR account = $1) AND ($2::bigint IS NULL OR seq < $2) \
             AND {} ORDER BY seq DESC LIMIT $3",
            status_condition(status)
        );
        let sql = sqlite_compatible(self, &sql);
        let rows: Vec<KeyRow> = on_backend!(self, pool => sqlx::query_as(&sql)
            .bind(confined(scope))
            .bind(cursor.map(Cursor::position))
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
        let next_cursor = if more { last_seq.map(Cursor::after) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// Changes a key as `decide` says, given the key locked: it returns the
    /// record to write (name, grants, expiry) and its audit event, or why
    /// not. `None` if there is no such key in `scope`.
    pub async fn update_key<E>(
        &self,
        id: &str,
        scope: &AccountScope,
        decide: impl FnOnce(&KeyRecord) -> Result<(KeyRecord, AuditEvent), E>,
    ) -> Result<Option<Result<KeyRecord, E>>, StoreError> {
        let select = self.key_by_id_sql();
        write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(confined(scope)).fetch_optional(&mut *tx).await?;
            let Some(before) = row.map(KeyRow::into_record).transpose()? else { return Ok(None) };
            let (after, event) = match decide(&before) {
                Ok(decided) => decided,
                Err(e) => return Ok(Some(Err(e))),
            };
            let done = sqlx::query("UPDATE keys SET name = $2, scopes = $3, expires_at = $4 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(&after.name)
                .bind(json(&after.scopes))
                .bind(after.expires_at.map(|m| m.0))
                .execute(&mut *tx)
                .await?;
            one_row(done.rows_affected(), id)?;
            super::audit::insert_event!(self, tx, &event);
            Ok(Some(Ok(after)))
        })
    }

    /// Revokes a key if `decide`, given the key locked, returns the revoked
    /// record and its event (`None`: nothing to write, the answer is the
    /// key as it is). Revocation only ever sets `revoked_at` (the schema
    /// refuses clearing it). `None` if there is no such key in `scope`.
    pub async fn revoke_key(
        &self,
        id: &str,
        scope: &AccountScope,
        decide: impl FnOnce(&KeyRecord) -> Option<(KeyRecord, AuditEvent)>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let select = self.key_by_id_sql();
        // The answer is built from the locked row, not read again after the
        // commit: a committed revocation always reaches the caller (who
        // clears caches with it).
        write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(confined(scope)).fetch_optional(&mut *tx).await?;
            let Some(before) = row.map(KeyRow::into_record).transpose()? else { return Ok(None) };
            let Some((after, event)) = decide(&before) else { return Ok(Some(before)) };
            let done = sqlx::query("UPDATE keys SET revoked_at = $2, revoked_by = $3, revoke_reason = $4 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(after.revoked_at.map(|m| m.0))
                .bind(&after.revoked_by)
                .bind(&after.revoke_reason)
                .execute(&mut *tx)
                .await?;
            one_row(done.rows_affected(), id)?;
            super::audit::insert_event!(self, tx, &event);
            Ok(Some(after))
        })
    }

    /// Rotation, in one transaction: `decide`, given the old key locked,
    /// returns the new key, the old key's new expiry and the events, or why
    /// not. Inserts the new key and points the old one at it. `None` if
    /// there is no such key in `scope`; else the old and new records.
    pub async fn rotate_key<E>(
        &self,
        id: &str,
        scope: &AccountScope,
        decide: impl FnOnce(&KeyRecord) -> Result<(Rotation, Vec<AuditEvent>), E>,
    ) -> Result<Option<Result<(KeyRecord, KeyRecord), E>>, StoreError> {
        let select = self.key_by_id_sql();
        let new_id = write_tx!(self, tx, lock => {
            let row: Option<KeyRow> = sqlx::query_as(&format!("{select}{lock}")).bind(id).bind(confined(scope)).fetch_optional(&mut *tx).await?;
            let Some(old) = row.map(KeyRow::into_record).transpose()? else { return Ok(None) };
            let (rotation, events) = match decide(&old) {
                Ok(decided) => decided,
                Err(e) => return Ok(Some(Err(e))),
            };
            if rotation.account != old.account {
                return Err(StoreError::Corrupt(format!("a rotation of {id} named another account")));
            }
            let new_key = rotation.as_row();
            insert_key!(tx, new_key);
            let done = sqlx::query("UPDATE keys SET expires_at = $2, rotated_to = $3 WHERE id = $1 AND revoked_at IS NULL AND rotated_to IS NULL")
                .bind(id)
                .bind(rotation.old_expires_at.0)
                .bind(&rotation.id)
                .execute(&mut *tx)
                .await?;
            one_row(done.rows_affected(), id)?;
            for event in &events {
                super::audit::insert_event!(self, tx, event);
            }
            rotation.id
        });
        let old = self.get_key(id, scope).await?;
        let new = self.get_key(&new_id, scope).await?;
        match (old, new) {
            (Some(old), Some(new)) => Ok(Some(Ok((old, new)))),
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

/// What a rotation writes: the new key (built inside the transaction) and
/// the old key's new expiry.
pub struct Rotation {
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

impl Rotation {
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

/// A write meant for the locked row must have changed exactly it; else the
/// decision was made on a row the write did not find (a bug): roll back.
fn one_row(affected: u64, id: &str) -> Result<(), StoreError> {
    if affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "a change of key {id} wrote {affected} rows"
        )))
    }
}
