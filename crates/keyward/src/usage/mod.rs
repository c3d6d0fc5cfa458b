//! Usage counting (docs/KEYS.md). The hot path only adds to an
//! in-memory map; a background task flushes it as additive upserts every
//! second (longer under load, see [`next_wait`]) and on shutdown. The
//! usage answer adds this node's unflushed counts to the stored ones,
//! without counting a batch twice while it is being written (`report.rs`).

mod bucket;
mod report;
pub mod retention;
pub use bucket::{latest, Bucket, ScopeCounts};
pub use report::{Day, Usage, UsageService, Window, Windows};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::catalog::{LiveCatalog, UsageScope};
use rustc_hash::FxHashMap;

use crate::store::{Store, StoreError};
use crate::time::Millis;
use crate::verify::Code;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Counts by (key id, hour start in ms). Key ids are keyward's own random
/// ids, never chosen by a caller, so a fast unkeyed hash is safe here.
pub type Counts = FxHashMap<(Arc<str>, i64), Bucket>;

/// Tries of the flush at shutdown (about 5 s in all).
const FINAL_FLUSH_ATTEMPTS: u32 = 5;

/// Key-hours written per flush transaction.
const KEYS_PER_TRANSACTION: usize = 2_000;

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
    /// The wait before the next flush, in ms (for `/metrics`).
    flush_interval_ms: AtomicU64,
}

impl Recorder {
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            current: (0..SHARDS).map(|_| Mutex::new(FxHashMap::default())).collect(),
            in_flight: tokio::sync::RwLock::new(FxHashMap::default()),
            last_flush: Mutex::new(Millis::now()),
            flush_interval_ms: AtomicU64::new(0),
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
                bucket.scopes.add(scope, 1);
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

    /// Everything counted and not yet taken, taken. Each shard starts
    /// again with the room its last batch needed, so that the hot path
    /// does not grow its map step by step after every flush.
    fn take_current(&self) -> Counts {
        let mut taken = Counts::default();
        for shard in self.current.iter() {
            let room = shard.lock().map(|counts| counts.len()).unwrap_or(0);
            let fresh = Counts::with_capacity_and_hasher(room, Default::default());
            if let Ok(mut counts) = shard.lock() {
                merge(&mut taken, std::mem::replace(&mut *counts, fresh));
            }
        }
        taken
    }

