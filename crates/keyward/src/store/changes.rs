//! The change feed: which keys changed, so that every node's cache forgets
//! them within a second, whoever made the change (another node, the CLI).
//!
//! The audit trail is the feed: every change appends an event with its key
//! id in the change's own transaction. On SQLite (one writer at a time, so
//! `seq` grows in commit order) nodes poll it by `seq`. On PostgreSQL the
//! same transaction also sends `NOTIFY keyward_changes, '<key id>'`, which
//! is delivered at commit.

use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreError};

pub const CHANNEL: &str = "keyward_changes";

impl Store {
    /// The newest audit `seq` (where a poller starts).
    pub async fn latest_change(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = on_backend!(self, pool => sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
            .fetch_one(pool)
            .await?);
        Ok(seq.unwrap_or(0))
    }

    /// Key ids changed after `seq`, and the new position.
    pub async fn changes_since(&self, seq: i64) -> Result<(Vec<String>, i64), StoreError> {
        let rows: Vec<(i64, Option<String>)> = on_backend!(self, pool => sqlx::query_as(
            "SELECT seq, key_id FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 10000"
        )
        .bind(seq)
        .fetch_all(pool)
        .await?);
        let last = rows.last().map_or(seq, |(s, _)| *s);
        Ok((rows.into_iter().filter_map(|(_, id)| id).collect(), last))
    }

    /// A PostgreSQL listener on the change channel (`None` on SQLite).
    pub async fn listen(&self) -> Result<Option<PgListener>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(CHANNEL).await?;
                Ok(Some(listener))
            }
        }
    }
}
