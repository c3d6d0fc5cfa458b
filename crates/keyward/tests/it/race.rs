//! A revoke never loses a race with a cache fill (hole 2 of the security
//! issue). A verification that misses the cache reads the key, then caches
//! it; a revoke that commits in between used to be forgotten before the
//! stale record was cached, which then served the revoked key until the
//! TTL. The verifier's test seam ([`FillPause`]) stops a fill exactly
//! between its read and its insert, so each race below happens every time:
//! the revoke from this node's key service, the revoke from another node
//! (through the change feed), on SQLite and on PostgreSQL; and a cache of
//! capacity 1 under churn never serves a key after its revoke returned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keyward::keys::KeyService;
use keyward::store::Store;
use keyward::time::Millis;
use keyward::verify::{Authentication, CacheSettings, Code, FillPause, Verifier};

use crate::service_calls::{Calls, NewKey};
use crate::support::{catalog_named, on_both_stores, TestStore};

fn new_key(name: &str) -> NewKey {
    NewKey {
        account: "acme".into(),
        name: name.into(),
        scopes: vec!["campaigns:read".into()],
        ..NewKey::default()
    }
}

async fn code(verifier: &Verifier, key: &str) -> Code {
    match verifier.authenticate(key, Millis::now(), &verifier.catalog()).await {
        Authentication::Key(_, code) | Authentication::Rejected(code) => code,
        Authentication::Unavailable => panic!("storage unavailable"),
    }
}

/// A node: its verifier, and its key service telling the verifier of its
/// own changes.
fn node(store: &Store, settings: &CacheSettings) -> (Arc<Verifier>, Calls) {
    let catalog = keyward::catalog::LiveCatalog::fixed(catalog_named("coldsend"));
    let verifier = Arc::new(Verifier::new(catalog.clone(), store.clone(), settings));
    let service = KeyService::new(store.clone(), catalog).with_listener(verifier.clone());
    (verifier, Calls(service))
}

/// Starts a fill of `key` and waits until it has read the (active) record
/// and stopped before caching it. Returns the fill's task.
async fn fill_paused_after_its_read(
    verifier: &Arc<Verifier>,
    key: &str,
    pause: &Arc<FillPause>,
) -> tokio::task::JoinHandle<Code> {
    verifier.pause_fills(Some(pause.clone()));
    let (v, key) = (verifier.clone(), key.to_owned());
    let fill = tokio::spawn(async move { code(&v, &key).await });
    tokio::time::timeout(Duration::from_secs(10), pause.reached.notified())
        .await
        .expect("the fill reached the pause");
    verifier.pause_fills(None);
    fill
}

async fn a_revoke_on_this_node_wins_over_a_fill_in_flight(t: &TestStore) {
    let (verifier, service) = node(&t.store, &CacheSettings::default());
    let (record, secret) = service.create(new_key("raced"), "test").await.unwrap();
    let pause = Arc::new(FillPause::default());
    let fill = fill_paused_after_its_read(&verifier, secret.reveal(), &pause).await;

    service.revoke(&record.id, None, "test", None).await.unwrap();
    pause.release.notify_one();
    assert_eq!(
        fill.await.unwrap(),
        Code::Valid,
        "the fill read before the revoke committed: it overlapped the revoke"
    );
    assert_eq!(
        code(&verifier, secret.reveal()).await,
        Code::Revoked,
        "once the revoke returned, the key is revoked (the stale fill was not kept)"
    );
}

async fn a_revoke_from_another_node_wins_over_a_fill_in_flight(t: &TestStore) {
    let (verifier, _) = node(&t.store, &CacheSettings::default());
    let other_store = t.another_node().await;
    let (_, other) = node(&other_store, &CacheSettings::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (live, following) = tokio::sync::oneshot::channel();
    let follower = tokio::spawn(keyward::verify::changes::follow(
        t.store.clone(),
        verifier.clone(),
        stopped,
        live,
    ));
    following.await.unwrap();

    let (record, secret) = other.create(new_key("raced elsewhere"), "test").await.unwrap();
    let pause = Arc::new(FillPause::default());
    let fill = fill_paused_after_its_read(&verifier, secret.reveal(), &pause).await;
    let seen = verifier.changes_seen();
    other.revoke(&record.id, None, "test", None).await.unwrap();
    // The change feed tells this node within a second (docs/ARCHITECTURE.md).
    for _ in 0..100 {
        if verifier.changes_seen() > seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(verifier.changes_seen() > seen, "the change arrived from the other node");
    pause.release.notify_one();
    fill.await.unwrap();
    assert_eq!(code(&verifier, secret.reveal()).await, Code::Revoked);

    let _ = stop.send(true);
    follower.await.unwrap();
    other_store.close().await;
}

/// With room for one key, every fill evicts another: a revoked key is
/// still never served once its revoke returned.
async fn a_tiny_cache_under_churn_never_serves_a_revoked_key(t: &TestStore) {
    let settings = CacheSettings {
        capacity: 1,
        ..CacheSettings::default()
    };
    let (verifier, service) = node(&t.store, &settings);
    let mut keys = Vec::new();
    for i in 0..20 {
        let (record, secret) = service.create(new_key(&format!("churn {i}")), "test").await.unwrap();
        keys.push((record.id, secret.reveal().to_owned()));
    }
    let keys = Arc::new(keys);
    let done = Arc::new(AtomicBool::new(false));
    let mut churners = Vec::new();
    for offset in 0..2 {
        let (verifier, keys, done) = (verifier.clone(), keys.clone(), done.clone());
        churners.push(tokio::spawn(async move {
            let mut i = offset;
            while !done.load(Ordering::Relaxed) {
                let (_, key) = &keys[i % keys.len()];
                let _ = code(&verifier, key).await;
                i += 3;
            }
        }));
    }
    for (id, key) in keys.iter() {
        assert_eq!(code(&verifier, key).await, Code::Valid);
        service.revoke(id, None, "test", None).await.unwrap();
        for _ in 0..5 {
            assert_eq!(code(&verifier, key).await, Code::Revoked, "{id}");
        }
    }
    done.store(true, Ordering::Relaxed);
    for churner in churners {
        churner.await.unwrap();
    }
}

on_both_stores!(
    a_revoke_on_this_node_wins_over_a_fill_in_flight,
    a_revoke_from_another_node_wins_over_a_fill_in_flight,
    a_tiny_cache_under_churn_never_serves_a_revoked_key,
);
