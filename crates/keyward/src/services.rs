//! The services one node runs over its store, assembled in one place: for
//! a server (its key service tells the verifier of every change) and for
//! the command line. Front ends get these, never the store.

use std::sync::Arc;

use crate::catalog::LiveCatalog;

use crate::config::ServerConfig;
use crate::keys::KeyService;
use crate::readiness::Readiness;
use crate::sessions::SessionService;
use crate::store::Store;
use crate::usage::{Recorder, UsageService};
use crate::verify::Verifier;

pub struct Services {
    pub keys: KeyService,
    pub usage: UsageService,
    pub readiness: Readiness,
    pub sessions: SessionService,
}

impl Services {
    /// A server's: changes made through its key service are told to
    /// `verifier` at once; usage answers add `recorder`'s unflushed counts.
    pub fn for_server(
        store: &Store,
        verifier: &Arc<Verifier>,
        recorder: Arc<Recorder>,
        config: &ServerConfig,
    ) -> Services {
        let catalog = verifier.live_catalog().clone();
        Services {
            keys: KeyService::new(store.clone(), catalog.clone())
                .with_listener(verifier.clone())
                .with_max_rotation_grace(config.max_rotation_grace),
            usage: UsageService::new(recorder, store.clone(), catalog),
            readiness: Readiness::new(store.clone()),
            sessions: SessionService::new(store.clone(), &config.pages),
        }
    }

    /// The command line's: it runs with the database's own credentials and
    /// counts nothing (its usage answers are what servers flushed).
    pub fn for_cli(store: &Store, catalog: Arc<LiveCatalog>) -> Services {
        Services {
            keys: KeyService::new(store.clone(), catalog.clone()),
            usage: UsageService::new(Arc::new(Recorder::new(false)), store.clone(), catalog),
            readiness: Readiness::new(store.clone()),
            sessions: SessionService::new(store.clone(), &crate::config::PageSettings::default()),
        }
    }
}
