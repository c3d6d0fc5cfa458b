//! Stores for tests: a fresh SQLite file, or a fresh PostgreSQL database
//! per test (from `KEYWARD_TEST_POSTGRES_URL`), so tests run in parallel.

use keyward::keys::KeyService;
use keyward::store::Store;
use keyward_scopes::Catalog;

pub enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps what a test store needs alive; drops the PostgreSQL database at
/// the end of a test that did not panic.
pub struct TestStore {
    pub store: Store,
    pub sqlite_dir: Option<tempfile::TempDir>,
    pub pg_database: Option<(String, String)>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open_sqlite(&dir.path().join("keyward.db")).await.unwrap();
                TestStore {
                    store,
                    sqlite_dir: Some(dir),
                    pg_database: None,
                }
            }
            Backend::Postgres => {
                let (url, admin_url, name) = fresh_postgres_database().await;
                let store = Store::open_postgres(&url).await.unwrap();
                TestStore {
                    store,
                    sqlite_dir: None,
                    pg_database: Some((admin_url, name)),
                }
            }
        }
    }

    /// A second connection pool to the same store: another node's.
    pub async fn another_node(&self) -> Store {
        match (&self.sqlite_dir, &self.pg_database) {
            (Some(dir), _) => Store::open_sqlite(&dir.path().join("keyward.db")).await.unwrap(),
            (_, Some((admin, name))) => Store::open_postgres(&database_url(admin, name)).await.unwrap(),
            _ => unreachable!(),
        }
    }

    pub fn service(&self, catalog: &str) -> KeyService {
        KeyService::new(
            self.store.clone(),
            keyward::catalog::LiveCatalog::fixed(catalog_named(catalog)),
        )
    }

    /// The URL other processes (the CLI) use to reach the same store.
    pub fn cli_args(&self) -> Vec<String> {
        match (&self.sqlite_dir, &self.pg_database) {
            (Some(dir), _) => vec!["--data-dir".into(), dir.path().to_string_lossy().into_owned()],
            (_, Some((admin, name))) => vec!["--database-url".into(), database_url(admin, name)],
            _ => unreachable!(),
        }
    }

    /// Runs SQL on a connection of the test's own, as an operator with a
    /// SQL shell would.
    pub async fn raw_execute(&self, sql: &str) -> Result<(), String> {
        self.raw_sql(sql).await.map_err(|e| e.to_string())
    }

    /// [`Self::raw_execute`], with the database's own error.
    pub async fn raw_sql(&self, sql: &str) -> Result<(), sqlx::Error> {
        match (&self.sqlite_dir, &self.pg_database) {
            (Some(dir), _) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("keyward.db").display()))
                    .await
                    .unwrap();
                let r = sqlx::query(sql).execute(&pool).await.map(|_| ());
                pool.close().await;
                r
            }
            (_, Some((admin, name))) => {
                let pool = sqlx::PgPool::connect(&database_url(admin, name)).await.unwrap();
                let r = sqlx::query(sql).execute(&pool).await.map(|_| ());
                pool.close().await;
                r
            }
            _ => unreachable!(),
        }
    }

    /// Every row of every keyward table as text (PostgreSQL), or the raw
    /// bytes of the database files (SQLite), lossily decoded.
    pub async fn everything_stored(&self) -> String {
        match (&self.sqlite_dir, &self.pg_database) {
            (Some(dir), _) => {
                let mut all = String::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    // SQLite may remove its -wal/-shm files as it closes;
                    // their content is then in the main file.
                    if let Ok(bytes) = std::fs::read(entry.unwrap().path()) {
                        all.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                all
            }
            (_, Some((admin, name))) => {
                let pool = sqlx::PgPool::connect(&database_url(admin, name)).await.unwrap();
                let mut all = String::new();
                for table in [
                    "keys",
                    "management_keys",
                    "audit_events",
                    "web_sessions",
                    "portal_tokens",
                ] {
                    let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    all.push_str(&rows.join("\n"));
                }
                pool.close().await;
                all
            }
            _ => unreachable!(),
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = &self.pg_database {
            let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

pub fn catalog_named(name: &str) -> Catalog {
    let path = format!("{}/../../examples/catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Catalog::from_toml(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn postgres_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn database_url(admin_url: &str, name: &str) -> String {
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

/// Creates an empty database; fails the test, saying how to fix it, when
/// PostgreSQL is not reachable.
pub async fn fresh_postgres_database() -> (String, String, String) {
    let admin_url = postgres_url();
    let admin = match sqlx::PgPool::connect(&admin_url).await {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {admin_url}: {e}\n\
             These tests need it. Start it (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
             or point KEYWARD_TEST_POSTGRES_URL at a server where this user may create databases."
        ),
    };
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).unwrap();
    let name = format!(
        "keyward_test_{}",
        suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    (database_url(&admin_url, &name), admin_url, name)
}

/// Generates `sqlite::name` and `postgres::name` tests from one
/// `async fn name(t: &TestStore)`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = crate::support::TestStore::new(crate::support::Backend::Sqlite).await;
                    super::$name(&t).await;
                    t.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = crate::support::TestStore::new(crate::support::Backend::Postgres).await;
                    super::$name(&t).await;
                    t.finish().await;
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;
