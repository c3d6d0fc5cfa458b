//! `keyward serve`: loads the catalog and settings, opens the store, makes
//! the first management key on an empty embedded database, and serves until
//! SIGTERM or SIGINT, then drains requests and flushes usage (exit 0).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use keyward_scopes::Catalog;

use super::context::{DEFAULT_CATALOG_FILE, DEMO_CATALOG};
use crate::catalog::{reload, LiveCatalog};
use crate::config::{ServerConfig, ServerFlags, ServerTable};
use crate::http::{self, AppState};
use crate::keys::management::{insert_management_key, NewManagementKeySecret};
use crate::keys::KeyName;

/// How long `serve` waits for the change feed before answering anyway.
const FEED_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
use crate::services::Services;
use crate::store::{Location, Store};
use crate::usage::Recorder;
use crate::verify::Verifier;

#[derive(Args)]
pub struct ServeArgs {
    /// The catalog file, which may also hold a `[server]` table (default:
    /// ./keyward.toml, else a built-in demo catalog).
    #[arg(long, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: ServerFlags,
}

pub const MANAGEMENT_KEY_FILE: &str = "management-key";
/// Where `serve` reads `verify_token` from.
pub const VERIFY_TOKEN_VARIABLE: &str = "KEYWARD_VERIFY_TOKEN";

/// The catalog a server starts with: from its file (which is then watched
/// for changes) or the built-in demo.
struct Loaded {
    catalog: Catalog,
    source: String,
    file: Option<PathBuf>,
}

fn load(args: &ServeArgs) -> Result<(Loaded, ServerConfig), String> {
    let path = args.config.clone().or_else(|| {
        Path::new(DEFAULT_CATALOG_FILE)
            .exists()
            .then(|| DEFAULT_CATALOG_FILE.into())
    });
    let (loaded, table) = match path {
        Some(path) => {
            let source = super::read_catalog(&path)?;
            let catalog = Catalog::from_toml(&path.display().to_string(), &source).map_err(|e| e.to_string())?;
            for w in catalog.warnings() {
                eprintln!("{}:{}:{}: warning: {}", path.display(), w.line, w.column, w.message);
            }
            let table = ServerTable::from_catalog_source(&path, &source)?;
            (
                Loaded {
                    catalog,
                    source,
                    file: Some(path),
                },
                table,
            )
        }
        None => (
            Loaded {
                catalog: Catalog::from_toml("<built-in demo catalog>", DEMO_CATALOG).map_err(|e| e.to_string())?,
                source: DEMO_CATALOG.to_owned(),
                file: None,
            },
            ServerTable::default(),
        ),
    };
    let mut flags = args.flags.clone();
    // The verifier credential comes from the environment only.
    flags.verify_token = std::env::var(VERIFY_TOKEN_VARIABLE).ok().filter(|t| !t.is_empty());
    Ok((loaded, ServerConfig::layered(table, flags)?))
}

/// On an empty embedded database: one management key, written to a file
/// only its owner can read. The path is printed, never the key. The file
/// is created (never replaced, never through a link) before the key is
/// stored, so no key exists whose plaintext nobody has; if storing fails
/// the file is removed.
async fn bootstrap(store: &Store, data_dir: &Path) -> Result<Option<PathBuf>, String> {
    if !store.is_embedded() || store.count_management_keys().await.map_err(|e| e.to_string())? > 0 {
        return Ok(None);
    }
    warn_if_loose(data_dir);
    let path = data_dir.join(MANAGEMENT_KEY_FILE);
    let name = KeyName::parse("initial").map_err(|e| e.to_string())?;
    let new = NewManagementKeySecret::generate(name, None).map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| {
        format!(
            "cannot create {}: {e}. No management key was made. If that file holds an old key, \
             move it away; then start again, or make a key with `keyward admin create-key --name NAME`",
            path.display()
        )
    })?;
    let written = writeln!(file, "{}", new.secret.reveal()).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(format!(
            "cannot write {}: {e}. No management key was made",
            path.display()
        ));
    }
    if let Err(e) = insert_management_key(store, new, "serve:bootstrap").await {
        let _ = std::fs::remove_file(&path);
        return Err(format!("cannot store the first management key: {e}"));
    }
    Ok(Some(path))
}

