//! What the `keys` and `admin` commands share: where the store is, which
//! catalog applies, who is acting, and how errors become exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use keyward_scopes::Catalog;

use super::EXIT_BAD_INPUT;
use crate::catalog::LiveCatalog;
use crate::keys::KeyError;
use crate::services::Services;
use crate::store::{Location, Pooler, PostgresSettings, Store};

/// The catalog used when there is neither `--config` nor `./keyward.toml`.
pub const DEMO_CATALOG: &str = include_str!("../../../../examples/catalogs/coldsend.toml");
pub const DEFAULT_CATALOG_FILE: &str = "keyward.toml";
pub const DEFAULT_DATA_DIR: &str = "keyward-data";

#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://...`); the embedded SQLite when absent.
    #[arg(long, env = "KEYWARD_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// What stands in front of PostgreSQL on the database URL: `none`, or
    /// `transaction` for a pooler in transaction mode (PgBouncer).
    #[arg(long, env = "KEYWARD_DATABASE_POOLER", value_enum, default_value_t = Pooler::None, global = true)]
    pub database_pooler: Pooler,
}

/// A command makes a few statements one after another: two connections.
const CLI_DATABASE_CONNECTIONS: u32 = 2;

impl StoreArgs {
    pub fn location(&self) -> Result<Location, String> {
        let settings = PostgresSettings {
            listener_url: None,
            pooler: self.database_pooler,
            max_connections: CLI_DATABASE_CONNECTIONS,
        };
        Location::new(&self.data_dir, self.database_url.as_deref(), settings)
    }
}

#[derive(Args, Clone, Debug)]
pub struct CatalogArgs {
    /// The catalog file (default: ./keyward.toml, else the built-in demo).
    #[arg(long, env = "KEYWARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

impl CatalogArgs {
    pub fn load(&self) -> Result<Catalog, String> {
        match &self.config {
            Some(path) => super::load_catalog(path),
            None if Path::new(DEFAULT_CATALOG_FILE).exists() => super::load_catalog(Path::new(DEFAULT_CATALOG_FILE)),
            None => Catalog::from_toml("<built-in demo catalog>", DEMO_CATALOG).map_err(|e| e.to_string()),
        }
    }
}

/// Who the audit trail names for a command run from a terminal.
pub fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    if user.is_empty() {
        "cli".to_owned()
    } else {
        format!("cli:{user}")
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub async fn open_store(args: &StoreArgs) -> Result<Store, String> {
    let location = args.location()?;
    Store::open(&location).await.map_err(|e| format!("{e} ({location:?})"))
}

/// The services a command uses over the store it names, and the store (to
/// close it).
pub async fn services(store: &StoreArgs, catalog: &CatalogArgs) -> Result<(Services, Store), String> {
    let catalog = LiveCatalog::fixed(catalog.load()?);
    let store = open_store(store).await?;
    Ok((Services::for_cli(&store, catalog), store))
}

/// Why a command failed; its exit code says which kind.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command's own input is wrong (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// The key service refused: bad input (exit 2), anything else (exit 1).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// What the command stands on is missing or broken: the catalog, the
    /// store, the runtime, the terminal (exit 1).
    #[error("{0}")]
    Setup(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) | Failure::Key(KeyError::Invalid { .. }) => EXIT_BAD_INPUT,
            Failure::Key(_) | Failure::Setup(_) => 1,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Setup(message)
    }
}

pub fn bad_input(message: impl Into<String>) -> Failure {
    Failure::BadInput(message.into())
}

pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {f}");
            ExitCode::from(f.exit_code())
        }
    }
}

/// Left-aligned columns for people.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