    /// The current wait between flushes, in seconds (for `/metrics`).
    pub fn flush_interval(&self) -> f64 {
        self.flush_interval_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Seconds since the last successful flush (for `/metrics`).
    pub fn flush_lag(&self) -> f64 {
        let last = self.last_flush.lock().map(|t| *t).unwrap_or(Millis(0));
        (Millis::now().0 - last.0) as f64 / 1000.0
    }

    /// Writes everything counted so far, in key order, in transactions of
    /// at most [`KEYS_PER_TRANSACTION`] key-hours. Key order keeps each
    /// transaction on neighbouring rows (a flush of 100,000 keys in random
    /// order rewrites nearly every page of the usage tables once per
    /// transaction) and makes nodes flushing the same rows at once take
    /// their row locks in the same order. Short transactions never hold the
    /// store's write lock (SQLite's is the whole database's) for long: key
    /// changes and revocations wait for one chunk at most. A chunk is
    /// written and then dropped from the in-flight batch under the lock
    /// readers take, so a reader sees every count once, stored or
    /// unflushed; if the write fails (or the flush is cancelled) the chunk
    /// and the rest stay for the next flush: nothing is lost.
    pub async fn flush(&self, store: &Store, catalog: &LiveCatalog) -> Result<usize, StoreError> {
        let order: Vec<(Arc<str>, i64)> = {
            // Taken under the lock readers hold while they read both maps,
            // so that no reader sees the counts in neither.
            let mut in_flight = self.in_flight.write().await;
            let taken = self.take_current();
            merge(&mut in_flight, taken);
            let mut order: Vec<(Arc<str>, i64)> = in_flight.keys().cloned().collect();
            order.sort_unstable();
            order
        };
        let mut written = 0;
        for ids in order.chunks(KEYS_PER_TRANSACTION) {
            let mut in_flight = self.in_flight.write().await;
            let chunk: Vec<(&(Arc<str>, i64), &Bucket)> =
                ids.iter().filter_map(|id| in_flight.get_key_value(id)).collect();
            store.add_usage(&chunk, catalog).await?;
            written += chunk.len();
            for id in ids {
                in_flight.remove(id);
            }
        }
        self.mark_flushed();
        Ok(written)
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
    if into.is_empty() {
        *into = from;
        return;
    }
    for (k, b) in from {
        into.entry(k).or_default().absorb(b);
    }
}

/// A flush may take at most one part in this many of the time: with many
/// keys in use a flush writes rows for each of them, and flushing every
/// second would cost a large share of the CPU that verifications need.
const FLUSH_SHARE: u32 = 20;

/// The wait before the next flush: `base`, or longer when the last flush
/// took more than 1/[`FLUSH_SHARE`] of `base`, up to `max`. A longer wait
/// gathers more uses of each key into one row, so the next flush writes
/// fewer rows per verification; counts stay visible at once on this node,
/// and other nodes see them after the wait.
pub fn next_wait(base: Duration, max: Duration, last_flush_took: Duration) -> Duration {
    base.max(last_flush_took * (FLUSH_SHARE - 1)).min(max.max(base))
}

/// The default of `usage_flush_max_ms`.
pub const DEFAULT_FLUSH_MAX_MS: u64 = 30_000;

/// How often the flush loop flushes.
#[derive(Debug, Clone, Copy)]
pub struct FlushPace {
    /// Between flushes when flushing is cheap.
    pub base: Duration,
    /// The longest wait, however long flushes take.
    pub max: Duration,
}

/// Flushes until `shutdown`, then once more; waits between flushes as
/// [`next_wait`] says.
pub async fn flush_loop(
    recorder: Arc<Recorder>,
    store: Store,
    catalog: Arc<LiveCatalog>,
    pace: FlushPace,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = pace.base;
    loop {
        recorder
            .flush_interval_ms
            .store(wait.as_millis() as u64, Ordering::Relaxed);
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let started = Instant::now();
        match recorder.flush(&store, &catalog).await {
            Ok(key_hours) => {
                let took = started.elapsed();
                wait = next_wait(pace.base, pace.max, took);
                tracing::debug!(
                    key_hours,
                    took_ms = took.as_millis() as u64,
                    next_in_ms = wait.as_millis() as u64,
                    "usage flushed"
                );
            }
            Err(e) => {
                wait = next_wait(pace.base, pace.max, started.elapsed());
                tracing::warn!(error = %e, "usage flush failed; counts kept for the next one");
            }
        }
    }
    // The last chance for these counts: a storage blip (a failover, a
    // backup holding SQLite's lock) gets a few seconds to pass.
    for attempt in 1..=FINAL_FLUSH_ATTEMPTS {
        match recorder.flush(&store, &catalog).await {
            Ok(_) => return,
            Err(e) if attempt < FINAL_FLUSH_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "final usage flush failed; trying again");
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
            }
            Err(e) => {
                let lost = recorder.in_flight.read().await.len();
                tracing::error!(error = %e, key_hours = lost, "final usage flush failed: these counts are lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flush_waits_its_base_unless_flushing_took_more_than_its_share() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(next_wait(base, max, Duration::from_millis(3)), base);
        assert_eq!(next_wait(base, max, Duration::from_millis(50)), base);
        assert_eq!(
            next_wait(base, max, Duration::from_millis(100)),
            Duration::from_millis(1900)
        );
        assert_eq!(next_wait(base, max, Duration::from_secs(5)), max);
        // A maximum below the base never shortens the base.
        assert_eq!(next_wait(base, Duration::from_millis(10), Duration::from_secs(5)), base);
    }

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
