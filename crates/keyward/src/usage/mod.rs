//! Usage counting (DESIGN.md section 4). The hot path only adds to an
//! in-memory map; a background task flushes it as additive upserts every
//! second and on shutdown. The usage answer adds this node's unflushed
//! counts to the stored ones, without counting a batch twice while it is
//! being written (`report.rs`).

mod report;
pub mod retention;
pub use report::{Day, Usage, UsageService, Window, Windows};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::catalog::{LiveCatalog, UsageScope};
use rustc_hash::FxHashMap;

use crate::store::{Store, StoreError};
use crate::time::Millis;
use crate::verify::Code;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub allowed: u64,
    pub denied: u64,
    /// Concrete scopes exercised by allowed requests.
    pub scopes: FxHashMap<UsageScope, u64>,
    pub last_allowed: Option<Millis>,
}

/// Counts by (key id, hour start in ms). Key ids are keyward's own random
/// ids, never chosen by a caller, so a fast unkeyed hash is safe here.
pub type Counts = FxHashMap<(Arc<str>, i64), Bucket>;

/// Counting shards: verifications of different keys on different cores
/// rarely wait for each other.
const SHARDS: usize = 16;

pub struct Recorder {
    enabled: bool,
    /// Counts not yet taken by a flush, sharded by key id.
    current: Box<[Mutex<Counts>]>,
    /// The batch being written: still counted by readers until committed.
    /// Readers and the flush's commit exclude each other through this lock.
    in_flight: tokio::sync::RwLock<Counts>,
    last_flush: Mutex<Millis>,
}

impl Recorder {
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            current: (0..SHARDS).map(|_| Mutex::new(FxHashMap::default())).collect(),
            in_flight: tokio::sync::RwLock::new(FxHashMap::default()),
            last_flush: Mutex::new(Millis::now()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one verification that identified a key. `scopes` are the
    /// required scopes of an allowed request.
    pub fn record(&self, key_id: &Arc<str>, code: Code, scopes: impl Iterator<Item = UsageScope>, now: Millis) {
        if !self.enabled || !code.identified() {
            return;
        }
        let hour = now.0 - now.0.rem_euclid(HOUR_MS);
        let Ok(mut current) = self.shard(key_id).lock() else {
            return;
        };
        let bucket = current.entry((key_id.clone(), hour)).or_default();
        if code == Code::Valid {
            bucket.allowed += 1;
            bucket.last_allowed = Some(bucket.last_allowed.map_or(now, |t| t.max(now)));
            for scope in scopes {
                *bucket.scopes.entry(scope).or_insert(0) += 1;
            }
        } else {
            bucket.denied += 1;
        }
    }

    fn shard(&self, key_id: &str) -> &Mutex<Counts> {
        use std::hash::BuildHasher;
        let hash = rustc_hash::FxBuildHasher.hash_one(key_id) as usize;
        &self.current[hash % self.current.len()]
    }

    /// Everything counted and not yet taken, taken.
    fn take_current(&self) -> Counts {
        let mut taken = Counts::default();
        for shard in self.current.iter() {
            if let Ok(mut counts) = shard.lock() {
                merge(&mut taken, std::mem::take(&mut *counts));
            }
        }
        taken
    }

    /// Seconds since the last successful flush (for `/metrics`).
    pub fn flush_lag(&self) -> f64 {
        let last = self.last_flush.lock().map(|t| *t).unwrap_or(Millis(0));
        (Millis::now().0 - last.0) as f64 / 1000.0
    }

    /// Writes everything counted so far. On failure the batch is kept and
    /// retried with the next flush: nothing is lost.
    pub async fn flush(&self, store: &Store, catalog: &LiveCatalog) -> Result<usize, StoreError> {
        let taken = self.take_current();
        let mut in_flight = self.in_flight.write().await;
        merge(&mut in_flight, taken);
        if in_flight.is_empty() {
            drop(in_flight);
            self.mark_flushed();
            return Ok(0);
        }
        let rows = in_flight.len();
        store.add_usage(&in_flight, catalog).await?;
        in_flight.clear();
        drop(in_flight);
        self.mark_flushed();
        Ok(rows)
    }

    fn mark_flushed(&self) {
        if let Ok(mut last) = self.last_flush.lock() {
            *last = Millis::now();
        }
    }

    /// This node's unflushed counts for one key, by hour.
    async fn unflushed(&self, key_id: &str) -> (tokio::sync::RwLockReadGuard<'_, Counts>, Vec<(i64, Bucket)>) {
        let (guard, found) = self.unflushed_of(|id| id == key_id).await;
        (
            guard,
            found.into_iter().map(|(_, hour, bucket)| (hour, bucket)).collect(),
        )
    }

    /// This node's unflushed counts of the keys `wanted` picks: (key id,
    /// hour, counts). The guard holds the in-flight batch: while it lives,
    /// a batch is either stored or in this answer, never both.
    async fn unflushed_of(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> (tokio::sync::RwLockReadGuard<'_, Counts>, Vec<(Arc<str>, i64, Bucket)>) {
        let in_flight = self.in_flight.read().await;
        let pick = |((id, h), b): (&(Arc<str>, i64), &Bucket)| wanted(id).then(|| (id.clone(), *h, b.clone()));
        let mut out: Vec<_> = in_flight.iter().filter_map(pick).collect();
        for shard in self.current.iter() {
            if let Ok(current) = shard.lock() {
                out.extend(current.iter().filter_map(pick));
            }
        }
        (in_flight, out)
    }
}

fn merge(into: &mut Counts, from: Counts) {
    for (k, b) in from {
        let target = into.entry(k).or_default();
        target.allowed += b.allowed;
        target.denied += b.denied;
        target.last_allowed = match (target.last_allowed, b.last_allowed) {
            (Some(a), Some(c)) => Some(a.max(c)),
            (a, c) => a.or(c),
        };
        for (scope, n) in b.scopes {
            *target.scopes.entry(scope).or_insert(0) += n;
        }
    }
}

/// Flushes every `interval` until `shutdown`, then once more.
pub async fn flush_loop(
    recorder: Arc<Recorder>,
    store: Store,
    catalog: Arc<LiveCatalog>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = recorder.flush(&store, &catalog).await {
            tracing::warn!(error = %e, "usage flush failed; counts kept for the next one");
        }
    }
    if let Err(e) = recorder.flush(&store, &catalog).await {
        tracing::error!(error = %e, "final usage flush failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_of_many_keys_across_shards_are_all_taken_once() {
        let recorder = Recorder::new(true);
        let now = Millis::now();
        let ids: Vec<Arc<str>> = (0..100).map(|i| Arc::from(format!("key_{i:020}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            for _ in 0..=i {
                recorder.record(id, Code::Valid, std::iter::empty(), now);
            }
            recorder.record(id, Code::InsufficientScope, std::iter::empty(), now);
        }
        let (guard, seen) = recorder.unflushed_of(|_| true).await;
        drop(guard);
        assert_eq!(seen.len(), 100);
        let taken = recorder.take_current();
        assert_eq!(taken.len(), 100);
        for (i, id) in ids.iter().enumerate() {
            let hour = now.0 - now.0.rem_euclid(HOUR_MS);
            let bucket = &taken[&(id.clone(), hour)];
            assert_eq!((bucket.allowed, bucket.denied), (i as u64 + 1, 1));
        }
        assert!(recorder.take_current().is_empty());
    }
}
