//! Memory per cached key (the verification cache, resident set growth
//! while it fills) and per stored key (SQLite file bytes, PostgreSQL table
//! and index bytes), with 100,000 and 1,000,000 keys, to choose the default
//! cache capacity. Not a criterion bench: it prints one table.
//!
//! The keys are real: generated as `keyward` generates them, stored with
//! their digests, then presented one by one so the cache fills as a
//! server's does. The bench uses mimalloc, as the `keyward` binary does.
//!
//! Run: `cargo bench -p keyward-benches --bench memory`
//! (PostgreSQL from `KEYWARD_TEST_POSTGRES_URL`, default the local server.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/keys.rs"]
mod keys;
#[path = "support/postgres.rs"]
mod postgres;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use keyward::store::Store;
use keyward::time::Millis;
use keyward::verify::{Authentication, CacheSettings, Verifier};
use keyward_scopes::Catalog;

/// mimalloc, counting the bytes live on the heap: the resident set also
/// holds memory the allocator keeps after it was freed (a lookup's
/// buffers), so it overstates what the cache itself holds.
struct Live;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed on to mimalloc unchanged.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's contract is mimalloc's.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above, i.e. from mimalloc.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

const SIZES: [usize; 2] = [100_000, 1_000_000];

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

async fn stored_postgres(keys: &[keys::RealKey]) -> u64 {
    let url = postgres::fresh_database("keyward_bench_memory").await;
    let store = Store::open_postgres(&url).await.unwrap();
    store.close().await;
    keys::fill_postgres(&url, keys).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('keys')")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    bytes as u64
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalogs/coldsend.toml");
    let catalog = keyward::catalog::LiveCatalog::fixed(
        Catalog::from_toml(path, &std::fs::read_to_string(path).unwrap()).unwrap(),
    );
    println!("| keys | cache: heap growth | per cached key (heap) | RSS growth | per cached key (RSS) | SQLite file | per stored key (SQLite) | PostgreSQL `keys` | per stored key (PostgreSQL) | fill time |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let keys = keys::generate(n);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keyward.db");
        let store = rt.block_on(Store::open_sqlite(&db)).unwrap();
        rt.block_on(keys::fill_sqlite(&db, &keys));
        let file = std::fs::metadata(&db).unwrap().len();
        let settings = CacheSettings {
            capacity: n as u64,
            // Long enough that nothing expires while the cache fills.
            ttl: Duration::from_secs(3600),
            ..CacheSettings::default()
        };
        let verifier = Verifier::new(catalog.clone(), store.clone(), &settings);
        let before = resident_bytes();
        let live_before = LIVE.load(Ordering::Relaxed);
        let started = Instant::now();
        for (plaintext, _, _) in &keys {
            let answer = rt.block_on(verifier.authenticate(plaintext, Millis::now(), &verifier.catalog()));
            assert!(matches!(answer, Authentication::Key(..)), "a stored key was not found");
        }
        let fill = started.elapsed();
        // The cache's TTL is capped at 60 s (docs/SECURITY.md): a fill
        // slower than that loses its first entries, so the figures are per
        // key actually held.
        let cached = verifier.cached_keys().max(1);
        let grown = resident_bytes().saturating_sub(before);
        let heap = (LIVE.load(Ordering::Relaxed) - live_before).max(0) as u64;
        let pg = rt.block_on(stored_postgres(&keys));
        println!(
            "| {n} ({cached} cached) | {:.1} MiB | {} B | {:.1} MiB | {} B | {:.1} MiB | {} B | {:.1} MiB | {} B | {:.1} s |",
            heap as f64 / 1048576.0,
            heap / cached,
            grown as f64 / 1048576.0,
            grown / cached,
            file as f64 / 1048576.0,
            file / n as u64,
            pg as f64 / 1048576.0,
            pg / n as u64,
            fill.as_secs_f64()
        );
        drop(verifier);
        rt.block_on(store.close());
    }
}
