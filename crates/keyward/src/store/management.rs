//! Management keys: stored like customer keys but in their own table, so a
//! customer key can never be found where a management key is looked for.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::keys::record::{AuditEvent, ManagementKeyRecord};
use crate::keys::KeyHash;
use crate::time::Millis;

const COLUMNS: &str = "id, name, account, start, created_at, created_by, revoked_at, revoked_by, last_used_at";

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    account: Option<String>,
    start: String,
    created_at: i64,
    created_by: String,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    last_used_at: Option<i64>,
}

impl From<Row> for ManagementKeyRecord {
    fn from(r: Row) -> Self {
        ManagementKeyRecord {
            id: r.id,
            name: r.name,
            account: r.account.map(crate::keys::AccountId::stored),
            start: r.start,
            created_at: Millis(r.created_at),
            created_by: r.created_by,
            revoked_at: r.revoked_at.map(Millis),
            revoked_by: r.revoked_by,
            last_used_at: r.last_used_at.map(Millis),
        }
    }
}

pub struct NewManagementKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub account: Option<&'a str>,
    pub hash: &'a KeyHash,
    pub start: &'a str,
    pub created_at: Millis,
    pub created_by: &'a str,
}

impl Store {
    pub async fn insert_management_key(
        &self,
        key: &NewManagementKey<'_>,
        event: &AuditEvent,
    ) -> Result<ManagementKeyRecord, StoreError> {
        write_tx!(self, tx, _lock => {
            sqlx::query(
                "INSERT INTO management_keys (id, name, account, hash, start, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(key.id)
            .bind(key.name)
            .bind(key.account)
            .bind(key.hash.as_bytes())
            .bind(key.start)
            .bind(key.created_at.0)
            .bind(key.created_by)
            .execute(&mut *tx)
            .await?;
            super::audit::insert_event!(self, tx, event);
        });
        self.get_management_key(key.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("management key {} vanished", key.id)))
    }

    pub async fn get_management_key(&self, id: &str) -> Result<Option<ManagementKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM management_keys WHERE id = $1");
        let row: Option<Row> = on_backend!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    pub async fn find_management_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ManagementKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM management_keys WHERE hash = $1");
        let row: Option<Row> =
            on_backend!(self, pool => sqlx::query_as(&sql).bind(hash.as_bytes()).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    pub async fn list_management_keys(&self) -> Result<Vec<ManagementKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM management_keys ORDER BY seq DESC");
        let rows: Vec<Row> = on_backend!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Records a use of a management key (at most moving it forward).
    pub async fn touch_management_key(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        let sql = "UPDATE management_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        on_backend!(self, pool => {
            sqlx::query(sql).bind(id).bind(at.0).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn count_management_keys(&self) -> Result<i64, StoreError> {
        let n: i64 = on_backend!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM management_keys").fetch_one(pool).await?);
        Ok(n)
    }

    /// Permanent and idempotent; `None` if there is no such key.
    pub async fn revoke_management_key(
        &self,
        id: &str,
        at: Millis,
        by: &str,
        event: &AuditEvent,
    ) -> Result<Option<ManagementKeyRecord>, StoreError> {
        write_tx!(self, tx, _lock => {
            let done = sqlx::query("UPDATE management_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(at.0)
                .bind(by)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                super::audit::insert_event!(self, tx, event);
            }
        });
        self.get_management_key(id).await
    }
}
