//! The usage tables after a year (issue 13): keys used every hour of 365
//! days, with one scope each hour, stored as the flushes store them; the
//! tables' rows and bytes without the roll-up, then after one sweep
//! (`usage::retention::sweep`, as every node runs it every 10 minutes), on
//! SQLite and PostgreSQL. Measured with `KEYS` keys and scaled linearly to
//! 100,000 (every row is per key). Not a criterion bench: it prints a table.
//!
//! Run: `cargo bench -p keyward-benches --bench usage_tables`
//! (PostgreSQL from `KEYWARD_TEST_POSTGRES_URL`, default the local server.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/postgres.rs"]
mod postgres;

use std::time::Instant;

use keyward::store::Store;
use keyward::time::Millis;
use keyward::usage::retention::sweep;
use keyward::usage::{DAY_MS, HOUR_MS};

const KEYS: i64 = 100;
const DAYS: i64 = 365;
const SCALE: f64 = 100_000.0 / KEYS as f64;
const TABLES: [&str; 4] = ["usage_hourly", "usage_scopes", "usage_daily", "usage_scopes_daily"];

enum Db {
    Sqlite(sqlx::SqlitePool, std::path::PathBuf),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn execute(&self, sql: &str) {
        match self {
            Db::Sqlite(pool, _) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
    }

    /// Rows and bytes (table and indexes) of each usage table.
    async fn sizes(&self) -> Vec<(&'static str, i64, i64)> {
        let mut out = Vec::new();
        for table in TABLES {
            let count = format!("SELECT COUNT(*) FROM {table}");
            let (rows, bytes): (i64, i64) = match self {
                Db::Sqlite(pool, _) => {
                    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .execute(pool)
                        .await
                        .unwrap();
                    let rows = sqlx::query_scalar(&count).fetch_one(pool).await.unwrap();
                    // dbstat: the pages of the table and of its indexes.
                    let bytes: Option<i64> = sqlx::query_scalar(
                        "SELECT SUM(pgsize) FROM dbstat WHERE name = $1 OR name IN \
                         (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1)",
                    )
                    .bind(table)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    (rows, bytes.unwrap_or(0))
                }
                Db::Postgres(pool) => {
                    sqlx::query(&format!("VACUUM {table}")).execute(pool).await.unwrap();
                    let rows = sqlx::query_scalar(&count).fetch_one(pool).await.unwrap();
                    let bytes = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
                        .bind(table)
                        .fetch_one(pool)
                        .await
                        .unwrap();
                    (rows, bytes)
                }
            };
            out.push((table, rows, bytes));
        }
        out
    }

    async fn file_bytes(&self) -> Option<u64> {
        match self {
            Db::Sqlite(_, path) => Some(std::fs::metadata(path).unwrap().len()),
            Db::Postgres(_) => None,
        }
    }
}

/// A year of hourly usage for every key, as flushes write it.
async fn fill(db: &Db, now: Millis) {
    let last = now.0 - now.0.rem_euclid(HOUR_MS);
    let first = last - DAYS * DAY_MS;
    let hours: Vec<i64> = (0..DAYS * 24).map(|h| first + h * HOUR_MS).collect();
    for key in 0..KEYS {
        for chunk in hours.chunks(1000) {
            let counts: Vec<String> = chunk
                .iter()
                .map(|h| format!("('key_{key:020}', {h}, {}, {})", 10 + h % 7, h % 3))
                .collect();
            db.execute(&format!(
                "INSERT INTO usage_hourly (key_id, hour, allowed, denied) VALUES {}",
                counts.join(", ")
            ))
            .await;
            let scopes: Vec<String> = chunk
                .iter()
                .map(|h| format!("('key_{key:020}', {h}, 'campaigns:read', {})", 10 + h % 7))
                .collect();
            db.execute(&format!(
                "INSERT INTO usage_scopes (key_id, hour, scope, count) VALUES {}",
                scopes.join(", ")
            ))
            .await;
        }
    }
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
}

fn print(store: &str, when: &str, sizes: &[(&str, i64, i64)]) {
    for (table, rows, bytes) in sizes {
        // An empty table's few pages do not scale with keys.
        let scaled = if *rows == 0 {
            "-".to_owned()
        } else {
            mib(*bytes as f64 * SCALE)
        };
        println!(
            "| {store} | {when} | `{table}` | {rows} | {} | {:.0} | {scaled} |",
            mib(*bytes as f64),
            *rows as f64 * SCALE,
        );
    }
}

async fn measure(store_name: &str, store: Store, db: Db) {
    let now = Millis::now();
    let started = Instant::now();
    fill(&db, now).await;
    eprintln!("{store_name}: filled in {:.1?}", started.elapsed());
    print(store_name, "a year, no roll-up", &db.sizes().await);
    let started = Instant::now();
    let swept = sweep(&store, now, 400).await.unwrap();
    eprintln!("{store_name}: swept {swept:?} in {:.1?}", started.elapsed());
    // Give the freed space back, to show what a deployment that always
    // swept holds (a running one reuses the space instead of growing).
    match &db {
        Db::Sqlite(pool, _) => {
            sqlx::query("VACUUM").execute(pool).await.unwrap();
        }
        Db::Postgres(pool) => {
            for table in TABLES {
                sqlx::query(&format!("VACUUM FULL {table}"))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
    print(store_name, "after the sweep (compacted)", &db.sizes().await);
    if let Some(bytes) = db.file_bytes().await {
        eprintln!("{store_name}: database file {} after VACUUM", mib(bytes as f64));
    }
    store.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "| store | when | table | rows ({KEYS} keys) | bytes ({KEYS} keys) | rows (100k keys) | bytes (100k keys) |"
        );
        println!("|---|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        measure("SQLite", store, Db::Sqlite(pool, path.clone())).await;

        let url = postgres::fresh_database("keyward_bench_usage_tables").await;
        let store = Store::open_postgres(&url).await.unwrap();
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        measure("PostgreSQL", store, Db::Postgres(pool)).await;
    });
}
