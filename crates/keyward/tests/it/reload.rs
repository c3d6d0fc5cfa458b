//! The catalog changes without a restart (docs/DEPLOYMENT.md, "Catalog changes"):
//! a running server picks up its file's new content within seconds and on
//! SIGHUP; a bad file is refused with its `file:line:col` errors and the
//! old catalog kept; keys cached before the change see its new scopes at
//! once (through `*`, `resource:all`); usage counted before and after a
//! change that renumbers the scopes lands under the right names; `/readyz`
//! and `/metrics` name the catalog served by its digest.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::server::{catalog_path, Options, Server};
use crate::support::{Backend, TestStore};

/// ColdSend with a `widgets` resource declared first (so every scope id
/// of the original moves) and a route for it.
fn with_widgets(original: &str) -> String {
    let resources = original.find("[resources.campaigns]").unwrap();
    let routes = original.find("[[routes]]").unwrap();
    format!(
        "{}[resources.widgets]\ndescription = \"Widgets\"\nactions.read = \"View widgets\"\n\n{}\
         [[routes]]\nmethods = [\"GET\"]\npath = \"/api/public/v1/widgets\"\nscopes = [\"widgets:read\"]\n\n{}",
        &original[..resources],
        &original[resources..routes],
        &original[routes..]
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn readyz_digest(s: &Server) -> String {
    let r = s.client.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let header = r.headers()["x-keyward-catalog"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert_eq!(body, format!("ready\ncatalog {header}\n"));
    header
}

async fn metrics(s: &Server) -> String {
    s.client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn route_code(s: &Server, key: &str, path: &str) -> String {
    let (_, body) = s.verify(json!({"key": key, "method": "GET", "path": path})).await;
    body["code"].as_str().unwrap_or("").to_owned()
}

/// Waits (at most 5 s) until `/readyz` names `digest`.
async fn until_serving(s: &Server, digest: &str) {
    let started = Instant::now();
    while readyz_digest(s).await != digest {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new catalog was not loaded within 5 s:\n{}",
            s.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hang_up(s: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A server on a copy of ColdSend's catalog (which the test then edits),
/// keys cached for a minute, logging at info.
async fn serve_a_copy(extra: &[&str]) -> (TestStore, tempfile::TempDir, std::path::PathBuf, String, Server) {
    let t = TestStore::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    let original = std::fs::read_to_string(catalog_path("coldsend")).unwrap();
    std::fs::write(&file, &original).unwrap();
    let mut extra_args = vec!["--cache-ttl-seconds".to_owned(), "60".to_owned()];
    extra_args.extend(extra.iter().map(|a| (*a).to_owned()));
    let s = Server::start(
        &t,
        Options {
            catalog: file.to_str().unwrap(),
            extra_args,
            env: vec![("KEYWARD_LOG", "info".to_owned())],
            ..Options::default()
        },
    )
    .await;
    (t, dir, file, original, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_catalog_file_is_served_without_a_restart() {
    // Cached keys would live a minute: only a recompilation can show them
    // the new scopes in time.
    let (_t, _dir, file, original, s) = serve_a_copy(&["--usage-flush-ms", "100"]).await;
    assert_eq!(readyz_digest(&s).await, sha256_hex(original.as_bytes()));
    let (_, everything) = s.create_key("acme", &["*"]).await;
    let (reader_id, reader) = s.create_key("acme", &["campaigns:all"]).await;
    // Both cached, compiled for the first catalog.
    assert_eq!(
        route_code(&s, &everything, "/api/public/v1/widgets").await,
        "UNKNOWN_ROUTE"
    );
    assert_eq!(route_code(&s, &reader, "/api/public/v1/campaigns").await, "VALID");

    // SIGHUP with nothing changed: the server keeps serving (SIGHUP's
    // default would end it) and says the file is unchanged.
    hang_up(&s);
    let started = Instant::now();
    while !s.stderr().contains("the catalog file is unchanged") {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", s.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(route_code(&s, &reader, "/api/public/v1/campaigns").await, "VALID");

    // A new resource, declared first: every old scope id moves.
    let changed = with_widgets(&original);
    std::fs::write(&file, &changed).unwrap();
    until_serving(&s, &sha256_hex(changed.as_bytes())).await;
    assert_eq!(
        route_code(&s, &everything, "/api/public/v1/widgets").await,
        "VALID",
        "`*` covers a scope added by a reload, for a key cached before it"
    );
    assert_eq!(route_code(&s, &reader, "/api/public/v1/campaigns").await, "VALID");
    assert_eq!(
        route_code(&s, &reader, "/api/public/v1/widgets").await,
        "INSUFFICIENT_SCOPE"
    );
    let (status, catalog) = s.manage(Method::GET, "/v1/catalog", None).await;
    assert_eq!(status, 200);
    assert!(catalog.to_string().contains("widgets:read"), "{catalog}");
    let openapi = s.client.get(format!("{}/openapi.json", s.url)).send().await.unwrap();
    assert!(openapi.text().await.unwrap().contains("widgets:read"));
    let (status, _) = s
        .manage(
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "w", "scopes": ["widgets:read"]})),
        )
        .await;
    assert_eq!(status, 201, "the new scope is grantable at once");

    // Usage counted under the first catalog and under the second lands
    // under the scope names, not under renumbered ids.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, usage) = s
            .manage(Method::GET, &format!("/v1/keys/{reader_id}/usage"), None)
            .await;
        assert_eq!(status, 200);
        if usage["scopes_used"] == json!({"campaigns:read": 3}) {
            break;
        }
        assert!(Instant::now() < deadline, "{usage}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A bad file is refused, with where and why; the catalog served stays.
    let served = readyz_digest(&s).await;
    let bad = changed.replace("actions.read = \"View widgets\"", "actions.read = 42");
    let bad_line = bad[..bad.find("actions.read = 42").unwrap()].lines().count() + 1;
    std::fs::write(&file, &bad).unwrap();
    let started = Instant::now();
    while !s.stderr().contains("catalog reload refused") {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", s.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = s.stderr();
    assert!(
        said.contains(&format!("{}:{bad_line}:", file.display())),
        "the error names its line: {said}"
    );
    assert_eq!(readyz_digest(&s).await, served);
    assert_eq!(route_code(&s, &everything, "/api/public/v1/widgets").await, "VALID");
    let m = metrics(&s).await;
    assert!(
        m.contains(&format!("keyward_catalog_info{{digest=\"{served}\"}} 1")),
        "{m}"
    );
    assert!(m.contains("keyward_catalog_reloads_total 1"), "{m}");
    assert!(m.contains("keyward_catalog_reloads_refused_total 1"), "{m}");
    crate::tools::assert_promtool_accepts(&m);

    // Fixed again, and the old catalog back: a scope removed by a reload
    // grants nothing at once.
    std::fs::write(&file, &original).unwrap();
    until_serving(&s, &sha256_hex(original.as_bytes())).await;
    assert_eq!(
        route_code(&s, &everything, "/api/public/v1/widgets").await,
        "UNKNOWN_ROUTE"
    );
    let m = metrics(&s).await;
    assert!(!m.contains(&served), "only the catalog served is reported: {m}");
}

/// A reload that drops an environment refuses that environment's keys at
/// once, cached or not; a file the next start would refuse (a bad
/// `[server]` table) is refused now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_rechecks_the_key_format_and_the_settings_tables() {
    let (_t, _dir, file, original, s) = serve_a_copy(&[]).await;
    let (status, created) = s
        .manage(
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "t", "scopes": ["*"], "environment": "test"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let test_key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(s.code_of(&test_key).await, "VALID", "now cached");

    let bad = format!("{original}\n[server]\nbogus_setting = 1\n");
    std::fs::write(&file, &bad).unwrap();
    let started = Instant::now();
    while !s.stderr().contains("catalog reload refused") {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", s.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.stderr().contains("bogus_setting"), "{}", s.stderr());
    assert_eq!(readyz_digest(&s).await, sha256_hex(original.as_bytes()));

    let live_only = original.replace("environments = [\"live\", \"test\"]", "environments = [\"live\"]");
    assert_ne!(live_only, original);
    std::fs::write(&file, &live_only).unwrap();
    until_serving(&s, &sha256_hex(live_only.as_bytes())).await;
    assert_eq!(
        s.code_of(&test_key).await,
        "MALFORMED",
        "a cached key of a dropped environment is refused at once"
    );
}

/// SIGHUP never ends the server, even without a catalog file to reload
/// (the built-in demo catalog).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_a_catalog_file_leaves_the_server_running() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .current_dir(dir.path())
        .env_remove("KEYWARD_CONFIG")
        .env_remove("KEYWARD_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(url) = line.strip_prefix("keyward listening on ") {
            break url.to_owned();
        }
    };
    std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
