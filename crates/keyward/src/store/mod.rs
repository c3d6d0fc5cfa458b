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

/// Runs the same code on whichever pool the store has. Through a
/// transaction pooler the code runs in a transaction of its own (see
/// [`Store::begin_pooled`]), so that its statements stay on one server
/// connection.
macro_rules! on_backend {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres(pool) if $store.transaction_pooled => {
                let mut tx = $crate::store::Store::begin_pooled(pool).await?;
                let out = {
                    let $pool = &mut *tx;
                    $body
                };
                tx.commit().await?;
                out
            }
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
                let mut $tx = if $store.transaction_pooled {
                    $crate::store::Store::begin_pooled(pool).await?
                } else {
                    pool.begin().await?
                };
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
mod retention;
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
pub use retention::Hourly;
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
            E::Database(db) => {
                if matches!(db.code().as_deref(), Some("26000" | "42P05")) && db.message().contains("sqlx_s_") {
                    hint_transaction_pooler();
                }
                StoreError::Refused(e)
            }
            _ => StoreError::Unexpected(e),
        }
    }
}

/// A prepared statement of ours missing or already there means a
/// transaction pooler moved us to another server connection: say what to
/// set (once).
fn hint_transaction_pooler() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            "PostgreSQL lost this connection's prepared statements: a pooler in transaction mode \
             (PgBouncer pool_mode = transaction) stands in front of it; set database_pooler = \"transaction\" \
             and database_listener_url to a direct connection"
        );
    });
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
    /// PostgreSQL is reached through a transaction pooler.
    pub(crate) transaction_pooled: bool,
    /// PostgreSQL: the pool of the one connection that listens for changes.
    listener: Option<PgPool>,
}

/// What stands between keyward and PostgreSQL on `database_url`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// PostgreSQL itself, or a pooler in session mode.
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`):
    /// a server connection lasts one transaction, so every statement runs in
    /// one and no prepared statement outlives it; LISTEN goes through
    /// `database_listener_url`.
    Transaction,
}

/// How keyward connects to PostgreSQL (docs/DEPLOYMENT.md).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The one connection that LISTENs for changes: direct or
    /// session-pooled. `None`: `database_url` (refused with a transaction
    /// pooler).
    pub listener_url: Option<String>,
    pub pooler: Pooler,
    /// The pool's size on `database_url` (the listener is one more).
    pub max_connections: u32,
}

/// Ten nodes with their listeners (10 x (8 + 1)) fit PostgreSQL's default
/// `max_connections` of 100 with its 3 reserved connections to spare.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 8;

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            listener_url: None,
            pooler: Pooler::None,
            max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
        }
    }
}

impl std::fmt::Debug for PostgresSettings {
    /// URLs may carry a password: never print one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("listener_url", &self.listener_url.as_deref().map(redact_url))
            .field("pooler", &self.pooler)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Where the store is: the embedded SQLite file or a PostgreSQL URL.
#[derive(Clone)]
pub enum Location {
    Embedded { data_dir: PathBuf },
    Postgres { url: String, settings: PostgresSettings },
}

impl std::fmt::Debug for Location {
    /// URLs may carry a password: never print one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Embedded { data_dir } => write!(f, "Embedded({})", data_dir.display()),
            Location::Postgres { url, settings } => write!(f, "Postgres({}, {settings:?})", redact_url(url)),
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
    pub fn new(data_dir: &Path, database_url: Option<&str>, settings: PostgresSettings) -> Result<Location, String> {
        match database_url {
            Some(url) if url.starts_with("sqlite:") => Err(format!(
                "database URL `{url}`: the embedded SQLite database is chosen by giving no database URL; its directory is --data-dir"
            )),
            Some(url) => Ok(Location::Postgres {
                url: url.to_owned(),
                settings,
            }),
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
            Location::Postgres { url, settings } => Store::open_postgres_with(url, settings).await,
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
        private_database_files(path).map_err(|source| StoreError::DataDir {
            path: path.to_owned(),
            source,
        })?;
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
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        // An older binary starts on a file a newer one migrated.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
            sqlite_writer: Arc::default(),
            transaction_pooled: false,
            listener: None,
        })
    }

    /// Connects to PostgreSQL with the default settings and migrates the
    /// database.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Store::open_postgres_with(url, &PostgresSettings::default()).await
    }

    /// Connects to PostgreSQL and migrates the database. The listener's
    /// connection is made when the change feed first listens.
    pub async fn open_postgres_with(url: &str, settings: &PostgresSettings) -> Result<Store, StoreError> {
        let transaction_pooled = settings.pooler == Pooler::Transaction;
        let mut options = pg_options(url)?;
        if transaction_pooled {
            // No statement is cached across transactions: the next one may
            // run on another server connection.
            options = options.statement_cache_capacity(0);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            // During an outage a management request answers 503 within
            // this (connecting included), not after a client's timeout.
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrate_postgres(&pool, transaction_pooled).await?;
        let listener_options = pg_options(settings.listener_url.as_deref().unwrap_or(url))?;
        // The listener reconnects through this pool of one, which never
        // expires its connection.
        let listener = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_lazy_with(listener_options);
        Ok(Store {
            backend: Backend::Postgres(pool),
            sqlite_writer: Arc::default(),
            transaction_pooled,
            listener: Some(listener),
        })
    }

    /// A transaction through a transaction pooler. Its first statement
    /// drops the prepared statements an earlier client left on this server
    /// connection: statements are named per client connection
    /// (`sqlx_s_1`...), so another client's leftovers would collide.
    pub(crate) async fn begin_pooled(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED; DEALLOCATE ALL")
            .await
    }

    /// The newest migration applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = on_backend!(self, pool => sqlx::query_scalar(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(pool)
        .await?);
        Ok(version.unwrap_or(0))
    }

    /// Writes a consistent copy of the SQLite database to `file` (`VACUUM
    /// INTO`: a read transaction, so writers go on; the copy is compact and
    /// needs no WAL file beside it).
    pub async fn backup_sqlite(&self, file: &str) -> Result<(), StoreError> {
        if let Backend::Sqlite(pool) = &self.backend {
            // Made empty and private first (VACUUM INTO takes an empty
            // file): the copy holds every key's digest, and SQLite would
            // create it readable by all.
            create_private_file(Path::new(file)).map_err(|source| StoreError::DataDir {
                path: file.into(),
                source,
            })?;
            if let Err(e) = sqlx::query("VACUUM INTO $1").bind(file).execute(pool).await {
                let _ = std::fs::remove_file(file);
                return Err(e.into());
            }
        }
        Ok(())
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
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
        if let Some(listener) = &self.listener {
            listener.close().await;
        }
    }
}

