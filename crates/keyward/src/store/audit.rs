//! The append-only audit trail. Events are inserted in the transaction of
//! the change they describe; nothing updates or deletes them (the schema
//! refuses it).

use sqlx::FromRow;

use super::{confined, sqlite_compatible};
use super::{Store, StoreError};
use crate::keys::record::AuditEvent;
use crate::keys::{AccountScope, Cursor, Limit, Page};
use crate::time::Millis;

/// Inserts an audit event in the transaction `$tx` of store `$store`; on
/// PostgreSQL also notifies the change channel (delivered at commit).
macro_rules! insert_event {
    ($store:expr, $tx:expr, $event:expr) => {{
        let e: &$crate::keys::record::AuditEvent = $event;
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor, action, account, key_id, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(e.at.0)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.account)
        .bind(&e.key_id)
        .bind(e.before.as_ref().map(|v| v.to_string()))
        .bind(e.after.as_ref().map(|v| v.to_string()))
        .execute(&mut *$tx)
        .await?;
        if let (false, Some(key_id)) = ($store.is_embedded(), &e.key_id) {
            // `<key id> <digest in hex>`: nodes forget the digest (a
            // management key has none here; the notice then names only it).
            sqlx::query(
                "SELECT pg_notify($1, $2 || ' ' || COALESCE((SELECT encode(hash, 'hex') FROM keys WHERE id = $2), ''))",
            )
            .bind($crate::store::changes::CHANNEL)
            .bind(key_id)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use insert_event;

#[derive(FromRow)]
struct EventRow {
    seq: i64,
    id: String,
    at: i64,
    actor: String,
    action: String,
    account: Option<String>,
    key_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

fn parse_json(id: &str, text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("audit event {id}: {e}"))))
        .transpose()
}

impl Store {
    /// Events newest first, within `scope`, of one key if `key_id` is
    /// given.
    pub async fn list_audit(
        &self,
        scope: &AccountScope,
        key_id: Option<&str>,
        limit: Limit,
        cursor: Option<Cursor>,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let limit = limit.get();
        let sql = sqlite_compatible(
            self,
            "SELECT seq, id, at, actor, action, account, key_id, before, after FROM audit_events \
             WHERE ($1::text IS NULL OR account = $1) AND ($2::text IS NULL OR key_id = $2) \
             AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
        );
        let rows: Vec<EventRow> = on_backend!(self, pool => sqlx::query_as(&sql)
            .bind(confined(scope))
            .bind(key_id)
            .bind(cursor.map(Cursor::position))
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await?);
        let more = rows.len() > limit as usize;
        let mut items = Vec::new();
        let mut last = None;
        for row in rows.into_iter().take(limit as usize) {
            last = Some(row.seq);
            items.push(AuditEvent {
                before: parse_json(&row.id, row.before)?,
                after: parse_json(&row.id, row.after)?,
                id: row.id,
                at: Millis(row.at),
                actor: row.actor,
                action: row.action,
                account: row.account,
                key_id: row.key_id,
            });
        }
        Ok(Page {
            items,
            next_cursor: if more { last.map(Cursor::after) } else { None },
        })
    }
}
