//! The usage answer of a key (docs/KEYS.md): windows, days, scopes
//! used and the grants that could go.

use std::sync::Arc;

use keyward_scopes::ScopeId;

use crate::catalog::LiveCatalog;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Recorder, DAY_MS, HOUR_MS};
use crate::keys::{KeyError, KeyRecord};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// Verifications of a key in a window of time.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, ToSchema)]
pub struct Window {
    pub allowed: u64,
    pub denied: u64,
}

/// The last 24 hours, 7 days and 30 days (docs/KEYS.md).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, ToSchema)]
pub struct Windows {
    #[serde(rename = "24h")]
    pub last_day: Window,
    #[serde(rename = "7d")]
    pub last_week: Window,
    #[serde(rename = "30d")]
    pub last_month: Window,
}

/// One UTC day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    pub allowed: u64,
    pub denied: u64,
}

/// A key's usage (docs/KEYS.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    pub key_id: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Millis>,
    pub windows: Windows,
    /// The last 30 days, oldest first.
    pub daily: Vec<Day>,
    /// Allowed requests per concrete scope, in catalog order.
    #[schema(value_type = std::collections::HashMap<String, u64>)]
    pub scopes_used: indexmap::IndexMap<String, u64>,
    /// Grants that covered no request in 30 days.
    pub unused_scopes: Vec<String>,
    /// The concrete scopes the key's requests needed: what it could hold
    /// instead.
    pub suggested_scopes: Vec<String>,
}

/// Usage answers: the store's hourly rows plus this node's unflushed
/// counts.
#[derive(Clone)]
pub struct UsageService {
    recorder: Arc<Recorder>,
    store: Store,
    catalog: Arc<LiveCatalog>,
}

impl UsageService {
    pub fn new(recorder: Arc<Recorder>, store: Store, catalog: Arc<LiveCatalog>) -> UsageService {
        UsageService {
            recorder,
            store,
            catalog,
        }
    }

    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The windows and last use of each of `keys` (records the caller was
    /// allowed to read) at `now`, in their order: one storage read for all
    /// of them (a page of keys).
    pub async fn totals_of(&self, keys: &[KeyRecord], now: Millis) -> Result<Vec<(Windows, Option<Millis>)>, KeyError> {
        let since = oldest_hour_read(now);
        let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        let wanted: rustc_hash::FxHashSet<&str> = ids.iter().copied().collect();
        let (guard, unflushed) = self.recorder.unflushed_of(|id| wanted.contains(id)).await;
        let mut stored = self.store.hourly_usage_of(&ids, since).await?;
        let stored_last = self.store.last_used_of(&ids).await?;
        drop(guard);
        let mut last_used: Vec<Option<Millis>> = keys
            .iter()
            .map(|k| super::latest(k.last_used_at, stored_last.get(&k.id).copied()))
            .collect();
        for (id, hour, bucket) in unflushed {
            let Some(at) = ids.iter().position(|k| *k == &*id) else {
                continue;
            };
            if hour < since {
                continue;
            }
            let entry = stored.entry(id.to_string()).or_default().entry(hour).or_default();
            entry.allowed += bucket.allowed;
            entry.denied += bucket.denied;
            last_used[at] = last_used[at].max(bucket.last_allowed);
        }
        Ok(keys
            .iter()
            .zip(last_used)
            .map(|(key, last)| {
                let hours = stored.remove(&key.id).unwrap_or_default();
                (windows(&hours, now), last)
            })
            .collect())
    }

    /// The usage of `key` (a record the caller was allowed to read) at
    /// `now`.
    pub async fn of(&self, key: &KeyRecord, now: Millis) -> Result<Usage, KeyError> {
        Ok(usage(&self.recorder, &self.store, &self.catalog, key, now).await?)
    }
}

/// The first hour the 30-day window counts: the one `now - 30 d` falls in
/// (a window counts every hour that overlaps it).
fn oldest_hour_read(now: Millis) -> i64 {
    let start = now.0 - 30 * DAY_MS;
    start - start.rem_euclid(HOUR_MS)
}

/// The 24 h, 7 d and 30 d windows of hourly counts at `now`.
fn windows(hours: &std::collections::BTreeMap<i64, Window>, now: Millis) -> Windows {
    let window = |span: i64| {
        let mut w = Window::default();
        for (hour, counts) in hours {
            if *hour + HOUR_MS > now.0 - span {
                w.allowed += counts.allowed;
                w.denied += counts.denied;
            }
        }
        w
    };
    Windows {
        last_day: window(DAY_MS),
        last_week: window(7 * DAY_MS),
        last_month: window(30 * DAY_MS),
    }
}

/// Stored hourly rows plus this node's unflushed counts, folded into the
/// usage answer.
async fn usage(
    recorder: &Recorder,
    store: &Store,
    live: &LiveCatalog,
    key: &KeyRecord,
    now: Millis,
) -> Result<Usage, StoreError> {
    let catalog = live.current();
    let since = oldest_hour_read(now);
    // Hold the in-flight batch while reading the store so that a batch is
    // counted either as stored or as unflushed, never both.
    let (guard, unflushed) = recorder.unflushed(&key.id).await;
    let (mut hours, mut scopes) = store.usage_rows(&key.id, since).await?;
    let stored_last = store.last_used_of(&[&key.id]).await?;
    drop(guard);
    let mut last_used = super::latest(key.last_used_at, stored_last.get(&key.id).copied());
    for (hour, bucket) in unflushed {
        if hour < since {
            continue;
        }
        let entry = hours.entry(hour).or_default();
        entry.allowed += bucket.allowed;
        entry.denied += bucket.denied;
        for (id, n) in bucket.scopes {
            if let Some(name) = live.usage_scope_name(id) {
                *scopes.entry(name.to_string()).or_insert(0) += n;
            }
        }
        last_used = super::latest(last_used, bucket.last_allowed);
    }
    let windows = windows(&hours, now);
    let mut daily = Vec::new();
    let today = now.0 - now.0.rem_euclid(DAY_MS);
    for d in (0..30).rev() {
        let start = today - d * DAY_MS;
        let mut day = Day {
            date: Millis(start).to_rfc3339()[..10].to_owned(),
            allowed: 0,
            denied: 0,
        };
        for counts in hours.range(start..start + DAY_MS).map(|(_, c)| c) {
            day.allowed += counts.allowed;
            day.denied += counts.denied;
        }
        daily.push(day);
    }
    // Scopes in catalog order; names the catalog no longer has at the end.
    let mut used_ids: Vec<ScopeId> = scopes.keys().filter_map(|s| catalog.scope_id(s)).collect();
    used_ids.sort_unstable();
    let mut scopes_used = indexmap::IndexMap::new();
    for id in &used_ids {
        let name = catalog.scope_name(*id);
        scopes_used.insert(name.to_owned(), scopes.get(name).copied().unwrap_or(0));
    }
    for (name, n) in &scopes {
        if catalog.scope_id(name).is_none() {
            scopes_used.insert(name.clone(), *n);
        }
    }
    let unused_scopes = key
        .scopes
        .iter()
        .filter(|grant| {
            let covered = catalog.compile_grants(std::slice::from_ref(*grant));
            let used = covered.effective().any(|id| used_ids.contains(&id));
            !used
        })
        .cloned()
        .collect();
    let suggested_scopes = used_ids.iter().map(|id| catalog.scope_name(*id).to_owned()).collect();
    Ok(Usage {
        key_id: key.id.clone(),
        last_used_at: last_used,
        windows,
        daily,
        scopes_used,
        unused_scopes,
        suggested_scopes,
    })
}
