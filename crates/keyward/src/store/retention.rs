//! Usage that does not grow forever: hourly rows older than what any usage
//! answer reads are rolled up into daily rows, and daily rows past the
//! retention period are deleted, in small batches (each its own short
//! transaction), safely with several nodes doing it at once.
//!
//! On PostgreSQL a batch is one statement: the rows are taken with `FOR
//! UPDATE SKIP LOCKED` (so two nodes never move the same row, and a flush
//! adding to a row is never waited on), deleted, and added to the daily
//! rows. On SQLite a batch is one `BEGIN IMMEDIATE` transaction (one writer
//! at a time), adding then deleting the same rows.

use super::{Store, StoreError};
use crate::usage::DAY_MS;

/// What one roll-up batch moves: hourly rows, or per-scope hourly rows.
#[derive(Debug, Clone, Copy)]
pub enum Hourly {
    Counts,
    Scopes,
}

impl Hourly {
    /// (hourly table, daily table, the columns that name a row besides
    /// key and time, the additive upsert's SET and the summed columns).
    fn tables(self) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        match self {
            Hourly::Counts => (
                "usage_hourly",
                "usage_daily",
                "",
                "allowed = usage_daily.allowed + excluded.allowed, denied = usage_daily.denied + excluded.denied",
                "allowed, denied",
            ),
            Hourly::Scopes => (
                "usage_scopes",
                "usage_scopes_daily",
                ", scope",
                "count = usage_scopes_daily.count + excluded.count",
                "count",
            ),
        }
    }
}

impl Store {
    /// Moves up to `batch` rows of `which` from before `before` (ms) into
    /// their days; returns how many hourly rows it moved.
    pub async fn roll_up(&self, which: Hourly, before: i64, batch: i64) -> Result<u64, StoreError> {
        let (hourly, daily, extra, set, summed) = which.tables();
        let sums = summed
            .split(", ")
            .map(|c| format!("SUM({c})"))
            .collect::<Vec<_>>()
            .join(", ");
        let day = format!("hour - (hour % {DAY_MS})");
        if self.is_embedded() {
            let chosen = format!(
                "SELECT key_id, hour{extra} FROM {hourly} WHERE hour < $1 ORDER BY hour, key_id{extra} LIMIT $2"
            );
            let add = format!(
                "INSERT INTO {daily} (key_id, day{extra}, {summed}) \
                 SELECT key_id, {day}{extra}, {sums} FROM {hourly} \
                 WHERE (key_id, hour{extra}) IN ({chosen}) GROUP BY key_id, {day}{extra} \
                 ON CONFLICT (key_id, day{extra}) DO UPDATE SET {set}"
            );
            let remove = format!("DELETE FROM {hourly} WHERE (key_id, hour{extra}) IN ({chosen})");
            let moved = write_tx!(self, tx, _lock => {
                sqlx::query(&add).bind(before).bind(batch).execute(&mut *tx).await?;
                sqlx::query(&remove).bind(before).bind(batch).execute(&mut *tx).await?.rows_affected()
            });
            return Ok(moved);
        }
        let keys = format!(
            "h.key_id = b.key_id AND h.hour = b.hour{}",
            if extra.is_empty() { "" } else { " AND h.scope = b.scope" }
        );
        let sql = format!(
            "WITH moved AS (\
                DELETE FROM {hourly} h USING (\
                    SELECT key_id, hour{extra} FROM {hourly} WHERE hour < $1 ORDER BY hour LIMIT $2 FOR UPDATE SKIP LOCKED\
                ) b WHERE {keys} RETURNING h.*\
             ), added AS (\
                INSERT INTO {daily} (key_id, day{extra}, {summed}) \
                SELECT key_id, {day}{extra}, {sums} FROM moved GROUP BY key_id, {day}{extra} \
                ON CONFLICT (key_id, day{extra}) DO UPDATE SET {set}\
             ) SELECT COUNT(*) FROM moved"
        );
        let moved: i64 =
            on_backend!(self, pool => sqlx::query_scalar(&sql).bind(before).bind(batch).fetch_one(pool).await?);
        Ok(u64::try_from(moved).unwrap_or(0))
    }

    /// Deletes up to `batch` daily rows (of counts, then of scopes) of days
    /// before `before` (ms); returns how many.
    pub async fn delete_daily_before(&self, before: i64, batch: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for (table, extra) in [("usage_daily", ""), ("usage_scopes_daily", ", scope")] {
            let sql = format!(
                "DELETE FROM {table} WHERE (key_id, day{extra}) IN \
                 (SELECT key_id, day{extra} FROM {table} WHERE day < $1 LIMIT $2)"
            );
            deleted += on_backend!(self, pool => sqlx::query(&sql).bind(before).bind(batch).execute(pool).await?.rows_affected());
        }
        Ok(deleted)
    }

    /// Every row of the usage tables, per table (for size reports and
    /// tests).
    pub async fn usage_row_counts(&self) -> Result<[(&'static str, i64); 4], StoreError> {
        let mut out = [
            ("usage_hourly", 0),
            ("usage_scopes", 0),
            ("usage_daily", 0),
            ("usage_scopes_daily", 0),
        ];
        for (table, n) in &mut out {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            *n = on_backend!(self, pool => sqlx::query_scalar(&sql).fetch_one(pool).await?);
        }
        Ok(out)
    }
}
