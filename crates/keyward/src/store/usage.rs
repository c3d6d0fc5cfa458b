//! Usage rows: additive upserts by (key, hour) and (key, hour, scope), so
//! any number of nodes can flush into the same rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::catalog::LiveCatalog;

use super::{Store, StoreError};
use crate::time::Millis;
use crate::usage::{Bucket, Window};

/// Rows per statement: a flush of many keys is a few multi-row statements,
/// not three statements per key (what counting costs with many keys in use
/// is mostly the flush's work).
const ROWS_PER_STATEMENT: usize = 500;

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Adds a batch of counts in one transaction, as additive upserts, in
    /// the order given (the flush gives it sorted by key and hour; scope
    /// rows and last uses follow in the same order).
    pub async fn add_usage(
        &self,
        batch: &[(&(Arc<str>, i64), &Bucket)],
        names: &LiveCatalog,
    ) -> Result<(), StoreError> {
        let hourly: Vec<(&str, i64, i64, i64)> = batch
            .iter()
            .map(|((key_id, hour), b)| (&**key_id, *hour, count(b.allowed), count(b.denied)))
            .collect();
        let mut scopes: Vec<(&str, i64, Arc<str>, i64)> = Vec::new();
        // When each key was last used (a batch may span two hours).
        let mut touched: Vec<(&str, i64)> = Vec::with_capacity(batch.len());
        for ((key_id, hour), bucket) in batch {
            let first = scopes.len();
            for (scope, n) in bucket.scopes.iter() {
                if let Some(name) = names.usage_scope_name(scope) {
                    scopes.push((&**key_id, *hour, name, count(n)));
                }
            }
            scopes[first..].sort_unstable_by(|a, b| a.2.cmp(&b.2));
            if let Some(at) = bucket.last_allowed {
                touched.push((&**key_id, at.0));
            }
        }
        // One row per key, its newest use (UPDATE ... FROM would take any
        // one of several).
        touched.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        touched.dedup_by_key(|(id, _)| *id);
        write_tx!(self, tx, _lock => {
            for chunk in hourly.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO usage_hourly (key_id, hour, allowed, denied) ");
                q.push_values(chunk, |mut row, (key_id, hour, allowed, denied)| {
                    row.push_bind(*key_id).push_bind(*hour).push_bind(*allowed).push_bind(*denied);
                });
                q.push(
                    " ON CONFLICT (key_id, hour) DO UPDATE SET allowed = usage_hourly.allowed + excluded.allowed, \
                     denied = usage_hourly.denied + excluded.denied",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in scopes.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO usage_scopes (key_id, hour, scope, count) ");
                q.push_values(chunk, |mut row, (key_id, hour, scope, n)| {
                    row.push_bind(*key_id).push_bind(*hour).push_bind(&**scope).push_bind(*n);
                });
                q.push(" ON CONFLICT (key_id, hour, scope) DO UPDATE SET count = usage_scopes.count + excluded.count");
                q.build().execute(&mut *tx).await?;
            }
            for chunk in touched.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("WITH used (id, at) AS (");
                q.push_values(chunk, |mut row, (key_id, at)| {
                    row.push_bind(*key_id).push_bind(*at);
                });
                q.push(
                    ") UPDATE keys SET last_used_at = used.at FROM used \
                     WHERE keys.id = used.id AND (keys.last_used_at IS NULL OR keys.last_used_at < used.at)",
                );
                q.build().execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    /// When each of several keys was last used, as stored now (a usage
    /// answer reads it with the counts: a flush may have moved a key's
    /// newest use from memory to the store since its record was read).
    pub async fn last_used_of(&self, key_ids: &[&str]) -> Result<HashMap<String, Millis>, StoreError> {
        if key_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=key_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, last_used_at FROM keys WHERE last_used_at IS NOT NULL AND id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(String, i64)> = on_backend!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in key_ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(id, at)| (id, Millis(at))).collect())
    }

    /// Stored hourly counts of several keys since `since` (ms), by key id.
    pub async fn hourly_usage_of(
        &self,
        key_ids: &[&str],
        since: i64,
    ) -> Result<HashMap<String, BTreeMap<i64, Window>>, StoreError> {
        let mut out: HashMap<String, BTreeMap<i64, Window>> = HashMap::new();
        if key_ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (0..key_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT key_id, hour, allowed, denied FROM usage_hourly WHERE hour >= $1 AND key_id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(String, i64, i64, i64)> = on_backend!(self, pool => {
            let mut query = sqlx::query_as(&sql).bind(since);
            for id in key_ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
        for (id, hour, allowed, denied) in rows {
            out.entry(id).or_default().insert(
                hour,
                Window {
                    allowed: to_u64(allowed),
                    denied: to_u64(denied),
                },
            );
        }
        Ok(out)
    }

    /// Stored counts of a key since `since` (ms): by hour, and by scope.
    pub async fn usage_rows(
        &self,
        key_id: &str,
        since: i64,
    ) -> Result<(BTreeMap<i64, Window>, HashMap<String, u64>), StoreError> {
        let hourly: Vec<(i64, i64, i64)> = on_backend!(self, pool => sqlx::query_as(
            "SELECT hour, allowed, denied FROM usage_hourly WHERE key_id = $1 AND hour >= $2"
        ).bind(key_id).bind(since).fetch_all(pool).await?);
        let scopes: Vec<(String, i64)> = on_backend!(self, pool => sqlx::query_as(
            "SELECT scope, CAST(SUM(count) AS BIGINT) FROM usage_scopes WHERE key_id = $1 AND hour >= $2 GROUP BY scope"
        ).bind(key_id).bind(since).fetch_all(pool).await?);
        let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok((
            hourly
                .into_iter()
                .map(|(h, a, d)| {
                    (
                        h,
                        Window {
                            allowed: to_u64(a),
                            denied: to_u64(d),
                        },
                    )
                })
                .collect(),
            scopes.into_iter().map(|(s, n)| (s, to_u64(n))).collect(),
        ))
    }
}
