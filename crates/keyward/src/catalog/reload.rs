//! Reloading the catalog while serving (docs/CATALOG.md, "Changing a catalog", and docs/DEPLOYMENT.md): on SIGHUP,
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

/// What a reload checks besides the catalog itself: the settings tables
/// the same file holds (read at start only, but a file the next start
/// would refuse is refused now).
pub type CheckFile = dyn Fn(&Path, &str) -> Result<(), String> + Send + Sync;

/// Loads `file` into `live` if it holds a valid catalog other than the one
/// served; `started_with` is the source the server started from (for the
/// tables read at start only). Returns what it did and the digest of what
/// it read.
pub fn reload(live: &LiveCatalog, file: &Path, started_with: &str, check: &CheckFile) -> (Reloaded, Option<String>) {
    let source = read_source(file);
    let digest = source.as_ref().ok().map(|s| digest_of(s.as_bytes()));
    let outcome = match source {
        Err(e) => Reloaded::Refused(e),
        Ok(_) if digest.as_deref() == Some(live.current().digest()) => Reloaded::Unchanged,
        Ok(source) => match Catalog::from_toml(&file.display().to_string(), &source) {
            Err(errors) => Reloaded::Refused(errors.to_string()),
            Ok(catalog) => match check(file, &source) {
                Err(e) => Reloaded::Refused(e),
                Ok(()) => {
                    for w in catalog.warnings() {
                        tracing::warn!("{}:{}:{}: warning: {}", file.display(), w.line, w.column, w.message);
                    }
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
        },
    };
    if let Reloaded::Refused(why) = &outcome {
        live.note_refused();
        tracing::error!("catalog reload refused, the served catalog stays:\n{why}");
    }
    (outcome, digest)
}

/// The `[server]` and `[portal]` tables of a catalog source, as TOML values.
fn start_only_tables(source: &str) -> Option<(Option<toml::Value>, Option<toml::Value>)> {
    let table: toml::Table = toml::from_str(source).ok()?;
    Some((table.get("server").cloned(), table.get("portal").cloned()))
}

/// SIGHUP, listened for from the start of `serve` (its default action
/// would end the process).
pub struct Hangups(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangups {
    pub fn listen() -> Hangups {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(signal) => Hangups(Some(signal)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP");
                    Hangups(None)
                }
            }
        }
        #[cfg(not(unix))]
        Hangups()
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.0.as_mut() {
            if signal.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

/// The digest of the file's content once two reads [`SETTLE`] apart agree
/// (a file being written is not loaded half-way); `None` while it changes
/// or cannot be read.
async fn settled_digest(file: &Path) -> Option<String> {
    let first = read_source(file).ok().map(|s| digest_of(s.as_bytes()))?;
    tokio::time::sleep(SETTLE).await;
    let second = read_source(file).ok().map(|s| digest_of(s.as_bytes()))?;
    (first == second).then_some(first)
}

/// How long a changed file must stay the same before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(250);

/// Reloads `file` on SIGHUP and when its content changes, until
/// `shutdown`. Without a file (the built-in demo catalog), SIGHUP is
/// only logged.
pub async fn watch(
    live: Arc<LiveCatalog>,
    file: Option<PathBuf>,
    started_with: String,
    check: Box<CheckFile>,
    mut hangups: Hangups,
    mut shutdown: watch::Receiver<bool>,
) {
    // What is served is what was seen: a change made while the server
    // started is loaded at the first look.
    let mut seen = Some(live.current().digest().to_owned());
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hangups.next() => {
                let Some(file) = &file else {
                    tracing::info!("SIGHUP: the built-in demo catalog has no file to reload");
                    continue;
                };
                tracing::info!(file = %file.display(), "SIGHUP: reloading the catalog");
                let (outcome, read) = reload(&live, file, &started_with, &check);
                if outcome == Reloaded::Unchanged {
                    tracing::info!(file = %file.display(), "the catalog file is unchanged");
                }
                seen = read;
            }
            _ = tick.tick() => {
                let Some(file) = &file else { continue };
                let now = read_source(file).ok().map(|s| digest_of(s.as_bytes()));
                // Only a change since the last look, and only once the
                // file has settled: a bad file is refused once, not every
                // second, and a file being written is not loaded half-way.
                if now != seen && (now.is_none() || settled_digest(file).await == now) {
                    let (_, read) = reload(&live, file, &started_with, &check);
                    seen = read;
                }
            }
        }
    }
}
