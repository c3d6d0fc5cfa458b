//! Verification, the hot path: "is this key valid, and may it do this?"
//!
//! 1. The SHA-256 digest is looked up in a bounded in-memory cache (moka,
//!    TTL <= 60 s) of compiled key records. A hit is a stored key whose
//!    format was checked when it was cached: nothing more to check.
//! 2. On a miss the format is checked (prefix, environment, length,
//!    alphabet, checksum): garbage is `MALFORMED` without reaching the
//!    negative cache or the store. Unknown digests are cached briefly; a
//!    miss goes to the store through a bounded number of concurrent
//!    lookups, so a flood of random well-formed keys cannot starve known
//!    ones.
//! 3. Revocation and expiry are checked against the clock on every request;
//!    the decision is the compiled engine's subset test.
//!
//! A request names the catalog version it uses ([`LiveCatalog`]); a cached
//! key compiled for another version (the catalog was reloaded) is compiled
//! again from its record, without a store read, and replaces its entry
//! unless the key changed meanwhile. So `*`, `resource:*` and bundles
//! cover a reloaded catalog's new scopes at once.
//!
//! Changes reach the cache at once on the node that made them (the key
//! service tells the verifier, a [`KeyChangeListener`], after each write)
//! and within a second elsewhere (see [`changes`]). Changes name the
//! key by its digest, the cache's own key, so forgetting never depends on a
//! second map that could have lost the entry. A fill that raced with a
//! change (the store read before the change committed, the insert after it
//! was forgotten) is not kept: every change bumps a generation, and a fill
//! inserts only if the generation has not moved since before its read,
//! checked and inserted under the same lock the bump takes (so no request
//! can see a stale insert between the two). If
//! storage fails, a key not in cache is never valid: the answer is
//! `Unavailable` (503).
//!
//! Never logs or stores a presented key; at most `format::loggable`.

pub mod changes;

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyward_scopes::{Decision, Grants, Outcome, Requirement};
use moka::sync::Cache;
use tokio::sync::Semaphore;

use crate::catalog::{CatalogVersion, LiveCatalog};
use crate::keys::format::{self, KeyHash};
use crate::keys::KeyChangeListener;
use crate::keys::{KeyRecord, Status};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// The `code` of a verification (docs/KEYS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Valid,
    Malformed,
    NotFound,
    Expired,
    Revoked,
    InsufficientScope,
    UnknownRoute,
}

impl Code {
    pub const ALL: [Code; 7] = [
        Code::Valid,
        Code::Malformed,
        Code::NotFound,
        Code::Expired,
        Code::Revoked,
        Code::InsufficientScope,
        Code::UnknownRoute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Valid => "VALID",
            Code::Malformed => "MALFORMED",
            Code::NotFound => "NOT_FOUND",
            Code::Expired => "EXPIRED",
            Code::Revoked => "REVOKED",
            Code::InsufficientScope => "INSUFFICIENT_SCOPE",
            Code::UnknownRoute => "UNKNOWN_ROUTE",
        }
    }

    /// Whether the key was identified (usage counts these).
    pub fn identified(self) -> bool {
        !matches!(self, Code::Malformed | Code::NotFound)
    }
}

