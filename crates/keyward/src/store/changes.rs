//! The change feed: which keys changed, so that every node's cache forgets
//! them within a second, whoever made the change (another node, the CLI).
//!
//! The audit trail is the feed: every change appends an event with its key
//! id in the change's own transaction. On SQLite (one writer at a time, so
//! `seq` grows in commit order) nodes poll it by `seq`. On PostgreSQL the
//! same transaction also sends `NOTIFY keyward_changes, '<key id> <digest
//! in hex>'`, which is delivered at commit. Either way a change names the
//! key's digest, which is what a node's cache is keyed by.

use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreError};
use crate::keys::KeyHash;

pub const CHANNEL: &str = "keyward_changes";
/// Every node notifies this channel twice a second: a listener that hears
/// nothing on either channel for a while knows its connection is dead, even
/// when TCP does not say so.
pub const HEARTBEAT_CHANNEL: &str = "keyward_heartbeat";

impl Store {
    /// The newest audit `seq` (where a poller starts).
    pub async fn latest_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = on_backend!(self, pool => sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
            .fetch_one(pool)
            .await?);
        Ok(seq.unwrap_or(0))
    }

    /// The digests of the customer keys changed after `seq`, and the new
    /// position. (Management keys change too, but are never cached.)
    pub async fn changes_since(&self, seq: i64) -> Result<(Vec<KeyHash>, i64), StoreError> {
        let rows: Vec<(i64, Option<Vec<u8>>)> = on_backend!(self, pool => sqlx::query_as(
            "SELECT a.seq, k.hash FROM audit_events a LEFT JOIN keys k ON k.id = a.key_id \
             WHERE a.seq > $1 ORDER BY a.seq LIMIT 10000"
        )
        .bind(seq)
        .fetch_all(pool)
        .await?);
        let last = rows.last().map_or(seq, |(s, _)| *s);
        let mut hashes = Vec::new();
        for (at, hash) in rows {
            if let Some(bytes) = hash {
                hashes.push(
                    KeyHash::from_bytes(&bytes)
                        .ok_or_else(|| StoreError::Corrupt(format!("digest of the key of change {at}")))?,
                );
            }
        }
        Ok((hashes, last))
    }

    /// Sends a heartbeat on [`HEARTBEAT_CHANNEL`] (PostgreSQL only).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        if self.is_embedded() {
            return Ok(());
        }
        on_backend!(self, pool => {
            sqlx::query("SELECT pg_notify($1, '')").bind(HEARTBEAT_CHANNEL).execute(pool).await?;
        });
        Ok(())
    }

    /// A PostgreSQL listener on the change and heartbeat channels, on its
    /// own connection (`database_listener_url`); `None` on SQLite.
    pub async fn listen(&self) -> Result<Option<PgListener>, StoreError> {
        match (&self.backend, &self.listener) {
            (Backend::Sqlite(_), _) | (_, None) => Ok(None),
            (Backend::Postgres(_), Some(pool)) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen_all([CHANNEL, HEARTBEAT_CHANNEL]).await?;
                Ok(Some(listener))
            }
        }
    }
}

/// What a change notice says: the changed key's digest, or nothing usable
/// (a management key's change, or a notice this version cannot read:
/// then every cached key must be forgotten).
pub fn parse_notice(payload: &str) -> Option<KeyHash> {
    payload.split_once(' ').and_then(|(_, hex)| KeyHash::from_hex(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_carry_the_digest_after_the_id() {
        let hash = KeyHash::of("cs_live_x");
        assert_eq!(parse_notice(&format!("key_1 {}", hash.to_hex())), Some(hash));
        assert_eq!(parse_notice("key_1"), None, "an id alone (an older node)");
        assert_eq!(parse_notice("mk_1 "), None, "a management key");
        assert_eq!(parse_notice("key_1 zz"), None);
    }
}
