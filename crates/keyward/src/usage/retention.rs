//! Keeps the usage tables bounded (issue 13; docs/KEYS.md defines the windows): hourly rows stay
//! as long as a usage answer reads them (the 24 h, 7 d and 30 d windows
//! and the 30-day chart count by the hour, so their answers stay exact),
//! plus a day; then they become daily rows, which are deleted after
//! `usage_retention_days`. Every node sweeps every few minutes, in batches
//! small enough that flushes (and the SQLite writer) never wait long;
//! verification never touches these tables.

use std::time::Duration;

use crate::store::{Hourly, Store, StoreError};
use crate::time::Millis;

use super::DAY_MS;

/// How long hourly rows are kept: the 30-day window and chart, and a day.
pub const HOURLY_KEPT_MS: i64 = 31 * DAY_MS;
/// The shortest retention: daily rows start where hourly rows end.
pub const MIN_RETENTION_DAYS: u32 = 31;
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// Rows per batch (one short transaction each).
pub const BATCH: i64 = 1000;
/// Between sweeps.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(600);
/// Between batches of one sweep, so that other writers get their turn.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Hourly rows rolled up into days.
    pub hourly: u64,
    /// Per-scope hourly rows rolled up into days.
    pub scopes: u64,
    /// Daily rows deleted past retention.
    pub daily_deleted: u64,
}

/// Rolls up and deletes everything due at `now`, a batch at a time.
pub async fn sweep(store: &Store, now: Millis, retention_days: u32) -> Result<Swept, StoreError> {
    let hourly_before = now.0 - HOURLY_KEPT_MS;
    let today = now.0 - now.0.rem_euclid(DAY_MS);
    let daily_before = today - i64::from(retention_days) * DAY_MS;
    let mut swept = Swept::default();
    for (which, total) in [(Hourly::Counts, &mut swept.hourly), (Hourly::Scopes, &mut swept.scopes)] {
        loop {
            let moved = store.roll_up(which, hourly_before, BATCH).await?;
            *total += moved;
            if moved < BATCH as u64 {
                break;
            }
            tokio::time::sleep(BETWEEN_BATCHES).await;
        }
    }
    loop {
        let deleted = store.delete_daily_before(daily_before, BATCH).await?;
        swept.daily_deleted += deleted;
        if deleted == 0 {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    Ok(swept)
}

/// Sweeps every [`SWEEP_INTERVAL`] (the first soon after start) until
/// `shutdown`.
pub async fn sweep_loop(store: Store, retention_days: u32, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut wait = Duration::from_secs(30);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = SWEEP_INTERVAL;
        match sweep(&store, Millis::now(), retention_days).await {
            Ok(swept) if swept != Swept::default() => {
                tracing::info!(?swept, "usage rolled up and expired");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "usage roll-up failed; retrying at the next sweep"),
        }
    }
}