/// A key record as the hot path needs it: compiled once per cache fill.
pub struct CachedKey {
    pub record: KeyRecord,
    /// Compiled for `catalog`, and meaningful only with it.
    pub grants: Grants,
    pub catalog: Arc<CatalogVersion>,
    /// The id, shared with usage counters without copying.
    pub id_arc: Arc<str>,
    /// What a front end derives from the record once per cache entry (the
    /// HTTP layer's pre-rendered answer parts), made on first use. The
    /// verifier knows nothing of it.
    attachment: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl CachedKey {
    /// `record`, its grants compiled for `catalog`.
    pub fn new(record: KeyRecord, catalog: &Arc<CatalogVersion>) -> CachedKey {
        let id_arc = Arc::from(record.id.as_str());
        CachedKey {
            grants: catalog.compile_grants(&record.scopes),
            catalog: catalog.clone(),
            record,
            id_arc,
            attachment: OnceLock::new(),
        }
    }

    /// The attachment of type `T`, made by `make` from the record the first
    /// time; `None` if an attachment of another type was made first (one
    /// front end attaches one type).
    pub fn attachment<T: Any + Send + Sync>(&self, make: impl FnOnce(&KeyRecord) -> T) -> Option<&T> {
        self.attachment
            .get_or_init(|| Box::new(make(&self.record)))
            .downcast_ref::<T>()
    }
}

/// What a request asks of the key.
pub enum Ask<'a> {
    /// Authenticate only.
    Nothing,
    Scopes(&'a Requirement),
    Route {
        method: &'a str,
        path: &'a str,
    },
}

/// The outcome of authenticating a presented key.
pub enum Authentication {
    /// The key exists: `Valid`, `Revoked` or `Expired` (checked against the
    /// clock now).
    Key(Arc<CachedKey>, Code),
    /// `MALFORMED` (no lookup was made) or `NOT_FOUND`.
    Rejected(Code),
    /// Storage could not be asked and the key is not in cache.
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub capacity: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub max_concurrent_lookups: usize,
    pub lookup_timeout: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            max_concurrent_lookups: 16,
            // A verification that needs storage answers within this even
            // when storage is down or hangs (503, docs/SECURITY.md).
            lookup_timeout: Duration::from_secs(1),
        }
    }
}

/// Longer strings are format-checked before they are hashed; every real
/// key is far shorter (prefix and environment are short names, the body 36
/// characters).
const MAX_HASHED_BEFORE_FORMAT: usize = 256;

pub struct Verifier {
    catalog: Arc<LiveCatalog>,
    store: Store,
    keys: Cache<KeyHash, Arc<CachedKey>>,
    unknown: Cache<KeyHash, ()>,
    /// Bumped by every change before it is forgotten; a fill compares it
    /// before its read and when it inserts.
    generation: AtomicU64,
    /// Held to bump the generation, and by a fill to compare and insert.
    fill_lock: Mutex<()>,
    lookups: Semaphore,
    lookup_timeout: Duration,
    fill_pause: Mutex<Option<Arc<FillPause>>>,
    pub stats: Stats,
}

/// A test seam: makes the next fills stop between their store read and
/// their cache insert, so that a test can commit a change exactly there.
#[derive(Default)]
pub struct FillPause {
    /// Notified when a fill has read and is waiting.
    pub reached: tokio::sync::Notify,
    /// Notify to let the waiting fill go on.
    pub release: tokio::sync::Notify,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub cache_hits: std::sync::atomic::AtomicU64,
    pub cache_misses: std::sync::atomic::AtomicU64,
}

/// A cached key lives `ttl` from when it was read from the store: an
/// entry replaced by its recompilation for a reloaded catalog keeps its
/// deadline (moka's default on update), so the TTL stays the backstop for
/// changes a node missed, however often the catalog is reloaded.
struct FromFill(Duration);

impl moka::Expiry<KeyHash, Arc<CachedKey>> for FromFill {
    fn expire_after_create(&self, _: &KeyHash, _: &Arc<CachedKey>, _: std::time::Instant) -> Option<Duration> {
        Some(self.0)
    }
}

impl Verifier {
    pub fn new(catalog: Arc<LiveCatalog>, store: Store, settings: &CacheSettings) -> Verifier {
        let ttl = settings.ttl.min(Duration::from_secs(60));
        Verifier {
            catalog,
            store,
            keys: Cache::builder()
                .max_capacity(settings.capacity)
                .expire_after(FromFill(ttl))
                .build(),
            unknown: Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(settings.negative_ttl.min(ttl))
                .build(),
            generation: AtomicU64::new(0),
            fill_lock: Mutex::new(()),
            lookups: Semaphore::new(settings.max_concurrent_lookups.max(1)),
            lookup_timeout: settings.lookup_timeout,
            fill_pause: Mutex::new(None),
            stats: Stats::default(),
        }
    }

    /// How many key records the cache holds now.
    pub fn cached_keys(&self) -> u64 {
        self.keys.run_pending_tasks();
        self.keys.entry_count()
    }

    /// The catalog version served now: a request takes it once.
    pub fn catalog(&self) -> Arc<CatalogVersion> {
        self.catalog.current()
    }

