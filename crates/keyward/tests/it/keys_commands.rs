//! `keyward keys ...` and `keyward admin ...` on both stores, as separate
//! processes sharing the database.

use keyward::keys::format;

use crate::support::{on_both_stores, TestStore};
use crate::{stderr, stdout};

fn run(t: &TestStore, args: &[&str]) -> std::process::Output {
    run_with_env(t, args, &[])
}

/// `keyward <args>` on the test's store (and the ColdSend catalog for
/// `keys` commands), with extra environment variables.
fn run_with_env(t: &TestStore, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(t.cli_args());
    let coldsend = crate::example("coldsend");
    if args.first() == Some(&"keys") {
        all.extend(["--config".to_owned(), coldsend]);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(&all)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_DATA_DIR")
        .env("USER", "tester")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

async fn keys_create_prints_the_key_alone_and_the_rest_works_on_it(t: &TestStore) {
    let out = run(
        t,
        &[
            "keys",
            "create",
            "--account",
            "acme",
            "--name",
            "CRM sync",
            "--scope",
            "campaigns:all,leads:read",
            "--expires",
            "30d",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let key = stdout(&out);
    assert_eq!(key.lines().count(), 1);
    let key = key.trim();
    assert_eq!(format::parse(key, "cs", &["live".into(), "test".into()]), Ok("live"));

    let list = run(t, &["keys", "list", "--account", "acme", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = v["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["items"][0]["status"], "active");
    assert_eq!(
        v["items"][0]["scopes"],
        serde_json::json!(["campaigns:all", "leads:read"])
    );
    assert_eq!(v["items"][0]["created_by"], "cli:tester");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&key[8..]),
        "listings never show the secret"
    );

    let table = stdout(&run(t, &["keys", "list"]));
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("CRM sync") && table.contains(&key[..12]), "{table}");

    let show = stdout(&run(t, &["keys", "show", &id]));
    assert!(
        show.contains("status        active") && show.contains("campaigns:all, leads:read"),
        "{show}"
    );

    let rotated = run(t, &["keys", "rotate", &id, "--grace", "1h"]);
    assert_eq!(rotated.status.code(), Some(0), "{}", stderr(&rotated));
    let new_key = stdout(&rotated).trim().to_owned();
    assert_ne!(new_key, key);
    assert!(new_key.starts_with("cs_live_"));
    // People see a replaced key in its grace as such, with its expiry; the
    // API's status stays one of three.
    let table = stdout(&run(t, &["keys", "list"]));
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_default()
        .to_owned();
    assert!(row.contains("in grace") && row.contains("T"), "{table}");
    assert!(table.lines().next().unwrap().contains("EXPIRES"), "{table}");
    let show = stdout(&run(t, &["keys", "show", &id]));
    assert!(show.contains("status        in grace"), "{show}");
    let v: serde_json::Value = serde_json::from_slice(&run(t, &["keys", "show", &id, "--json"]).stdout).unwrap();
    assert_eq!(v["status"], "active");
    let usage = stdout(&run(t, &["keys", "usage", &id]));
    assert!(usage.contains("unused grants:    campaigns:all, leads:read"), "{usage}");

    let revoked = run(t, &["keys", "revoke", &id, "--reason", "leaked", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["revoke_reason"].as_str()),
        (Some("revoked"), Some("leaked"))
    );
    let twice = run(t, &["keys", "revoke", &id]);
    assert_eq!(twice.status.code(), Some(0));
    assert!(stderr(&twice).contains("already revoked at"), "{}", stderr(&twice));
    let again = run(t, &["keys", "rotate", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("revoked"), "{}", stderr(&again));

    let audit = stdout(&run(t, &["keys", "audit", "--key", &id]));
    assert!(
        audit.contains("key.revoked") && audit.contains("key.rotated") && audit.contains("cli:tester"),
        "{audit}"
    );
}

async fn keys_create_with_json_returns_the_record_with_the_key(t: &TestStore) {
    let out = run(
        t,
        &[
            "keys",
            "create",
            "--account",
            "acme",
            "--name",
            "k",
            "--scope",
            "*",
            "--environment",
            "test",
            "--metadata",
            r#"{"team":"x"}"#,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["key"].as_str().unwrap().starts_with("cs_test_"));
    assert_eq!(v["environment"], "test");
    assert_eq!(v["metadata"]["team"], "x");
    assert!(v["id"].as_str().unwrap().starts_with("key_"));
    assert!(v.get("hash").is_none());
}

async fn bad_input_exits_2_with_a_clear_message(t: &TestStore) {
    let cases: [(&[&str], &str); 6] = [
        (&["--name", "", "--scope", "*"], "name: must not be empty"),
        (
            &["--name", "k", "--scope", "leads:raed"],
            "unknown scope `leads:raed` (did you mean `leads:read`?)",
        ),
        (
            &["--name", "k", "--scope", "*", "--expires", "2020-01-01T00:00:00Z"],
            "is not in the future",
        ),
        (
            &["--name", "k", "--scope", "*", "--expires", "soon"],
            "expires: `soon` is neither a duration",
        ),
        (
            &["--name", "k", "--scope", "*", "--metadata", "{"],
            "metadata: `{` is not JSON",
        ),
        (
            &["--name", "k", "--scope", "*", "--environment", "prod"],
            "environment: `prod` is not one of live, test",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["keys", "create", "--account", "acme"];
        all.extend_from_slice(args);
        let out = run(t, &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    let out = run(t, &["keys", "show", "key_doesnotexist"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no key `key_doesnotexist`"));
    let out = run(t, &["keys", "list", "--status", "dead"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'dead' for '--status <STATUS>'")
            && stderr(&out).contains("active, expired, revoked, all"),
        "{}",
        stderr(&out)
    );
}

async fn admin_commands_manage_management_keys(t: &TestStore) {
    let out = run(t, &["admin", "create-key", "--name", "ops"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let key = stdout(&out);
    assert_eq!(key.lines().count(), 1);
    assert_eq!(format::parse_management(key.trim()), Ok(()));
    let out = run(t, &["admin", "create-key", "--name", "acme admin", "--account", "acme"]);
    assert_eq!(out.status.code(), Some(0));
    let listed = run(t, &["admin", "list-keys", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["account"], "acme");
    let id = v[1]["id"].as_str().unwrap().to_owned();
    let table = stdout(&run(t, &["admin", "list-keys"]));
    assert!(table.contains("(all)") && table.contains("acme admin"), "{table}");
    let revoked = run(t, &["admin", "revoke-key", &id]);
    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    let v: serde_json::Value = serde_json::from_slice(&run(t, &["admin", "list-keys", "--json"]).stdout).unwrap();
    assert!(v[1]["revoked_at"].is_string());
    let missing = run(t, &["admin", "revoke-key", "mk_nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let empty_name = run(t, &["admin", "create-key", "--name", ""]);
    assert_eq!(empty_name.status.code(), Some(2));
}

/// `keyward admin list-keys` on the embedded database in `data`.
fn list_keys(data: &std::path::Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["admin", "list-keys", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_embedded_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh-data");
    list_keys(&data);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let db = data.join("keyward.db");
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);

    // A database file an earlier version left readable by others is made
    // private when opened.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    list_keys(&data);
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Every command that makes a key, with logs at the most verbose level, in
/// both formats: the key appears on stdout and in no log line.
async fn no_log_line_carries_a_plaintext_key(t: &TestStore) {
    for format in ["text", "json"] {
        let run_logged =
            |args: &[&str]| run_with_env(t, args, &[("KEYWARD_LOG", "trace"), ("KEYWARD_LOG_FORMAT", format)]);
        let created = run_logged(&["keys", "create", "--account", "acme", "--name", "k", "--scope", "*"]);
        let key = stdout(&created).trim().to_owned();
        let id = {
            let out = run_logged(&["keys", "list", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["items"][0]["id"].as_str().unwrap().to_owned()
        };
        let rotated = run_logged(&["keys", "rotate", &id]);
        let new_key = stdout(&rotated).trim().to_owned();
        let admin = run_logged(&["admin", "create-key", "--name", "ops"]);
        let management = stdout(&admin).trim().to_owned();
        let logs = format!("{}{}{}", stderr(&created), stderr(&rotated), stderr(&admin));
        assert!(
            logs.contains("key created") && logs.contains("key rotated"),
            "logging is on: {logs}"
        );
        for secret in [&key, &new_key, &management] {
            assert!(secret.len() >= 40, "{secret}");
            let body = &secret[secret.len() - 36..];
            assert!(
                !logs.contains(body) && !logs.contains(&body[..12]),
                "a key body is in the logs ({format})"
            );
        }
    }
}

on_both_stores!(
    keys_create_prints_the_key_alone_and_the_rest_works_on_it,
    keys_create_with_json_returns_the_record_with_the_key,
    bad_input_exits_2_with_a_clear_message,
    admin_commands_manage_management_keys,
    no_log_line_carries_a_plaintext_key,
);
