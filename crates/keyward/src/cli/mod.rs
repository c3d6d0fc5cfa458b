//! The `keyward` command line (docs/CLI.md). Each command parses its
//! input, calls the engine and maps the result to output and an exit code;
//! none of them holds logic of its own.

mod admin;
mod catalog;
mod catalog_diff;
mod check;
pub mod context;
mod keys;
mod serve;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyward_scopes::Catalog;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Scoped API keys: catalog, verification, lifecycle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// One decision against a catalog: no server, no database.
    /// Exit 0 allowed, 1 denied, 2 bad input.
    Check(check::CheckArgs),
    /// Validate, export or compare scope catalogs.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Create, list, show, revoke and rotate keys, directly on the database.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[command(flatten)]
        store: context::StoreArgs,
        #[command(flatten)]
        catalog: context::CatalogArgs,
    },
    /// Management keys, schema migrations and backups, directly on the database.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
        #[command(flatten)]
        store: context::StoreArgs,
    },
}

/// Exit code for bad input (unknown scope, bad catalog, bad flags).
pub const EXIT_BAD_INPUT: u8 = 2;

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_closed_stdout();
    }
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Check(args) => check::run(args),
        Command::Catalog(command) => catalog::run(command),
        Command::Keys {
            command,
            store,
            catalog,
        } => keys::run(command, store, catalog),
        Command::Admin { command, store } => admin::run(command, store),
    }
}

/// A command whose output goes to a pipe that closes (`keyward catalog
/// export ... | head`) ends quietly, as other command-line tools do, instead
/// of panicking on the failed write: SIGPIPE gets its default action back
/// (Rust ignores it). Not for `serve`, whose sockets must see EPIPE.
fn end_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to its default, before any
    // other thread exists; no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr, filtered by `KEYWARD_LOG` (e.g. `info`,
/// `keyward=debug,sqlx=warn`); warnings only by default. `KEYWARD_LOG_FORMAT=json`
/// for structured lines. No log line ever carries a key's plaintext.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("KEYWARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Reads and validates a catalog file; errors are `file:line:col: message`.
pub(crate) fn load_catalog(path: &Path) -> Result<Catalog, String> {
    let source = read_catalog(path)?;
    Catalog::from_toml(&path.display().to_string(), &source).map_err(|e| e.to_string())
}

/// A catalog file's text, or why it cannot be read (prefixed by its name).
pub(crate) fn read_catalog(path: &Path) -> Result<String, String> {
    crate::catalog::reload::read_source(path)
}
