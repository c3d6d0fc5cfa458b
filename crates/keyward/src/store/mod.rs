//! The key store: SQLite (embedded default, one file, WAL) or PostgreSQL
//! (shared by many nodes), behind one interface.
//!
//! Both backends run the same SQL text (`$1` placeholders, `RETURNING`) and
//! the versioned migrations in `migrations/<backend>/`, applied at open.
//! Write transactions take their locks first: `BEGIN IMMEDIATE` on SQLite
//! (so two processes never deadlock upgrading a read lock), `FOR UPDATE` on
//! PostgreSQL. Every change and its audit event commit together.
//!
//! The store never sees a key's plaintext: only its SHA-256 digest.

/// Runs the same code on whichever pool the store has.
macro_rules! on_backend {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a write transaction and commits it; an early return
/// (`?`) rolls back. `$lock` is the suffix that row-locks a `SELECT` on this
/// backend (empty on SQLite, whose `BEGIN IMMEDIATE` already holds the
/// write lock).
macro_rules! write_tx {
    ($store:expr, $tx:ident, $lock:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pool) => {
                let _writer = $store.sqlite_writer.lock().await;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $lock = "";
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let $lock = " FOR UPDATE";
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

mod audit;
pub mod changes;
mod keys;
mod management;
mod sessions;
mod usage;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use keys::{NewKeyRow, Rotation};
pub use management::NewManagementKey;
pub use sessions::{AccountRow, NewPortalToken, RedeemedLink, SessionRow};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Storage cannot be reached or cannot serve now (connection, pool,
    /// busy, a transaction the database rolled back): try again.
    #[error("storage is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused what keyward wrote (a constraint, or a trigger
    /// guarding revocation and the audit trail): a bug, never a retry.
    #[error("the database refused a write: {0}")]
    Refused(#[source] sqlx::Error),
    /// A query or its answer was not what keyward expects (a column of
    /// the wrong type, ...): a bug or a foreign schema.
    #[error("storage answered unexpectedly: {0}")]
    Unexpected(#[source] sqlx::Error),
    #[error("cannot prepare the database: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("stored data is not what keyward wrote: {0}")]
    Corrupt(String),
    #[error("storage is busy: too many lookups waiting")]
    Busy,
    #[error("storage did not answer in time")]
    TimedOut,
    #[error("the OS random generator failed: {0}")]
    Random(getrandom::Error),
}

impl StoreError {
    /// Whether trying again later may succeed (storage down, busy or slow),
    /// as opposed to a bug or corrupt data.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Busy | StoreError::TimedOut
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::Unavailable(e)
            }
            E::Database(db) if is_transient(database_of(db.as_ref()), db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            E::Database(_) => StoreError::Refused(e),
            _ => StoreError::Unexpected(e),
        }
    }
}

/// Which database an error came from: their codes overlap (PostgreSQL's
/// SQLSTATEs are often all digits, like SQLite's result codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Database {
    Postgres,
    Sqlite,
}

fn database_of(db: &dyn sqlx::error::DatabaseError) -> Database {
    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        Database::Postgres
    } else {
        Database::Sqlite
    }
}

/// Database error codes that say "not now" rather than "never": PostgreSQL
/// SQLSTATE classes 08 (connection), 40 (rolled back: serialization,
/// deadlock; not 40002, a constraint), 53 (resources), 57 (operator:
/// shutdown, cancel), 58 (system); SQLite BUSY, LOCKED, IOERR, FULL,
/// CANTOPEN and their extended codes.
fn is_transient(database: Database, code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    match database {
        Database::Postgres => {
            code != "40002"
                && ["08", "40", "53", "57", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
        }
        Database::Sqlite => code
            .parse::<u32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14)),
    }
}

impl From<getrandom::Error> for StoreError {
    fn from(e: getrandom::Error) -> Self {
        StoreError::Random(e)
    }
}

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// SQLite has one writer at a time: this process's writers queue here
    /// instead of sleeping in SQLite's busy handler (which only arbitrates
    /// between processes now).
    pub(crate) sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// Where the store is: the embedded SQLite file or a PostgreSQL URL.
#[derive(Clone)]
pub enum Location {
    Embedded { data_dir: PathBuf },
    Postgres { url: String },
}