/// The advisory lock every node takes to migrate: one node migrates, the
/// others wait and then find nothing to do.
const MIGRATION_LOCK: i64 = 0x006b_6579_7761_7264; // "keyward" in ASCII

/// PostgreSQL connection options from a URL, without the startup
/// parameter (`extra_float_digits`) PgBouncer refuses unless configured to
/// ignore it: keyward reads no floating-point column.
fn pg_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(url)?.extra_float_digits(None))
}

/// Applies the migrations in one transaction that holds a transaction-scoped
/// advisory lock: unlike a session lock (sqlx's own), it works through a
/// transaction pooler and is released however the transaction ends.
/// PostgreSQL's DDL is transactional, so an upgrade applies whole or not
/// at all.
async fn migrate_postgres(pool: &PgPool, transaction_pooled: bool) -> Result<(), StoreError> {
    // READ COMMITTED whatever the database's default: a node that waited
    // for the lock must see what the node before it committed.
    let mut tx = if transaction_pooled {
        Store::begin_pooled(pool).await?
    } else {
        pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?
    };
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.set_locking(false);
    // A node of the previous version starts against a schema a newer one
    // migrated (migrations only add), so that upgrades can roll.
    migrator.set_ignore_missing(true);
    // `run_direct`: `run` on a borrowed connection makes a future that is
    // not `Send`.
    migrator.run_direct(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
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

/// The database file, and the WAL and shared-memory files SQLite makes
/// beside it with the same mode, readable by their owner only: created so
/// when missing (SQLite would make them 0644), and made so if an earlier
/// version left them readable by others.
fn private_database_files(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !path.exists() {
            match create_private_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            match std::fs::metadata(file) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A new, empty file only its owner may read and write.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
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
            settings: PostgresSettings {
                listener_url: Some("postgres://u:hunter3@direct/k".into()),
                ..PostgresSettings::default()
            },
        };
        let shown = format!("{l:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
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
        let e = Location::new(Path::new("d"), Some("sqlite:./keys.db"), PostgresSettings::default()).unwrap_err();
        assert!(e.contains("--data-dir"), "{e}");
        assert!(matches!(
            Location::new(Path::new("d"), None, PostgresSettings::default()),
            Ok(Location::Embedded { .. })
        ));
    }
}
