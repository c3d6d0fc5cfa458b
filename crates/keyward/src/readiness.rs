//! Readiness: whether this node can serve what needs storage, answered
//! within a bound even when storage hangs (docs/SECURITY.md).

use std::time::Duration;

use crate::store::{Store, StoreError};

/// How long `/readyz` waits for storage before saying it is unavailable.
pub const READINESS_DEADLINE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Readiness {
    store: Store,
}

impl Readiness {
    pub fn new(store: Store) -> Readiness {
        Readiness { store }
    }

    /// Storage answered a trivial query within [`READINESS_DEADLINE`].
    pub async fn check(&self) -> Result<(), NotReady> {
        match tokio::time::timeout(READINESS_DEADLINE, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotReady(e)),
            Err(_) => Err(NotReady(StoreError::TimedOut)),
        }
    }
}

/// Why this node is not ready.
#[derive(Debug, thiserror::Error)]
#[error("not ready: {0}")]
pub struct NotReady(StoreError);