/// The data directory holds key digests and the first management key: say
/// so if others may read or write it.
fn warn_if_loose(data_dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(data_dir) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: the data directory {} has mode {mode:04o}: others may read or change it; \
                     `chmod 700 {}`",
                    data_dir.display(),
                    data_dir.display()
                );
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    // From the first moment: SIGHUP's default action would end the server.
    let hangups = reload::Hangups::listen();
    let (loaded, config) = load(&args)?;
    let catalog = Arc::new(LiveCatalog::new(loaded.catalog, loaded.source.as_bytes()));
    let location = Location::new(
        &config.data_dir,
        config.database_url.as_deref(),
        config.postgres.clone(),
    )?;
    let store = Store::open(&location)
        .await
        .map_err(|e| format!("{e} ({location:?})"))?;
    if let Some(path) = bootstrap(&store, &config.data_dir).await? {
        println!(
            "management key written to {} (read it there; it is not printed)",
            path.display()
        );
    }
    let limits = connection_limits(&config);
    let verifier = Arc::new(Verifier::new(catalog.clone(), store.clone(), &config.cache));
    let recorder = Arc::new(Recorder::new(config.usage));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    if config.pages.public_url.is_none() && address.ip().is_unspecified() {
        eprintln!(
            "warning: listening on {address} without public_url: portal links will name http://{address}, \
             which no browser can open; set public_url (or KEYWARD_PUBLIC_URL) to the address people use"
        );
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (live, following) = tokio::sync::oneshot::channel();
    let follower = tokio::spawn(crate::verify::changes::follow(
        store.clone(),
        verifier.clone(),
        stopped.clone(),
        live,
    ));
    if tokio::time::timeout(FEED_START_TIMEOUT, following).await.is_err() {
        tracing::warn!("the change feed is not followed yet; serving anyway (the cache is cleared once it is)");
    }
    let flusher = tokio::spawn(crate::usage::flush_loop(
        recorder.clone(),
        store.clone(),
        catalog.clone(),
        config.usage_flush,
        stopped.clone(),
    ));
    let sweeper = tokio::spawn(crate::usage::retention::sweep_loop(
        store.clone(),
        config.usage_retention_days,
        stopped.clone(),
    ));
    let reloader = tokio::spawn(reload::watch(
        catalog.clone(),
        loaded.file,
        loaded.source,
        Box::new(|file: &Path, source: &str| ServerTable::from_catalog_source(file, source).map(|_| ())),
        hangups,
        stopped,
    ));
    let services = Services::for_server(&store, &verifier, recorder, &config);
    let state = Arc::new(AppState::new(services, verifier, config, address)?);
    println!("keyward listening on http://{address}");
    let _ = std::io::stdout().flush();
    tracing::info!(%address, api = %catalog.current().api().name, digest = %catalog.current().digest(), "serving");
    let (stop_serving, serving_stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_serving.send(true);
    });
    http::connections::serve(listener, http::router(state), limits, serving_stopped)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("shutting down: flushing usage");
    let _ = stop.send(true);
    if let Err(e) = flusher.await {
        tracing::error!(error = %e, "the usage flusher stopped abnormally: unflushed counts are lost");
    }
    let _ = follower.await;
    let _ = sweeper.await;
    let _ = reloader.await;
    store.close().await;
    Ok(())
}

/// The configured limits, with the connection cap lowered to fit the
/// open-file limit (raised first as far as allowed; said if it cannot be).
fn connection_limits(config: &crate::config::ServerConfig) -> http::connections::ConnectionLimits {
    let mut limits = config.connections;
    // File descriptors besides connections: the database, logs, the listener.
    const RESERVED_FILES: u64 = 64;
    match http::connections::raise_open_file_limit() {
        Ok(files) => {
            let fits = usize::try_from(files.saturating_sub(RESERVED_FILES))
                .unwrap_or(usize::MAX)
                .max(1);
            if fits < limits.max_connections {
                eprintln!(
                    "warning: the open-file limit is {files}: at most {fits} connections (max_connections = {})",
                    limits.max_connections
                );
                limits.max_connections = fits;
            }
        }
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    limits
}

pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
