//! The dashboard's keys page of an account with 10,000 keys (9,000 active,
//! 1,000 revoked, each with a day of usage), on SQLite and PostgreSQL: the
//! whole request through the router, as a signed-in operator sends it,
//! next to the JSON API's first page of the same keys in the same run.
//!
//! Run: `cargo bench -p keyward-benches --bench pages`
//! (PostgreSQL from `KEYWARD_TEST_POSTGRES_URL`, default the local server.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use keyward::config::{ServerConfig, ServerFlags, ServerTable};
use keyward::http::AppState;
use keyward::keys::KeyName;
use keyward::services::Services;
use keyward::store::Store;
use keyward::usage::Recorder;
use keyward::verify::Verifier;
use keyward_scopes::Catalog;
use tower::ServiceExt;

const KEYS: i64 = 10_000;
const REVOKED: i64 = 1_000;

/// 10,000 keys of `acme` (the last 1,000 revoked) with an hour of usage
/// each, written by SQL (the service would take minutes).
const BULK: [&str; 2] = [
    "INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by, revoked_at, revoked_by) \
     SELECT 'key_' || lpad(i::text, 20, '0'), 'acme', 'Key ' || i, 'live', '[\"campaigns:read\",\"leads:all\"]', sha256(('k' || i)::bytea), \
     'cs_live_AbCd', '{}', 1700000000000 + i, 'bench', CASE WHEN i > $1 - $2 THEN 1800000000000 END, \
     CASE WHEN i > $1 - $2 THEN 'bench' END FROM generate_series(1, $1) AS i",
    "INSERT INTO usage_hourly (key_id, hour, allowed, denied) \
     SELECT 'key_' || lpad(i::text, 20, '0'), $3, 5, 1 FROM generate_series(1, $1) AS i",
];

const BULK_SQLITE: [&str; 2] = [
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1) \
     INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by, revoked_at, revoked_by) \
     SELECT printf('key_%020d', i), 'acme', 'Key ' || i, 'live', '[\"campaigns:read\",\"leads:all\"]', randomblob(32), \
     'cs_live_AbCd', '{}', 1700000000000 + i, 'bench', CASE WHEN i > $1 - $2 THEN 1800000000000 END, \
     CASE WHEN i > $1 - $2 THEN 'bench' END FROM s",
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1) \
     INSERT INTO usage_hourly (key_id, hour, allowed, denied) SELECT printf('key_%020d', i), $3, 5, 1 FROM s",
];

struct Setup {
    router: axum::Router,
    cookie: String,
    management_key: String,
    _dir: Option<tempfile::TempDir>,
}

async fn setup(kind: &str) -> Setup {
    let hour = keyward::time::Millis::now().0 / 3_600_000 * 3_600_000;
    let (store, dir) = if kind == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for sql in BULK_SQLITE {
            sqlx::query(sql)
                .bind(KEYS)
                .bind(REVOKED)
                .bind(hour)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
        (store, Some(dir))
    } else {
        let url = postgres::fresh_database("keyward_bench_pages").await;
        let store = Store::open_postgres(&url).await.unwrap();
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        for sql in BULK {
            sqlx::query(sql)
                .bind(KEYS)
                .bind(REVOKED)
                .bind(hour)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        pool.close().await;
        (store, None)
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalogs/coldsend.toml");
    let catalog = keyward::catalog::LiveCatalog::fixed(
        Catalog::from_toml(path, &std::fs::read_to_string(path).unwrap()).unwrap(),
    );
    let config = ServerConfig::layered(ServerTable::default(), ServerFlags::default()).unwrap();
    let verifier = Arc::new(Verifier::new(catalog, store.clone(), &config.cache));
    let services = Services::for_server(&store, &verifier, Arc::new(Recorder::new(true)), &config);
    let (record, secret) =
        keyward::keys::management::create_management_key(&store, KeyName::parse("bench").unwrap(), None, "bench")
            .await
            .unwrap();
    let (session, _) = services.sessions.sign_in(&record).await.unwrap();
    let state = AppState::new(services, verifier, config, ([127, 0, 0, 1], 8080).into()).unwrap();
    Setup {
        router: keyward::http::router(Arc::new(state)),
        cookie: format!("keyward_dashboard={}", session.reveal()),
        management_key: secret.reveal().to_owned(),
        _dir: dir,
    }
}

async fn get(router: &axum::Router, path: &str, header: (&str, &str)) -> usize {
    let request = Request::get(path)
        .header(header.0, header.1)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    body.len()
}

fn pages(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("keys_page_10k");
    group.sample_size(30);
    for kind in ["sqlite", "postgres"] {
        let setup = rt.block_on(setup(kind));
        let bytes = rt.block_on(get(
            &setup.router,
            "/dashboard/accounts/acme/keys",
            ("cookie", &setup.cookie),
        ));
        assert!(bytes > 10_000, "the page is too small to hold 40 rows: {bytes} bytes");
        group.bench_function(format!("{kind}/page"), |b| {
            b.to_async(&rt).iter(|| {
                get(
                    &setup.router,
                    "/dashboard/accounts/acme/keys",
                    ("cookie", &setup.cookie),
                )
            })
        });
        let bearer = format!("Bearer {}", setup.management_key);
        group.bench_function(format!("{kind}/api_first_page_of_20"), |b| {
            b.to_async(&rt).iter(|| {
                get(
                    &setup.router,
                    "/v1/keys?account=acme&limit=20",
                    ("authorization", &bearer),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
