//! Reloading the catalog while serving (DESIGN.md section 3): on SIGHUP,
//! and when the file's content changes (checked every second, which also
//! sees the symlink swaps of a Kubernetes ConfigMap). A new catalog is
//! validated first: a bad one is refused, its `file:line:col` errors logged,
//! and the old one kept. A good one is swapped in atomically; requests
//! already running finish on the version they took.
//!
//! The `[server]` and `[portal]` tables are read at start only: a change
//! there is logged as needing a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyward_scopes::Catalog;
use tokio::sync::watch;

use super::{digest_of, LiveCatalog};

/// How often the file is read to see whether it changed.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What became of one reload.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The new catalog is served; its digest.
    Replaced(String),
    /// The file holds the catalog already served.
    Unchanged,
    /// The file cannot be read or is not a valid catalog: the old one stays.
    Refused(String),
}

/// Reads a catalog file as text, or says why it cannot (prefixed by its
/// name).
pub fn read_source(path: &Path) -> Result<String, String> {
    let label = path.display();
    let source = std::fs::read(path).map_err(|e| format!("{label}: cannot read the catalog: {e}"))?;
    String::from_utf8(source).map_err(|e| {
        format!(
            "{label}: the catalog is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Loads `file` into `live` if it holds a valid catalog other than the one
/// served; `started_with` is the source the server started from (for the
/// tables read at start only).
pub fn reload(live: &LiveCatalog, file: &Path, started_with: &str) -> Reloaded {
    let outcome = match read_source(file) {
        Err(e) => Reloaded::Refused(e),
        Ok(source) if digest_of(source.as_bytes()) == live.current().digest() => Reloaded::Unchanged,
        Ok(source) => match Catalog::from_toml(&file.display().to_string(), &source) {
            Err(errors) => Reloaded::Refused(errors.to_string()),
            Ok(catalog) => {
                if start_only_tables(&source) != start_only_tables(started_with) {
                    tracing::warn!(
                        file = %file.display(),
                        "the [server] or [portal] table changed: those settings are read at start; restart to apply them"
                    );
                }
                let (scopes, routes) = (catalog.scope_count(), catalog.routes().len());
                let version = live.replace(catalog, source.as_bytes());
                tracing::info!(file = %file.display(), digest = %version.digest(), scopes, routes, "catalog reloaded");
                Reloaded::Replaced(version.digest().to_owned())
            }
        },
    };
    if let Reloaded::Refused(why) = &outcome {
        live.note_refused();
        tracing::error!("catalog reload refused, the served catalog stays:\n{why}");
    }
    outcome
}

/// The `[server]` and `[portal]` tables of a catalog source, as TOML values.
fn start_only_tables(source: &str) -> Option<(Option<toml::Value>, Option<toml::Value>)> {
    let table: toml::Table = toml::from_str(source).ok()?;
    Some((table.get("server").cloned(), table.get("portal").cloned()))
}

/// Reloads `file` on SIGHUP and when its content changes, until `shutdown`.
pub async fn watch(live: Arc<LiveCatalog>, file: PathBuf, started_with: String, mut shutdown: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the catalog file is still watched");
            None
        }
    };
    let mut seen = read_source(&file).map(|s| digest_of(s.as_bytes())).ok();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hangups.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hangup => {
                tracing::info!(file = %file.display(), "SIGHUP: reloading the catalog");
                if reload(&live, &file, &started_with) == Reloaded::Unchanged {
                    tracing::info!(file = %file.display(), "the catalog file is unchanged");
                }
                seen = read_source(&file).map(|s| digest_of(s.as_bytes())).ok();
            }
            _ = tick.tick() => {
                // Only a change since the last look: a bad file is refused
                // once, not every second.
                let now = read_source(&file).map(|s| digest_of(s.as_bytes())).ok();
                if now != seen {
                    seen = now;
                    reload(&live, &file, &started_with);
                }
            }
        }
    }
}