impl std::fmt::Debug for Location {
    /// URLs may carry a password: never print one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Embedded { data_dir } => write!(f, "Embedded({})", data_dir.display()),
            Location::Postgres { url } => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`; a
/// password in the query string (`password=`, `sslpassword=`) too.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        // The last `@` ends the user part: a password may hold `@`.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_owned(),
            },
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("password") => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", pairs.join("&"))
        }
    }
}

impl Location {
    /// The embedded SQLite database in `data_dir`, or PostgreSQL at
    /// `database_url`. A `sqlite:` URL is refused rather than ignored: the
    /// embedded database is chosen by giving no URL.
    pub fn new(data_dir: &Path, database_url: Option<&str>) -> Result<Location, String> {
        match database_url {
            Some(url) if url.starts_with("sqlite:") => Err(format!(
                "database URL `{url}`: the embedded SQLite database is chosen by giving no database URL; its directory is --data-dir"
            )),
            Some(url) => Ok(Location::Postgres { url: url.to_owned() }),
            None => Ok(Location::Embedded {
                data_dir: data_dir.to_owned(),
            }),
        }
    }
}

pub const SQLITE_FILE: &str = "keyward.db";
/// How long a PostgreSQL request waits for a connection (the outage bound
/// of the management API).
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Embedded { data_dir } => Store::open_sqlite(&data_dir.join(SQLITE_FILE)).await,
            Location::Postgres { url } => Store::open_postgres(url).await,
        }
    }

    /// Opens (creating it if needed) the SQLite file and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Lookups stay flat as the key count grows only if the index
            // pages stay in memory: 16 MiB of page cache per connection and
            // the file mapped (shared through the OS page cache).
            .pragma("cache_size", "-16384")
            .pragma("mmap_size", "1073741824");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
            sqlite_writer: Arc::default(),
        })
    }

    /// Connects to PostgreSQL and migrates the database.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // During an outage a management request answers 503 within
            // this (connecting included), not after a client's timeout.
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            backend: Backend::Postgres(pool),
            sqlite_writer: Arc::default(),
        })
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Whether the store answers (for readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await);
    }
}

/// The account filter of a scope: `$n::text IS NULL OR account = $n`.
pub(crate) fn confined(scope: &crate::keys::AccountScope) -> Option<&str> {
    scope.confined_to().map(crate::keys::AccountId::as_str)
}

/// SQLite has no `::type` casts; PostgreSQL needs them to type a NULL
/// parameter in `$1 IS NULL`. The casts are the only difference.
pub(crate) fn sqlite_compatible(store: &Store, sql: &str) -> String {
    if store.is_embedded() {
        sql.replace("::text", "").replace("::bigint", "")
    } else {
        sql.to_owned()
    }
}

/// The data directory holds key digests and the first management key:
/// only its owner may read it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/k"),
            "postgres://u:***@db:5432/k"
        );
        assert_eq!(redact_url("postgres://u@db/k"), "postgres://u@db/k");
        assert_eq!(redact_url("postgres://u:p@ss@db/k"), "postgres://u:***@db/k");
        assert_eq!(
            redact_url("postgres://u@db/k?sslmode=require&password=hunter2&sslpassword=x"),
            "postgres://u@db/k?sslmode=require&password=***&sslpassword=***"
        );
        let l = Location::Postgres {
            url: "postgres://u:hunter2@db/k".into(),
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }

    #[test]
    fn error_codes_are_read_by_the_database_they_came_from() {
        use Database::{Postgres, Sqlite};
        for code in [
            "08006", "08001", "40001", "40P01", "53300", "53100", "57P01", "57014", "58030",
        ] {
            assert!(is_transient(Postgres, Some(code)), "{code}");
        }
        for code in ["23505", "23503", "P0001", "42501", "22021", "40002", "42P01"] {
            assert!(!is_transient(Postgres, Some(code)), "{code}");
        }
        for code in ["5", "6", "517", "262", "10", "13", "14"] {
            assert!(is_transient(Sqlite, Some(code)), "{code}");
        }
        for code in ["19", "2067", "1811", "1"] {
            assert!(!is_transient(Sqlite, Some(code)), "{code}");
        }
    }

    #[test]
    fn a_sqlite_url_is_refused_not_ignored() {
        let e = Location::new(Path::new("d"), Some("sqlite:./keys.db")).unwrap_err();
        assert!(e.contains("--data-dir"), "{e}");
        assert!(matches!(
            Location::new(Path::new("d"), None),
            Ok(Location::Embedded { .. })
        ));
    }
}
