//! The key store: lookup-by-digest latency (the verification path's only
//! storage read) and create throughput, on SQLite and PostgreSQL, with 10k
//! and 1M keys stored. The lookup must stay flat as the key count grows.
//!
//! Keys beyond the 100 created through the service are bulk-loaded with
//! SQL (random digests) so that the 1M setup takes seconds, not hours.
//!
//! Run: `cargo bench -p keyward-benches --bench store`
//! (PostgreSQL from `KEYWARD_TEST_POSTGRES_URL`, default the local server.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keyward::keys::{AccountScope, KeyHash, KeyService, NewKey};
use keyward::store::Store;
use keyward_scopes::Catalog;

const SIZES: [u64; 2] = [10_000, 1_000_000];
const KNOWN: usize = 100;

fn catalog() -> Arc<keyward::catalog::LiveCatalog> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalogs/coldsend.toml");
    keyward::catalog::LiveCatalog::fixed(Catalog::from_toml(path, &std::fs::read_to_string(path).unwrap()).unwrap())
}

struct Setup {
    service: KeyService,
    store: Store,
    known: Vec<KeyHash>,
    _dir: Option<tempfile::TempDir>,
}

async fn bulk_load(store_kind: &str, url: &str, n: u64) {
    let bulk_sqlite = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1) \
        INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by) \
        SELECT 'key_bulk' || i, 'acct' || (i % 1000), 'bulk', 'live', '[\"campaigns:read\"]', randomblob(32), \
        'cs_live_bulk', '{}', 0, 'bench' FROM s";
    let bulk_postgres = "INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by) \
        SELECT 'key_bulk' || i, 'acct' || (i % 1000), 'bulk', 'live', '[\"campaigns:read\"]', sha256(('bulk' || i)::bytea), \
        'cs_live_bulk', '{}', 0, 'bench' FROM generate_series(1, $1) AS i";
    if store_kind == "sqlite" {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(bulk_sqlite).bind(n as i64).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(bulk_postgres).bind(n as i64).execute(&pool).await.unwrap();
        sqlx::query("ANALYZE keys").execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn setup(store_kind: &str, n: u64) -> Setup {
    let (store, dir) = if store_kind == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        bulk_load("sqlite", &format!("sqlite://{}", path.display()), n - KNOWN as u64).await;
        (store, Some(dir))
    } else {
        let url = postgres::fresh_database(&format!("keyward_bench_{n}")).await;
        let store = Store::open_postgres(&url).await.unwrap();
        bulk_load("postgres", &url, n - KNOWN as u64).await;
        (store, None)
    };
    let service = KeyService::new(store.clone(), catalog());
    let mut known = Vec::new();
    for i in 0..KNOWN {
        let new = NewKey::parse(&format!("acct{i}"), "known", &["campaigns:read"], &service.catalog()).unwrap();
        let (_, secret) = service.create(new, "bench", &AccountScope::operator()).await.unwrap();
        known.push(secret.hash());
    }
    Setup {
        service,
        store,
        known,
        _dir: dir,
    }
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for kind in ["sqlite", "postgres"] {
        for n in SIZES {
            let started = std::time::Instant::now();
            let s = rt.block_on(setup(kind, n));
            eprintln!("{kind}: {n} keys stored in {:.1?}", started.elapsed());

            let mut lookups = c.benchmark_group(format!("lookup_by_digest/{kind}"));
            lookups.measurement_time(Duration::from_secs(5));
            let mut i = 0usize;
            lookups.bench_function(BenchmarkId::new("hit", n), |b| {
                b.to_async(&rt).iter(|| {
                    i = (i + 1) % KNOWN;
                    let hash = s.known[i];
                    let store = s.store.clone();
                    async move { assert!(store.find_key_by_hash(&hash).await.unwrap().is_some()) }
                })
            });
            lookups.bench_function(BenchmarkId::new("miss", n), |b| {
                b.to_async(&rt).iter(|| {
                    let store = s.store.clone();
                    async move { assert!(store.find_key_by_hash(&KeyHash([7; 32])).await.unwrap().is_none()) }
                })
            });
            lookups.finish();

            let mut creates = c.benchmark_group(format!("create/{kind}"));
            creates.measurement_time(Duration::from_secs(5)).sample_size(20);
            creates.throughput(Throughput::Elements(1));
            creates.bench_function(BenchmarkId::new("serial", n), |b| {
                b.to_async(&rt).iter(|| {
                    let svc = s.service.clone();
                    async move {
                        let new = NewKey::parse("acme", "k", &["*"], &svc.catalog()).unwrap();
                        svc.create(new, "bench", &AccountScope::operator()).await.unwrap();
                    }
                })
            });
            creates.throughput(Throughput::Elements(32));
            creates.bench_function(BenchmarkId::new("32_concurrent", n), |b| {
                b.to_async(&rt).iter(|| {
                    let svc = s.service.clone();
                    async move {
                        let tasks: Vec<_> = (0..32)
                            .map(|_| {
                                let svc = svc.clone();
                                tokio::spawn(async move {
                                    let new = NewKey::parse("acme", "k", &["*"], &svc.catalog()).unwrap();
                                    svc.create(new, "bench", &AccountScope::operator())
                                        .await
                                        .map(|_| ())
                                        .unwrap()
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                })
            });
            creates.finish();
            rt.block_on(s.store.close());
        }
    }
}

criterion_group!(benches, store);
criterion_main!(benches);
