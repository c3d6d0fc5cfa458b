//! Real keys for benches: generated as `keyward` generates them (their
//! plaintexts kept for presenting), stored as keyward stores them (by
//! digest), in bulk. Included by the benches that need them with `#[path]`.

use keyward::keys::format;
use keyward::time::Millis;

const INSERT: &str = "INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by) \
                      VALUES ($1, $2, 'Production Backend', 'live', '[\"campaigns:read\",\"leads:all\"]', $3, $4, '{}', $5, 'management_key:mk_bench')";

/// A key: its plaintext, its digest and its displayed start.
pub type RealKey = (String, Vec<u8>, String);

/// `n` keys of ColdSend's format (`cs_live_...`).
pub fn generate(n: usize) -> Vec<RealKey> {
    (0..n)
        .map(|_| {
            let secret = format::generate("cs", "live").unwrap();
            (
                secret.reveal().to_owned(),
                secret.hash().as_bytes().to_vec(),
                secret.start(),
            )
        })
        .collect()
}

/// Stores `keys` (granted `campaigns:read` and `leads:all`, in 10,000
/// accounts) in the migrated SQLite database at `path`.
pub async fn fill_sqlite(path: &std::path::Path, keys: &[RealKey]) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for (i, (_, hash, start)) in keys.iter().enumerate() {
        insert(&mut *tx, i, hash, start).await;
    }
    tx.commit().await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The same in the migrated PostgreSQL database at `url`.
pub async fn fill_postgres(url: &str, keys: &[RealKey]) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    for (c, chunk) in keys.chunks(10_000).enumerate() {
        let mut tx = pool.begin().await.unwrap();
        for (j, (_, hash, start)) in chunk.iter().enumerate() {
            insert(&mut *tx, c * 10_000 + j, hash, start).await;
        }
        tx.commit().await.unwrap();
    }
    sqlx::query("VACUUM ANALYZE keys").execute(&pool).await.unwrap();
    pool.close().await;
}

async fn insert<'c, E>(executor: E, i: usize, hash: &[u8], start: &str)
where
    E: sqlx::Executor<'c>,
    for<'q> <E::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, E::Database>,
    for<'q> String: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q [u8]: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> i64: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
{
    sqlx::query(INSERT)
        .bind(format!("key_{i:020}"))
        .bind(format!("acct_{}", i % 10_000))
        .bind(hash)
        .bind(start)
        .bind(Millis::now().0)
        .execute(executor)
        .await
        .unwrap();
}
