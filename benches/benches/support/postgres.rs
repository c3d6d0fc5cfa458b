//! A fresh PostgreSQL database for a bench (included by the benches that
//! need one with `#[path]`).

/// The server's admin URL: `KEYWARD_TEST_POSTGRES_URL`, default the local one.
pub fn admin_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops and creates database `name`; returns its URL.
pub async fn fresh_database(name: &str) -> String {
    let admin_url = admin_url();
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is unreachable at {admin_url}: {e}"));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
