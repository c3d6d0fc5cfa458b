//! The key lifecycle on both stores (docs/KEYS.md): create,
//! get, list, update, revoke, rotate, lookup by digest, audit, management
//! keys, and the schema's own refusal to reactivate or delete.

use keyward::keys::format::{self, KeyHash};
use keyward::keys::{KeyError, Status, StatusFilter};
use keyward::store::{NewKeyRow, Store};
use keyward::time::Millis;
use serde_json::json;

use crate::service_calls::{Calls, NewKey, RotateOptions, Update};
use crate::support::{on_both_stores, TestStore};

fn new_key(account: &str, name: &str, scopes: &[&str]) -> NewKey {
    NewKey {
        account: account.into(),
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..NewKey::default()
    }
}

/// The field and message of a validation error (the `Ok` side may hold a
/// `KeySecret`, which cannot be printed, so no `unwrap_err`).
fn invalid_field<T>(result: Result<T, KeyError>) -> (&'static str, String) {
    match result {
        Err(KeyError::Invalid { field, message }) => (field, message),
        Err(other) => panic!("expected a validation error, got {other:?}"),
        Ok(_) => panic!("expected a validation error, got success"),
    }
}

/// Inserts a key directly with an expiry in the past (the service refuses to).
async fn insert_expired(store: &Store, account: &str) -> String {
    let secret = format::generate("cs", "live").unwrap();
    let id = keyward::keys::audit::new_id("key").unwrap();
    let row = NewKeyRow {
        id: &id,
        account,
        name: "old",
        environment: "live",
        scopes: &["campaigns:read".to_owned()],
        hash: &secret.hash(),
        start: &secret.start(),
        metadata: &serde_json::Map::new(),
        created_at: Millis(1000),
        created_by: "test",
        expires_at: Some(Millis(2000)),
    };
    let event = keyward::keys::AuditEvent {
        id: keyward::keys::audit::new_id("evt").unwrap(),
        at: Millis(1000),
        actor: "test".into(),
        action: "key.created".into(),
        account: Some(account.into()),
        key_id: Some(id.clone()),
        before: None,
        after: None,
    };
    store.insert_key(&row, &event).await.unwrap();
    id
}

async fn created_key_has_the_documented_format_and_record(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let mut new = new_key("acme", "  CRM sync  ", &["campaigns:all", "leads:read"]);
    new.metadata = Some(json!({"team": "growth"}));
    new.environment = Some("test".into());
    let (record, secret) = svc.create(new, "user:ann").await.unwrap();
    assert_eq!(
        format::parse(secret.reveal(), "cs", &["live".into(), "test".into()]),
        Ok("test")
    );
    assert!(record.id.starts_with("key_"));
    assert_eq!(record.account, "acme");
    assert_eq!(record.name, "CRM sync", "names are trimmed");
    assert_eq!(record.environment, "test");
    assert_eq!(record.scopes, ["campaigns:all", "leads:read"]);
    assert_eq!(record.start, secret.start());
    assert!(record.start.starts_with("cs_test_") && record.start.len() == 12);
    assert_eq!(record.metadata["team"], "growth");
    assert_eq!(record.created_by, "user:ann");
    assert_eq!(record.status(Millis::now()), Status::Active);
    assert_eq!(svc.get(&record.id, None).await.unwrap(), record);
    let found = t.store.find_key_by_hash(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(found.id, record.id);
    assert!(t
        .store
        .find_key_by_hash(&KeyHash::of("cs_live_somethingelse"))
        .await
        .unwrap()
        .is_none());
    let audit = svc.audit(None, Some(&record.id), None, None).await.unwrap();
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].action, "key.created");
    assert_eq!(audit.items[0].actor, "user:ann");
    assert_eq!(
        audit.items[0].after.as_ref().unwrap()["scopes"],
        json!(["campaigns:all", "leads:read"])
    );
}

async fn the_default_environment_is_the_first_listed(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (record, secret) = svc.create(new_key("acme", "k", &["*"]), "t").await.unwrap();
    assert_eq!(record.environment, "live");
    assert!(secret.reveal().starts_with("cs_live_"));
}

