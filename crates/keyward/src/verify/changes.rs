//! Keeps a node's verification cache in step with the store: forgets keys
//! that changed anywhere within a second (docs/ARCHITECTURE.md).
//!
//! PostgreSQL: `LISTEN keyward_changes`. If the listening connection drops,
//! notifications may have been lost, so the whole cache is cleared (and the
//! listener reconnects). A connection can also die silently (a NAT or a
//! partition drops it and TCP never says so): every node sends a heartbeat
//! notification twice a second, and a listener that hears nothing at all for
//! [`FEED_SILENCE_LIMIT`] treats its connection as lost. SQLite: poll the
//! audit trail every 200 ms.
//! Either way the cache TTL (<= 60 s) is only the backstop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::store::Store;
use crate::verify::Verifier;

pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// Hearing nothing for this long (four heartbeats) means the feed is lost.
pub const FEED_SILENCE_LIMIT: Duration = Duration::from_secs(2);

/// Runs until `shutdown` becomes true. `live` is told once the feed is
/// followed (the server starts answering only then, so that no answer comes
/// from a cache that nothing keeps in step).
pub async fn follow(
    store: Store,
    verifier: Arc<Verifier>,
    mut shutdown: watch::Receiver<bool>,
    live: oneshot::Sender<()>,
) {
    if store.is_embedded() {
        poll(store, verifier, shutdown, live).await;
        return;
    }
    let mut live = Some(live);
    let heartbeats = tokio::spawn(send_heartbeats(store.clone(), shutdown.clone()));
    loop {
        let listened = tokio::select! {
            _ = shutdown.changed() => break,
            listened = store.listen() => listened,
        };
        match listened {
            Ok(Some(mut listener)) => {
                // Anything that changed while we were not listening.
                verifier.forget_all();
                if let Some(live) = live.take() {
                    let _ = live.send(());
                }
                let mut last_heard = tokio::time::Instant::now();
                let mut check = tokio::time::interval(HEARTBEAT_INTERVAL);
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => {
                            heartbeats.abort();
                            return;
                        }
                        _ = check.tick() => {
                            if last_heard.elapsed() > FEED_SILENCE_LIMIT {
                                tracing::warn!("change feed silent (no heartbeat); cache cleared, reconnecting");
                                verifier.forget_all();
                                break;
                            }
                        }
                        received = listener.try_recv() => match received {
                            Ok(Some(notification)) => {
                                last_heard = tokio::time::Instant::now();
                                if notification.channel() == crate::store::changes::CHANNEL {
                                    match crate::store::changes::parse_notice(notification.payload()) {
                                        Some(hash) => verifier.forget(&hash),
                                        None => verifier.forget_all(),
                                    }
                                }
                            }
                            Ok(None) | Err(_) => {
                                tracing::warn!("change feed connection lost; cache cleared, reconnecting");
                                verifier.forget_all();
                                break;
                            }
                        },
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes; retrying");
                verifier.forget_all();
            }
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    heartbeats.abort();
}

/// Twice a second, a heartbeat on the change feed (failures are told by
/// the listeners' silence, not here).
async fn send_heartbeats(store: Store, mut shutdown: watch::Receiver<bool>) {
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = beat.tick() => {
                let _ = tokio::time::timeout(HEARTBEAT_INTERVAL, store.heartbeat()).await;
            }
        }
    }
}

async fn poll(store: Store, verifier: Arc<Verifier>, mut shutdown: watch::Receiver<bool>, live: oneshot::Sender<()>) {
    let mut position = loop {
        match store.latest_change().await {
            Ok(seq) => {
                let _ = live.send(());
                break seq;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change feed; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        match store.changes_since(position).await {
            Ok((hashes, next)) => {
                for hash in hashes {
                    verifier.forget(&hash);
                }
                position = next;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change feed; cache cleared");
                verifier.forget_all();
            }
        }
    }
}