    /// The catalog as it changes.
    pub fn live_catalog(&self) -> &Arc<LiveCatalog> {
        &self.catalog
    }

    /// Drops a key from the cache after it changed. A fill of the same key
    /// in flight will not keep what it read, nor will a recompilation.
    pub fn forget(&self, hash: &KeyHash) {
        let _fills = self.bump();
        self.keys.invalidate(hash);
        self.unknown.invalidate(hash);
    }

    /// Drops everything: when the change feed may have lost changes.
    pub fn forget_all(&self) {
        let _fills = self.bump();
        self.keys.invalidate_all();
        self.unknown.invalidate_all();
    }

    /// A change happened: fills that read before it will not insert. The
    /// lock is held until the caller has forgotten the key. (A poisoned
    /// lock only means a fill panicked; the bump must happen.)
    fn bump(&self) -> std::sync::MutexGuard<'_, ()> {
        let fills = self.fill_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        fills
    }

    /// `key` compiled for `catalog`: itself if it was, else compiled again
    /// from its record; the new entry replaces the old one in the cache
    /// (when `catalog` is the one served now) unless the key was forgotten
    /// since it was read.
    fn for_version(&self, hash: &KeyHash, key: Arc<CachedKey>, catalog: &Arc<CatalogVersion>) -> Arc<CachedKey> {
        if Arc::ptr_eq(&key.catalog, catalog) {
            return key;
        }
        let fresh = Arc::new(CachedKey::new(key.record.clone(), catalog));
        if self.catalog.is_current(catalog) {
            let _fills = self.fill_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.keys.get(hash).is_some_and(|cached| Arc::ptr_eq(&cached, &key)) {
                self.keys.insert(*hash, fresh.clone());
            }
        }
        fresh
    }

    /// Inserts what a fill read, unless a change came since `generation`
    /// was read (before the store read).
    fn insert_unless_changed(&self, hash: KeyHash, found: Option<&Arc<CachedKey>>, generation: u64) {
        let _fills = self.fill_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        match found {
            Some(cached) => self.keys.insert(hash, cached.clone()),
            None => self.unknown.insert(hash, ()),
        }
    }

    /// How many changes this verifier was told of (for tests that wait for
    /// a change to arrive from another node).
    pub fn changes_seen(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Test seam: the fills that start while `pause` is set wait at it
    /// after their store read (see [`FillPause`]).
    pub fn pause_fills(&self, pause: Option<Arc<FillPause>>) {
        if let Ok(mut slot) = self.fill_pause.lock() {
            *slot = pause;
        }
    }

    async fn maybe_pause(&self) {
        let pause = self.fill_pause.lock().ok().and_then(|slot| slot.clone());
        if let Some(pause) = pause {
            pause.reached.notify_one();
            pause.release.notified().await;
        }
    }

    /// The record of a key not in the cache: from the negative cache or the
    /// store, through the bounded lookups.
    async fn fetch(&self, hash: KeyHash, catalog: &Arc<CatalogVersion>) -> Result<Option<Arc<CachedKey>>, StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.unknown.contains_key(&hash) {
            self.stats.cache_hits.fetch_add(1, Relaxed);
            return Ok(None);
        }
        self.stats.cache_misses.fetch_add(1, Relaxed);
        let permit = tokio::time::timeout(self.lookup_timeout, self.lookups.acquire())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Busy)?;
        // Another request may have filled the cache while we waited.
        if let Some(found) = self.keys.get(&hash) {
            return Ok(Some(self.for_version(&hash, found, catalog)));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let record = tokio::time::timeout(self.lookup_timeout, self.store.find_key_by_hash(&hash))
            .await
            .map_err(|_| StoreError::Busy)??;
        drop(permit);
        self.maybe_pause().await;
        let found = record.map(|record| Arc::new(CachedKey::new(record, catalog)));
        // A change told after our read may be forgotten already: then what
        // we read may be stale, and is not kept. (This answer still stands:
        // the request overlapped the change.)
        self.insert_unless_changed(hash, found.as_ref(), generation);
        Ok(found)
    }

    /// `MALFORMED`, or `NOT_FOUND` for a management key (a real key, just
    /// never one of these: docs/KEYS.md), both without any lookup.
    fn check_format(presented: &str, catalog: &CatalogVersion) -> Result<(), Code> {
        let api = catalog.api();
        if format::parse(presented, &api.key_prefix, &api.environments).is_ok() {
            Ok(())
        } else if format::parse_management(presented).is_ok() {
            Err(Code::NotFound)
        } else {
            Err(Code::Malformed)
        }
    }

    /// Who is this key? Cache first: a digest found there is a stored key
    /// whose format was checked when it was cached (the catalog does not
    /// change under a running verifier), so a hit needs nothing more. On a
    /// miss the format and checksum are checked (garbage never reaches the
    /// negative cache or the store), then the store is asked. Revocation and
    /// expiry are checked against the clock (`now`, read once per request by
    /// the caller). The key comes back compiled for `catalog`, the
    /// request's version.
    pub async fn authenticate(&self, presented: &str, now: Millis, catalog: &Arc<CatalogVersion>) -> Authentication {
        use std::sync::atomic::Ordering::Relaxed;
        // Only strings short enough to be keys are hashed before the format
        // check: a large body of garbage costs no hashing.
        let hash = (presented.len() <= MAX_HASHED_BEFORE_FORMAT).then(|| KeyHash::of(presented));
        let key = match hash.and_then(|hash| self.keys.get(&hash)) {
            Some(key) => {
                self.stats.cache_hits.fetch_add(1, Relaxed);
                match &hash {
                    Some(hash) if !Arc::ptr_eq(&key.catalog, catalog) => {
                        // A reloaded catalog may have changed the key
                        // format (prefix, environments): check it again.
                        if let Err(code) = Verifier::check_format(presented, catalog) {
                            return Authentication::Rejected(code);
                        }
                        self.for_version(hash, key, catalog)
                    }
                    _ => key,
                }
            }
            None => {
                if let Err(code) = Verifier::check_format(presented, catalog) {
                    return Authentication::Rejected(code);
                }
                match self
                    .fetch(hash.unwrap_or_else(|| KeyHash::of(presented)), catalog)
                    .await
                {
                    Ok(Some(key)) => key,
                    Ok(None) => return Authentication::Rejected(Code::NotFound),
                    Err(e) => {
                        // Fail closed either way (503); a failure that is
                        // not an outage is a bug, and said so.
                        if e.is_transient() {
                            tracing::warn!(error = %e, key = %format::loggable(presented), "key not in cache and storage unavailable");
                        } else {
                            tracing::error!(error = %e, key = %format::loggable(presented), "key not in cache and storage failed: a bug");
                        }
                        return Authentication::Unavailable;
                    }
                }
            }
        };
        // The key's status has one source: its record (revoked wins over
        // expired), against the clock read once for this request.
        let code = match key.record.status(now) {
            Status::Revoked => Code::Revoked,
            Status::Expired => Code::Expired,
            Status::Active => Code::Valid,
        };
        Authentication::Key(key, code)
    }

    /// May this (valid) key do what is asked, by the catalog its grants
    /// were compiled for (the request's)? The decision borrows the key's
    /// compiled grants and allocates nothing.
    pub fn decide<'a>(key: &'a CachedKey, ask: Ask<'a>) -> (Code, Option<Decision<'a>>) {
        let decision = match ask {
            Ask::Nothing => None,
            Ask::Scopes(requirement) => Some(key.catalog.decide(&key.grants, requirement)),
            Ask::Route { method, path } => Some(key.catalog.decide_route(&key.grants, method, path)),
        };
        let code = match decision.as_ref().map(Decision::outcome) {
            None | Some(Outcome::Allowed) => Code::Valid,
            Some(Outcome::InsufficientScope) => Code::InsufficientScope,
            Some(Outcome::UnknownRoute) => Code::UnknownRoute,
        };
        (code, decision)
    }
}

impl KeyChangeListener for Verifier {
    fn key_changed(&self, hash: &KeyHash) {
        self.forget(hash);
    }

    fn changes_unknown(&self) {
        self.forget_all();
    }
}