/// docs/KEYS.md: grants are deduplicated when stored (order kept)
/// and number at most 64, so `X-Keyward-Scopes` stays small; an account id
/// of the whole grammar is accepted.
async fn grants_are_deduplicated_and_bounded(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let mut scopes = vec!["campaigns:read"; 3000];
    scopes.extend(["leads:read", "campaigns:read", "leads:read"]);
    let (record, _) = svc
        .create(new_key("Org-42.eu_1:team+ops@example.com", "k", &scopes), "t")
        .await
        .unwrap();
    assert_eq!(record.scopes, ["campaigns:read", "leads:read"]);
    assert_eq!(record.account, "Org-42.eu_1:team+ops@example.com");
    let updated = svc
        .update(
            &record.id,
            Update {
                scopes: Some(vec!["leads:read".into(), "leads:read".into()]),
                ..Update::default()
            },
            "t",
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.scopes, ["leads:read"]);

    let mut source = String::from("[api]\nname = \"Many\"\nkey_prefix = \"mn\"\n");
    for i in 0..65 {
        source.push_str(&format!("[resources.r{i}]\nactions.read = \"r\"\n"));
    }
    let catalog = Calls(keyward::keys::KeyService::new(
        t.store.clone(),
        keyward::catalog::LiveCatalog::fixed(keyward_scopes::Catalog::from_toml("many.toml", &source).unwrap()),
    ));
    let many: Vec<String> = (0..65).map(|i| format!("r{i}:read")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (field, message) = invalid_field(catalog.create(new_key("acme", "k", &refs), "t").await);
    assert_eq!(field, "scopes");
    assert!(message.contains("at most 64"), "{message}");
    assert!(catalog.create(new_key("acme", "k", &refs[..64]), "t").await.is_ok());
}

async fn bad_input_is_refused_naming_the_field(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let cases: Vec<(NewKey, &str, &str)> = vec![
        (new_key("acme", "", &["*"]), "name", "must not be empty"),
        (new_key("acme", "   ", &["*"]), "name", "must not be empty"),
        (new_key("acme", &"x".repeat(101), &["*"]), "name", "101 characters"),
        (new_key("acme", "k", &[]), "scopes", "at least one scope"),
        (
            new_key("acme", "k", &["campaigns:raed"]),
            "scopes",
            "did you mean `campaigns:read`?",
        ),
        (
            new_key("acme", "k", &["leads:all", "nope:read"]),
            "scopes",
            "unknown scope `nope:read`",
        ),
        (new_key("", "k", &["*"]), "account", "1-128 characters of A-Z"),
        // Account ids fit in a header and never look like another
        // (docs/KEYS.md).
        (new_key("acme corp", "k", &["*"]), "account", "1-128 characters of A-Z"),
        (
            new_key("acme\nX-Keyward-Account: evil", "k", &["*"]),
            "account",
            "1-128",
        ),
        (new_key("acmé", "k", &["*"]), "account", "1-128"),
        (new_key("аcme", "k", &["*"]), "account", "1-128"),
        (
            new_key("-acme", "k", &["*"]),
            "account",
            "starting with a letter or digit",
        ),
        (new_key("a/b", "k", &["*"]), "account", "1-128"),
        (new_key(&"a".repeat(129), "k", &["*"]), "account", "1-128"),
        (
            NewKey {
                expires_at: Some(Millis(1_000)),
                ..new_key("acme", "k", &["*"])
            },
            "expires_at",
            "not in the future",
        ),
        (
            NewKey {
                environment: Some("prod".into()),
                ..new_key("acme", "k", &["*"])
            },
            "environment",
            "`prod` is not one of live, test",
        ),
        (
            NewKey {
                metadata: Some(json!([1, 2])),
                ..new_key("acme", "k", &["*"])
            },
            "metadata",
            "must be a JSON object",
        ),
        (
            NewKey {
                metadata: Some(json!({"big": "x".repeat(5000)})),
                ..new_key("acme", "k", &["*"])
            },
            "metadata",
            "the limit is 4096",
        ),
    ];
    for (new, field, needle) in cases {
        let (f, message) = invalid_field(svc.create(new, "t").await);
        assert_eq!(f, field);
        assert!(message.contains(needle), "{field}: {message}");
    }
    let voice = Calls(t.service("voice-agents"));
    let (f, message) = invalid_field(voice.create(new_key("acme", "k", &["analytics:write"]), "t").await);
    assert_eq!(f, "scopes");
    assert!(
        message.contains("`analytics:write` exists but cannot be granted"),
        "{message}"
    );
    assert_eq!(
        svc.list(None, StatusFilter::All, None, None).await.unwrap().items.len(),
        0,
        "nothing was stored"
    );
}

async fn unknown_ids_are_not_found(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    assert!(matches!(svc.get("key_nope", None).await, Err(KeyError::NotFound(_))));
    assert!(matches!(
        svc.revoke("key_nope", None, "t", None).await,
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        svc.update("key_nope", Update::default(), "t", None).await,
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        svc.rotate("key_nope", RotateOptions::default(), "t", None).await,
        Err(KeyError::NotFound(_))
    ));
}

async fn an_account_limit_hides_other_accounts_keys(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (theirs, _) = svc.create(new_key("other", "k", &["*"]), "t").await.unwrap();
    assert!(matches!(
        svc.get(&theirs.id, Some("acme")).await,
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        svc.revoke(&theirs.id, None, "t", Some("acme")).await,
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        svc.rotate(&theirs.id, RotateOptions::default(), "t", Some("acme"))
            .await,
        Err(KeyError::NotFound(_))
    ));
    let rename = Update {
        name: Some("mine".into()),
        ..Update::default()
    };
    assert!(matches!(
        svc.update(&theirs.id, rename, "t", Some("acme")).await,
        Err(KeyError::NotFound(_))
    ));
    assert_eq!(svc.get(&theirs.id, Some("other")).await.unwrap().revoked_at, None);
}

async fn listing_is_newest_first_by_account_and_status_with_cursors(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let mut ids = Vec::new();
    for i in 0..7 {
        let (k, _) = svc
            .create(new_key("acme", &format!("k{i}"), &["leads:read"]), "t")
            .await
            .unwrap();
        ids.push(k.id);
    }
    svc.create(new_key("other", "x", &["leads:read"]), "t").await.unwrap();
    svc.revoke(&ids[1], Some("leaked"), "t", None).await.unwrap();
    let expired = insert_expired(&t.store, "acme").await;

    let all = svc.list(Some("acme"), StatusFilter::All, None, None).await.unwrap();
    let names: Vec<&str> = all.items.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["old", "k6", "k5", "k4", "k3", "k2", "k1", "k0"]);
    let active = svc.list(Some("acme"), StatusFilter::Active, None, None).await.unwrap();
    assert_eq!(active.items.len(), 6);
    let revoked = svc.list(Some("acme"), StatusFilter::Revoked, None, None).await.unwrap();
    assert_eq!(
        revoked.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [ids[1].as_str()]
    );
    assert_eq!(revoked.items[0].revoke_reason.as_deref(), Some("leaked"));
    let expired_list = svc.list(Some("acme"), StatusFilter::Expired, None, None).await.unwrap();
    assert_eq!(
        expired_list.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [expired.as_str()]
    );
    assert_eq!(
        svc.list(None, StatusFilter::All, None, None).await.unwrap().items.len(),
        9
    );

    // Pages of 3, with keys created between pages: nothing lost or repeated.
    let first = svc.list(Some("acme"), StatusFilter::All, Some(3), None).await.unwrap();
    svc.create(new_key("acme", "late", &["leads:read"]), "t").await.unwrap();
    let second = svc
        .list(
            Some("acme"),
            StatusFilter::All,
            Some(3),
            first.next_cursor.map(|c| c.to_string()).as_deref(),
        )
        .await
        .unwrap();
    let third = svc
        .list(
            Some("acme"),
            StatusFilter::All,
            Some(3),
            second.next_cursor.map(|c| c.to_string()).as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(third.next_cursor, None);
    let seen: Vec<String> = [first.items, second.items, third.items]
        .concat()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(seen, ["old", "k6", "k5", "k4", "k3", "k2", "k1", "k0"]);

    let (f, _) = invalid_field(svc.list(None, StatusFilter::All, Some(0), None).await);
    assert_eq!(f, "limit");
    let (f, m) = invalid_field(svc.list(None, StatusFilter::All, None, Some("bogus")).await);
    assert_eq!((f, m.contains("`bogus`")), ("cursor", true));
}

async fn update_renames_and_changes_grants_and_expiry(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (k, _) = svc.create(new_key("acme", "k", &["leads:read"]), "t").await.unwrap();
    let later = Millis::now().plus_seconds(3600);
    let update = Update {
        name: Some("renamed".into()),
        scopes: Some(vec!["campaigns:all".into()]),
        expires_at: Some(Some(later)),
    };
    let after = svc.update(&k.id, update, "user:bob", None).await.unwrap();
    assert_eq!(
        (after.name.as_str(), after.scopes.as_slice(), after.expires_at),
        ("renamed", &["campaigns:all".to_owned()][..], Some(later))
    );
    assert_eq!(svc.get(&k.id, None).await.unwrap(), after);
    let audit = svc.audit(None, Some(&k.id), None, None).await.unwrap();
    assert_eq!(audit.items[0].action, "key.updated");
    assert_eq!(audit.items[0].actor, "user:bob");
    assert_eq!(audit.items[0].before.as_ref().unwrap()["name"], "k");
    assert_eq!(audit.items[0].after.as_ref().unwrap()["name"], "renamed");
    // Clearing the expiry.
    let cleared = svc
        .update(
            &k.id,
            Update {
                expires_at: Some(None),
                ..Update::default()
            },
            "t",
            None,
        )
        .await
        .unwrap();
    assert_eq!(cleared.expires_at, None);
    // Bad changes are refused before anything is written.
    let bad = [
        (
            Update {
                scopes: Some(vec!["leads:raed".into()]),
                ..Update::default()
            },
            "scopes",
        ),
        (
            Update {
                scopes: Some(vec![]),
                ..Update::default()
            },
            "scopes",
        ),
        (
            Update {
                name: Some(String::new()),
                ..Update::default()
            },
            "name",
        ),
        (
            Update {
                expires_at: Some(Some(Millis(5))),
                ..Update::default()
            },
            "expires_at",
        ),
    ];
    for (update, field) in bad {
        let (f, _) = invalid_field(svc.update(&k.id, update, "t", None).await);
        assert_eq!(f, field);
    }
}

async fn a_key_with_a_stale_grant_can_still_be_renamed(t: &TestStore) {
    // Created under a catalog with `sender_accounts`, read under one without.
    let old = Calls(t.service("coldsend"));
    let (k, _) = old
        .create(new_key("acme", "k", &["sender_accounts:read", "leads:read"]), "t")
        .await
        .unwrap();
    let source = std::fs::read_to_string(format!(
        "{}/../../examples/catalogs/coldsend.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let trimmed: String = source
        .split("\n[")
        .filter(|block| !block.starts_with("resources.sender_accounts") && !block.contains("sender_accounts:"))
        .collect::<Vec<_>>()
        .join("\n[");
    let newer = Calls(keyward::keys::KeyService::new(
        t.store.clone(),
        keyward::catalog::LiveCatalog::fixed(keyward_scopes::Catalog::from_toml("newer.toml", &trimmed).unwrap()),
    ));
    assert_eq!(newer.stale_scopes(&k), ["sender_accounts:read"]);
    let renamed = newer
        .update(
            &k.id,
            Update {
                name: Some("renamed".into()),
                ..Update::default()
            },
            "t",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        renamed.scopes,
        ["sender_accounts:read", "leads:read"],
        "grants stay as stored"
    );
    let (f, _) = invalid_field(
        newer
            .update(
                &k.id,
                Update {
                    scopes: Some(vec!["sender_accounts:read".into()]),
                    ..Update::default()
                },
                "t",
                None,
            )
            .await,
    );
    assert_eq!(f, "scopes", "grants being set are validated");
}

async fn revocation_is_permanent_idempotent_and_audited_once(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (k, _) = svc.create(new_key("acme", "k", &["leads:read"]), "t").await.unwrap();
    let revoked = svc
        .revoke(&k.id, Some("rotating staff"), "user:carol", None)
        .await
        .unwrap();
    assert_eq!(revoked.status(Millis::now()), Status::Revoked);
    assert_eq!(revoked.revoked_by.as_deref(), Some("user:carol"));
    assert_eq!(revoked.revoke_reason.as_deref(), Some("rotating staff"));
    let again = svc.revoke(&k.id, Some("other reason"), "user:dan", None).await.unwrap();
    assert_eq!(again, revoked, "a second revoke changes nothing");
    let events = svc.audit(None, Some(&k.id), None, None).await.unwrap();
    assert_eq!(events.items.iter().filter(|e| e.action == "key.revoked").count(), 1);
    // Changing or rotating a revoked key is a conflict.
    let rename = Update {
        name: Some("x".into()),
        ..Update::default()
    };
    assert!(matches!(svc.update(&k.id, rename, "t", None).await, Err(KeyError::Conflict(m)) if m.contains("revoked")));
    assert!(matches!(
        svc.rotate(&k.id, RotateOptions::default(), "t", None).await,
        Err(KeyError::Conflict(_))
    ));
}

async fn expired_keys_are_final(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let id = insert_expired(&t.store, "acme").await;
    let k = svc.get(&id, None).await.unwrap();
    assert_eq!(k.status(Millis::now()), Status::Expired);
    let extend = Update {
        expires_at: Some(None),
        ..Update::default()
    };
    assert!(matches!(svc.update(&id, extend, "t", None).await, Err(KeyError::Conflict(m)) if m.contains("expired")));
    assert!(matches!(
        svc.rotate(&id, RotateOptions::default(), "t", None).await,
        Err(KeyError::Conflict(_))
    ));
    // Revoking an expired key is still possible (and permanent).
    assert_eq!(
        svc.revoke(&id, None, "t", None).await.unwrap().status(Millis::now()),
        Status::Revoked
    );
}

async fn the_schema_refuses_to_reactivate_delete_or_rewrite_history(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (k, _) = svc.create(new_key("acme", "k", &["leads:read"]), "t").await.unwrap();
    svc.revoke(&k.id, None, "t", None).await.unwrap();
    let statements = [
        "UPDATE keys SET revoked_at = NULL",
        "UPDATE keys SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL",
        "UPDATE keys SET expires_at = 99999999999999",
        "UPDATE keys SET scopes = '[\"*\"]'",
        "DELETE FROM keys",
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
    ];
    for sql in statements {
        let result = t.raw_execute(sql).await;
        assert!(result.is_err(), "`{sql}` must be refused by the schema");
        assert!(result.unwrap_err().contains("keyward:"), "{sql}");
    }
    assert_eq!(
        svc.get(&k.id, None).await.unwrap().status(Millis::now()),
        Status::Revoked
    );
    assert_eq!(svc.audit(None, Some(&k.id), None, None).await.unwrap().items.len(), 2);
    // last_used_at may still move (usage of a revoked key is recorded).
    t.store.touch_key(&k.id, Millis::now()).await.unwrap();
}

async fn rotation_makes_a_new_key_and_expires_the_old_one_at_once_by_default(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let mut new = new_key("acme", "sync", &["leads:all", "campaigns:read"]);
    new.metadata = Some(json!({"owner": "ops"}));
    let (old, old_secret) = svc.create(new, "t").await.unwrap();
    let (old_after, fresh, secret) = svc
        .rotate(&old.id, RotateOptions::default(), "user:eve", None)
        .await
        .unwrap();
    assert_ne!(secret.reveal(), old_secret.reveal());
    assert_eq!((fresh.name.as_str(), fresh.account.as_str()), ("sync", "acme"));
    assert_eq!(fresh.scopes, old.scopes);
    assert_eq!(fresh.metadata, old.metadata);
    assert_eq!(fresh.environment, old.environment);
    assert_eq!(fresh.status(Millis::now()), Status::Active);
    assert_eq!(old_after.rotated_to.as_deref(), Some(fresh.id.as_str()));
    assert_eq!(
        old_after.status(Millis::now()),
        Status::Expired,
        "no grace period: expired at once"
    );
    assert_eq!(
        t.store.find_key_by_hash(&secret.hash()).await.unwrap().unwrap().id,
        fresh.id
    );
    let events = svc.audit(Some("acme"), None, None, None).await.unwrap();
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.created", "key.rotated", "key.created"]);
    assert_eq!(events.items[0].key_id.as_deref(), Some(fresh.id.as_str()));
    assert_eq!(events.items[1].actor, "user:eve");
    // A rotated key cannot be rotated again.
    let again = svc.rotate(&old.id, RotateOptions::default(), "t", None).await;
    assert!(matches!(again, Err(KeyError::Conflict(_))));
}

async fn rotation_grace_never_extends_the_old_key(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let soon = Millis::now().plus_seconds(60);
    let (k, _) = svc
        .create(
            NewKey {
                expires_at: Some(soon),
                ..new_key("acme", "k", &["leads:read"])
            },
            "t",
        )
        .await
        .unwrap();
    let options = RotateOptions {
        grace_period: Some(3600),
        expires_at: None,
    };
    let (old, fresh, _) = svc.rotate(&k.id, options, "t", None).await.unwrap();
    assert_eq!(old.expires_at, Some(soon), "grace ends at the earlier of the two");
    assert_eq!(
        fresh.expires_at,
        Some(soon),
        "the new key keeps the old key's expiry by default"
    );

    let (k2, _) = svc.create(new_key("acme", "k2", &["leads:read"]), "t").await.unwrap();
    let before = Millis::now();
    let later = Millis::now().plus_seconds(86_400);
    let (old2, fresh2, _) = svc
        .rotate(
            &k2.id,
            RotateOptions {
                grace_period: Some(600),
                expires_at: Some(later),
            },
            "t",
            None,
        )
        .await
        .unwrap();
    let grace_end = old2.expires_at.unwrap();
    assert!(grace_end >= before.plus_seconds(600) && grace_end <= Millis::now().plus_seconds(600));
    assert_eq!(
        old2.status(Millis::now()),
        Status::Active,
        "still usable during the grace period"
    );
    assert_eq!(fresh2.expires_at, Some(later));
    // Negative, or over 30 days (docs/KEYS.md: an unbounded grace
    // once wrote an empty expiry timestamp).
    for (grace, needle) in [
        (-1, "negative"),
        (30 * 86_400 + 1, "30 days"),
        (100_000_000 * 86_400, "30 days"),
    ] {
        let (f, message) = invalid_field(
            svc.rotate(
                &fresh2.id,
                RotateOptions {
                    grace_period: Some(grace),
                    expires_at: None,
                },
                "t",
                None,
            )
            .await,
        );
        assert_eq!(f, "grace_period");
        assert!(message.contains(needle), "{grace}: {message}");
    }
    let (old3, _, _) = svc
        .rotate(
            &fresh2.id,
            RotateOptions {
                grace_period: Some(30 * 86_400),
                expires_at: None,
            },
            "t",
            None,
        )
        .await
        .unwrap();
    assert!(old3.expires_at.is_some_and(|at| !at.to_rfc3339().is_empty()));
}

async fn two_revokes_racing_record_one_revocation(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    for round in 0..5 {
        let (k, _) = svc
            .create(new_key("acme", &format!("k{round}"), &["leads:read"]), "t")
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            svc.revoke(&k.id, Some("a"), "actor:a", None),
            svc.revoke(&k.id, Some("b"), "actor:b", None)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "both see the same, single revocation");
        let events = svc.audit(None, Some(&k.id), None, None).await.unwrap();
        assert_eq!(events.items.iter().filter(|e| e.action == "key.revoked").count(), 1);
    }
}

async fn a_rotate_racing_a_revoke_never_leaves_a_rotation_of_a_revoked_key(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    for round in 0..5 {
        let (k, _) = svc
            .create(new_key("acme", &format!("k{round}"), &["leads:read"]), "t")
            .await
            .unwrap();
        let (rotated, revoked) = tokio::join!(
            svc.rotate(
                &k.id,
                RotateOptions {
                    grace_period: Some(3600),
                    expires_at: None
                },
                "t",
                None
            ),
            svc.revoke(&k.id, None, "t", None)
        );
        let revoked = revoked.unwrap();
        assert_eq!(revoked.status(Millis::now()), Status::Revoked);
        let events = svc.audit(None, Some(&k.id), None, None).await.unwrap();
        let actions: Vec<&str> = events.items.iter().rev().map(|e| e.action.as_str()).collect();
        match rotated {
            // The rotation came first: it is recorded before the revocation.
            Ok((_, fresh, _)) => {
                assert_eq!(actions, ["key.created", "key.rotated", "key.revoked"]);
                assert_eq!(
                    svc.get(&fresh.id, None).await.unwrap().status(Millis::now()),
                    Status::Active
                );
            }
            // The revocation came first: the rotation was refused.
            Err(KeyError::Conflict(_)) => assert_eq!(actions, ["key.created", "key.revoked"]),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

async fn a_hundred_concurrent_creates_lose_and_duplicate_nothing(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let creates = (0..100).map(|i| {
        let svc = svc.clone();
        tokio::spawn(async move {
            svc.create(new_key("acme", &format!("k{i}"), &["leads:read"]), "t")
                .await
        })
    });
    let results = futures::future::join_all(creates).await;
    let mut ids = std::collections::HashSet::new();
    let mut starts = std::collections::HashSet::new();
    for r in results {
        let (k, secret) = r.unwrap().unwrap();
        ids.insert(k.id);
        starts.insert(secret.reveal().to_owned());
    }
    assert_eq!((ids.len(), starts.len()), (100, 100));
    let mut listed = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let page = svc
            .list(
                Some("acme"),
                StatusFilter::All,
                Some(30),
                cursor.map(|c: keyward::keys::Cursor| c.to_string()).as_deref(),
            )
            .await
            .unwrap();
        listed.extend(page.items.into_iter().map(|k| k.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(listed, ids);
    assert_eq!(
        svc.audit(Some("acme"), None, Some(1000), None)
            .await
            .unwrap()
            .items
            .len(),
        100
    );
}

async fn pagination_stays_correct_while_keys_are_added(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    for i in 0..40 {
        svc.create(new_key("acme", &format!("before{i}"), &["leads:read"]), "t")
            .await
            .unwrap();
    }
    let writer = {
        let svc = svc.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                svc.create(new_key("acme", &format!("during{i}"), &["leads:read"]), "t")
                    .await
                    .unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = svc
            .list(
                Some("acme"),
                StatusFilter::All,
                Some(7),
                cursor.map(|c: keyward::keys::Cursor| c.to_string()).as_deref(),
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|k| k.name));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    writer.await.unwrap();
    let before: Vec<&String> = seen.iter().filter(|n| n.starts_with("before")).collect();
    assert_eq!(before.len(), 40, "every key that existed is listed once: {seen:?}");
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no key is listed twice");
}

async fn management_keys_are_apart_from_customer_keys(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (m, secret) = svc.create_management_key(&t.store, "ops", None, "cli").await.unwrap();
    assert!(secret.reveal().starts_with("kwm_"));
    assert_eq!(format::parse_management(secret.reveal()), Ok(()));
    assert_eq!(
        svc.authenticate_management(secret.reveal()).await.unwrap().unwrap().id,
        m.id
    );
    // A use is recorded (to the minute, in the background).
    let mut used = None;
    for _ in 0..40 {
        used = t.store.get_management_key(&m.id).await.unwrap().unwrap().last_used_at;
        if used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(used.is_some(), "last_used_at moves on use");
    assert_eq!(m.last_used_at, None);
    let (limited, limited_secret) = svc
        .create_management_key(&t.store, "acme-admin", Some("acme"), "cli")
        .await
        .unwrap();
    assert_eq!(limited.account.as_ref().map(|a| a.as_str()), Some("acme"));
    assert_eq!(
        svc.authenticate_management(limited_secret.reveal())
            .await
            .unwrap()
            .unwrap()
            .account
            .map(|a| a.to_string())
            .as_deref(),
        Some("acme")
    );
    // A customer key never authenticates as a management key, and vice versa.
    let (_, customer) = svc.create(new_key("acme", "k", &["*"]), "t").await.unwrap();
    assert_eq!(svc.authenticate_management(customer.reveal()).await.unwrap(), None);
    assert!(t.store.find_key_by_hash(&secret.hash()).await.unwrap().is_none());
    let listed: Vec<String> = t
        .store
        .list_management_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, [limited.id.clone(), m.id.clone()]);
    let revoked = svc.revoke_management_key(&t.store, &m.id, "cli").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(svc.authenticate_management(secret.reveal()).await.unwrap(), None);
    assert!(
        svc.revoke_management_key(&t.store, &m.id, "cli").await.is_ok(),
        "idempotent"
    );
    assert!(t
        .raw_execute("UPDATE management_keys SET revoked_at = NULL")
        .await
        .is_err());
    let events = svc.audit(None, None, None, None).await.unwrap();
    assert_eq!(
        events
            .items
            .iter()
            .filter(|e| e.action == "management_key.revoked")
            .count(),
        1
    );
}

async fn the_plaintext_is_stored_nowhere(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (k, secret) = svc.create(new_key("acme", "k", &["*"]), "t").await.unwrap();
    let (_, _, rotated) = svc.rotate(&k.id, RotateOptions::default(), "t", None).await.unwrap();
    let (_, management) = svc.create_management_key(&t.store, "ops", None, "t").await.unwrap();
    t.store.close().await; // flush SQLite's WAL into the files we read
    let stored = t.everything_stored().await;
    assert!(stored.contains(&k.id), "the dump does show what is stored");
    for plaintext in [secret.reveal(), rotated.reveal(), management.reveal()] {
        let body = &plaintext[plaintext.len() - 36..];
        assert!(!stored.contains(body), "a key body reached the database");
        assert!(
            !stored.contains(&body[4..20]),
            "part of a key body reached the database"
        );
    }
}

/// A write the database refuses (here a trigger guarding revocation) is a
/// bug to report, never an outage to retry (503).
async fn a_refused_write_is_a_bug_not_an_outage(t: &TestStore) {
    let svc = Calls(t.service("coldsend"));
    let (k, _) = svc.create(new_key("acme", "k", &["*"]), "t").await.unwrap();
    svc.revoke(&k.id, None, "t", None).await.unwrap();
    let refused = t
        .raw_sql(&format!("UPDATE keys SET revoked_at = NULL WHERE id = '{}'", k.id))
        .await
        .unwrap_err();
    let e = keyward::store::StoreError::from(refused);
    assert!(matches!(e, keyward::store::StoreError::Refused(_)), "{e:?}");
    let duplicate = t
        .raw_sql(&format!(
            "INSERT INTO keys (id, account, name, environment, scopes, hash, start, metadata, created_at, created_by) \
             SELECT id, account, name, environment, scopes, hash, start, metadata, created_at, created_by FROM keys WHERE id = '{}'",
            k.id
        ))
        .await
        .unwrap_err();
    let e = keyward::store::StoreError::from(duplicate);
    assert!(matches!(e, keyward::store::StoreError::Refused(_)), "{e:?}");
}

on_both_stores!(
    a_refused_write_is_a_bug_not_an_outage,
    created_key_has_the_documented_format_and_record,
    the_default_environment_is_the_first_listed,
    bad_input_is_refused_naming_the_field,
    grants_are_deduplicated_and_bounded,
    unknown_ids_are_not_found,
    an_account_limit_hides_other_accounts_keys,
    listing_is_newest_first_by_account_and_status_with_cursors,
    update_renames_and_changes_grants_and_expiry,
    a_key_with_a_stale_grant_can_still_be_renamed,
    revocation_is_permanent_idempotent_and_audited_once,
    expired_keys_are_final,
    the_schema_refuses_to_reactivate_delete_or_rewrite_history,
    rotation_makes_a_new_key_and_expires_the_old_one_at_once_by_default,
    rotation_grace_never_extends_the_old_key,
    two_revokes_racing_record_one_revocation,
    a_rotate_racing_a_revoke_never_leaves_a_rotation_of_a_revoked_key,
    a_hundred_concurrent_creates_lose_and_duplicate_nothing,
    pagination_stays_correct_while_keys_are_added,
    management_keys_are_apart_from_customer_keys,
    the_plaintext_is_stored_nowhere,
);
