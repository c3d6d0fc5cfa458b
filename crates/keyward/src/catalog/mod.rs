//! The catalog a server serves, replaceable while it runs (docs/CATALOG.md,
//! "Changing a catalog"; reloads in `reload.rs`). Every request takes one version and
//! uses it throughout: its requirement, the key's compiled grants and its
//! usage counts all come from the same catalog.
//!
//! Scope ids are a version's own (a new catalog may number its scopes
//! differently), so what outlives a request, usage counts waiting for their
//! flush, names scopes by [`UsageScope`]: an index into a table of every
//! scope name any version had, which only grows (by the few names a
//! changed catalog adds).

pub mod diff;
pub mod reload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use indexmap::IndexSet;
use keyward_scopes::{Catalog, ScopeId};

/// One catalog as loaded: the compiled catalog, the digest of its source
/// (what `/readyz` and `/metrics` report, so that every node of a
/// deployment can be seen to serve the same one), and its scopes' usage
/// names.
pub struct CatalogVersion {
    catalog: Catalog,
    digest: String,
    usage_scopes: Box<[UsageScope]>,
}

impl CatalogVersion {
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// SHA-256 of the catalog file's bytes, in hex (of the built-in demo
    /// catalog's when there is no file).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The stable usage name of one of this version's scopes.
    pub fn usage_scope(&self, id: ScopeId) -> UsageScope {
        self.usage_scopes[id as usize]
    }
}

impl std::ops::Deref for CatalogVersion {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

/// A scope as usage counts name it, whatever catalog version counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageScope(u32);

/// The catalog now served, and every scope name served so far.
pub struct LiveCatalog {
    current: ArcSwap<CatalogVersion>,
    names: RwLock<IndexSet<Arc<str>>>,
    /// Reloads done and refused (for `/metrics`).
    reloads: AtomicU64,
    refused: AtomicU64,
}

/// The hex SHA-256 of a catalog's source.
pub fn digest_of(source: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(source)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl LiveCatalog {
    /// Serves `catalog`, loaded from `source`.
    pub fn new(catalog: Catalog, source: &[u8]) -> LiveCatalog {
        let names = RwLock::new(IndexSet::new());
        let first = Arc::new(version(&names, catalog, digest_of(source)));
        LiveCatalog {
            current: ArcSwap::new(first),
            names,
            reloads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A catalog that never changes (the command line's, tests'): its
    /// digest is that of its TOML as given.
    pub fn fixed(catalog: Catalog) -> Arc<LiveCatalog> {
        Arc::new(LiveCatalog::new(catalog, b""))
    }

    /// The version served now. A request takes it once.
    pub fn current(&self) -> Arc<CatalogVersion> {
        self.current.load_full()
    }

    /// The version served now, borrowed: the verification hot path's way
    /// in (no reference count shared by every core is touched).
    pub fn load(&self) -> arc_swap::Guard<Arc<CatalogVersion>> {
        self.current.load()
    }

    /// Whether `version` is the one served now (cheap: a pointer compare).
    pub fn is_current(&self, version: &Arc<CatalogVersion>) -> bool {
        Arc::ptr_eq(&self.current.load(), version)
    }

    /// Serves `catalog` from now on; returns the new version.
    pub fn replace(&self, catalog: Catalog, source: &[u8]) -> Arc<CatalogVersion> {
        let next = Arc::new(version(&self.names, catalog, digest_of(source)));
        self.current.store(next.clone());
        self.reloads.fetch_add(1, Ordering::Relaxed);
        next
    }

    fn note_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Catalogs loaded since start (after the first), and reloads refused.
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// The name of a scope usage counted.
    pub fn usage_scope_name(&self, scope: UsageScope) -> Option<Arc<str>> {
        let names = self.names.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.get_index(scope.0 as usize).cloned()
    }
}

fn version(names: &RwLock<IndexSet<Arc<str>>>, catalog: Catalog, digest: String) -> CatalogVersion {
    let mut names = names.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let usage_scopes = catalog
        .scopes()
        .iter()
        .map(|scope| {
            let (index, _) = names.insert_full(Arc::from(scope.name.as_str()));
            UsageScope(u32::try_from(index).unwrap_or(u32::MAX))
        })
        .collect();
    CatalogVersion {
        catalog,
        digest,
        usage_scopes,
    }
}
