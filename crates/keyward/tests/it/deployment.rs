//! The deployment examples are real: the systemd unit passes
//! `systemd-analyze verify` (with its `ExecStart` pointed at the binary
//! under test), with no warning.

#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let unit: std::path::PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "examples",
        "systemd",
        "keyward.service",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/keyward serve"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("keyward.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/keyward", env!("CARGO_BIN_EXE_keyward")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("this test needs systemd-analyze (apt install systemd): run .ci/install-test-tools");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.trim().is_empty(), "systemd-analyze warns: {said}");
}

/// docs/DEPLOYMENT.md's SQLite backup: `keyward admin backup` while the
/// server verifies and creates keys, then a new server on the copy alone
/// knows every key made before the backup, and what was revoked stays
/// revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sqlite_backup_taken_under_load_restores_to_a_working_server() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::server::{Options, Server};
    use crate::support::{Backend, TestStore};

    let t = TestStore::new(Backend::Sqlite).await;
    let s = Server::start(&t, Options::default()).await;
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(s.create_key(&format!("acct{i}"), &["campaigns:read"]).await);
    }
    let (revoked_id, revoked_key) = s.create_key("acme", &["*"]).await;
    let (status, _) = s
        .manage(reqwest::Method::POST, &format!("/v1/keys/{revoked_id}/revoke"), None)
        .await;
    assert_eq!(status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (client, url, management, keys, stop) = (
            s.client.clone(),
            s.url.clone(),
            s.management_key.clone(),
            before.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) {
                let (_, key) = &keys[made % keys.len()];
                let verified = client
                    .post(format!("{url}/v1/verify"))
                    .json(&serde_json::json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(verified.status(), 200);
                let created = client
                    .post(format!("{url}/v1/keys"))
                    .bearer_auth(&management)
                    .json(&serde_json::json!({"account": format!("load{worker}"), "name": "during", "scopes": ["campaigns:read"]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(created.status(), 201);
                made += 1;
            }
            made
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("keyward-backup.db");
    let data_dir = t.sqlite_dir.as_ref().unwrap().path().to_owned();
    let out = {
        let copy = copy.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
                .args(["admin", "backup"])
                .arg(&copy)
                .arg("--data-dir")
                .arg(&data_dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut made = 0;
    for worker in load {
        made += worker.await.unwrap();
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(made > 0, "the server was under load");
    drop(s);

    // Restore: the copy becomes the database of a new data directory.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("keyward.db")).unwrap();
    let r = Server::start(
        &t,
        Options {
            store_args: Some(vec![
                "--data-dir".into(),
                restored.path().to_string_lossy().into_owned(),
            ]),
            ..Options::default()
        },
    )
    .await;
    for (id, key) in &before {
        assert_eq!(r.code_of(key).await, "VALID", "{id} after restore");
    }
    assert_eq!(r.code_of(&revoked_key).await, "REVOKED");
    // The management key works on the copy too.
    let (status, body) = r.manage(reqwest::Method::GET, "/v1/keys?account=acct3", None).await;
    assert_eq!(status, 200, "{body}");
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["admin", "backup"])
        .arg(&copy)
        .arg("--data-dir")
        .arg(restored.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "an existing file is never overwritten");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

#[test]
fn admin_migrate_brings_a_store_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["admin", "migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(said.starts_with("schema at version "), "{said}");
    assert!(dir.path().join("keyward.db").exists());
    assert!(migrations >= 3);
}

/// Nodes starting at once migrate once, whatever the database's default
/// isolation level (a node that waited for the lock must see what the one
/// before it committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_succeed_under_repeatable_read() {
    let (url, admin_url, name) = crate::support::fresh_postgres_database().await;
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE {name} SET default_transaction_isolation = 'repeatable read'"
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        nodes.push(tokio::spawn(
            async move { keyward::store::Store::open_postgres(&url).await },
        ));
    }
    for node in nodes {
        node.await.unwrap().unwrap().close().await;
    }
}

/// An older keyward starts on a database a newer one migrated (a rolling
/// upgrade, or a rollback): migrations only add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_binary_starts_on_a_newer_schema() {
    use crate::support::{Backend, TestStore};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestStore::new(backend).await;
        let checksum = if t.sqlite_dir.is_some() {
            "x'00'"
        } else {
            "'\\x00'::bytea"
        };
        t.raw_execute(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'from a newer keyward', true, {checksum}, 0)"
        ))
        .await
        .unwrap();
        let again = t.another_node().await;
        again.close().await;
        t.finish().await;
    }
}

/// `admin backup` never writes through a link, never backs up a database
/// it had to create (a mistyped directory), and keeps the copy private.
#[test]
fn admin_backup_refuses_links_and_missing_databases_and_keeps_the_copy_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(args)
            .env_remove("KEYWARD_DATABASE_URL")
            .output()
            .unwrap()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let backup = |target: &std::path::Path, data: &std::path::Path| {
        run(&[
            &os("admin"),
            &os("backup"),
            target.as_os_str(),
            &os("--data-dir"),
            data.as_os_str(),
        ])
    };
    let out = backup(&dir.path().join("copy.db"), &dir.path().join("typo"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no keyward database"));
    assert!(!dir.path().join("typo").exists(), "nothing created");

    let out = run(&[&os("admin"), &os("migrate"), &os("--data-dir"), data.as_os_str()]);
    assert!(out.status.success(), "{out:?}");
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.db"), &link).unwrap();
    let out = backup(&link, &data);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a dangling link is not written through: {out:?}"
    );
    assert!(!dir.path().join("elsewhere.db").exists());

    let copy = dir.path().join("copy.db");
    let out = backup(&copy, &data);
    assert!(out.status.success(), "{out:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// Migration 0005 rebuilds SQLite's usage tables in key order (WITHOUT
/// ROWID): a store migrated by an older keyward keeps every usage row, and
/// the rebuilt tables have their hour and day indexes again.
#[tokio::test]
async fn usage_rows_survive_the_rebuild_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let older = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"));
    for entry in std::fs::read_dir(migrations).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap() < "0005" {
            std::fs::copy(&path, older.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(older.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO usage_hourly VALUES ('key_b', 7200000, 5, 1), ('key_a', 3600000, 2, 0)",
        "INSERT INTO usage_scopes VALUES ('key_b', 7200000, 'contacts:read', 5)",
        "INSERT INTO usage_daily VALUES ('key_a', 0, 9, 3)",
        "INSERT INTO usage_scopes_daily VALUES ('key_a', 0, 'contacts:read', 9)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    keyward::store::Store::open_sqlite(&db).await.unwrap().close().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, String>(sql).fetch_all(&pool).await.unwrap() }
    };
    assert_eq!(
        rows("SELECT key_id || ' ' || hour || ' ' || allowed || ' ' || denied FROM usage_hourly").await,
        ["key_a 3600000 2 0", "key_b 7200000 5 1"],
        "in key order"
    );
    assert_eq!(
        rows("SELECT key_id || ' ' || scope || ' ' || count FROM usage_scopes").await,
        ["key_b contacts:read 5"]
    );
    assert_eq!(
        rows("SELECT key_id || ' ' || allowed FROM usage_daily").await,
        ["key_a 9"]
    );
    assert_eq!(
        rows("SELECT key_id || ' ' || count FROM usage_scopes_daily").await,
        ["key_a 9"]
    );
    let mut tables = rows(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'usage%' AND sql LIKE '%WITHOUT ROWID'",
    )
    .await;
    tables.sort();
    assert_eq!(
        tables,
        ["usage_daily", "usage_hourly", "usage_scopes", "usage_scopes_daily"]
    );
    let mut indexes = rows("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'usage%by_%'").await;
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "usage_daily_by_day",
            "usage_hourly_by_hour",
            "usage_scopes_by_hour",
            "usage_scopes_daily_by_day"
        ]
    );
    pool.close().await;
}
