//! keyward through a real PgBouncer in transaction pooling mode (Debian's
//! 1.18: no prepared statement support, no `ignore_startup_parameters`),
//! with `database_pooler = "transaction"` and the change feed listening
//! through a session-mode PgBouncer (`database_listener_url`), as docs/DEPLOYMENT.md
//! says: two nodes verify, manage, count usage and see each other's
//! revocations; the CLI works through it too. PgBouncer's pool is smaller
//! than keyward's, so server connections change hands between every
//! transaction.

use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::proxies::free_port;
use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A PgBouncer in the foreground, stopped when dropped.
struct Bouncer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bouncer {
    /// PgBouncer in `mode` (`transaction`, `session`) in front of the
    /// test's database, with `server_pool` server connections at most.
    async fn start(direct_url: &str, mode: &str, server_pool: u32) -> Bouncer {
        assert!(
            std::path::Path::new(PGBOUNCER).exists(),
            "this test needs PgBouncer (apt install pgbouncer): run .ci/install-test-tools"
        );
        let options = sqlx::postgres::PgConnectOptions::from_str(direct_url).unwrap();
        let database = options.get_database().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let ini = format!(
            "[databases]\n\
             {database} = host={host} port={pg_port} dbname={database} user={user}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = any\n\
             pool_mode = {mode}\n\
             default_pool_size = {server_pool}\n\
             max_client_conn = 500\n",
            host = options.get_host(),
            pg_port = options.get_port(),
            user = options.get_username(),
        );
        let path = dir.path().join("pgbouncer.ini");
        std::fs::write(&path, ini).unwrap();
        let mut command = Command::new(PGBOUNCER);
        // PgBouncer refuses to run as root: it drops to the postgres user,
        // who must be able to read its file.
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            command.args(["-u", "postgres"]);
        }
        let log = std::fs::File::create(dir.path().join("pgbouncer.log")).unwrap();
        let child = command.arg(&path).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let bouncer = Bouncer {
            child,
            url: format!("postgres://{}@127.0.0.1:{port}/{database}", options.get_username()),
            dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return bouncer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("PgBouncer did not start: {}", bouncer.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn direct_url(t: &TestStore) -> String {
    let args = t.cli_args();
    assert_eq!(args[0], "--database-url");
    args[1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_work_through_pgbouncer_in_transaction_mode() {
    let t = TestStore::new(Backend::Postgres).await;
    let direct = direct_url(&t);
    let bouncer = Bouncer::start(&direct, "transaction", 2).await;
    // The listener through a session-mode PgBouncer, as docs/DEPLOYMENT.md
    // allows (stock settings: no `ignore_startup_parameters`).
    let session = Bouncer::start(&direct, "session", 4).await;
    let through_bouncer = vec![
        "--database-url".to_owned(),
        bouncer.url.clone(),
        "--database-pooler".to_owned(),
        "transaction".to_owned(),
        "--database-listener-url".to_owned(),
        session.url.clone(),
        "--database-max-connections".to_owned(),
        "6".to_owned(),
    ];
    let node = |ttl: &str| Options {
        store_args: Some(through_bouncer.clone()),
        extra_args: vec![
            "--cache-ttl-seconds".into(),
            ttl.into(),
            "--usage-flush-ms".into(),
            "100".into(),
        ],
        ..Options::default()
    };
    let a = Server::start(&t, node("30")).await;
    let b = Server::start(&t, node("60")).await;

    // Many clients at once on both nodes, each through a fresh key (so
    // every verification misses the cache and reads through PgBouncer):
    // with 2 server connections for 12 of keyward's, every transaction
    // may land on a connection another one just used.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (a_url, b_url, client, management) =
            (a.url.clone(), b.url.clone(), a.client.clone(), a.management_key.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for round in 0..12 {
                let (maker, checker) = if (worker + round) % 2 == 0 {
                    (&a_url, &b_url)
                } else {
                    (&b_url, &a_url)
                };
                let created = client
                    .post(format!("{maker}/v1/keys"))
                    .bearer_auth(&management)
                    .json(&json!({"account": format!("acct{worker}"), "name": "k", "scopes": ["campaigns:read"]}))
                    .send()
                    .await
                    .unwrap();
                let status = created.status().as_u16();
                let body: serde_json::Value = created.json().await.unwrap();
                if status != 201 {
                    failures.push(format!("create on {maker}: {status} {body}"));
                    continue;
                }
                let key = body["key"].as_str().unwrap().to_owned();
                let verified: serde_json::Value = client
                    .post(format!("{checker}/v1/verify"))
                    .json(&json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if verified["valid"] != true {
                    failures.push(format!("verify on {checker}: {verified}"));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of 96 failed, e.g. {:?}\nnode A: {}\nPgBouncer: {}",
        failures.len(),
        &failures[..failures.len().min(3)],
        a.stderr(),
        bouncer.log()
    );

    // Revocations on one node reach the other through the listener.
    for round in 0..3 {
        let (id, key) = a.create_key("acme", &["*"]).await;
        assert_eq!(b.code_of(&key).await, "VALID", "round {round}");
        let (status, _) = a.manage(Method::POST, &format!("/v1/keys/{id}/revoke"), None).await;
        assert_eq!(status, 200);
        let revoked_at = Instant::now();
        while b.code_of(&key).await != "REVOKED" {
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "round {round}: B still accepts the key after 1 s: {}",
                b.stderr()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // Usage is flushed through PgBouncer and read back.
    let (id, key) = b.create_key("acme", &["campaigns:read"]).await;
    for _ in 0..3 {
        assert_eq!(b.code_of(&key).await, "VALID");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, usage) = a.manage(Method::GET, &format!("/v1/keys/{id}/usage"), None).await;
        assert_eq!(status, 200, "{usage}");
        if usage["windows"]["24h"]["allowed"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "usage never arrived: {usage}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The command line too.
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["keys", "list", "--account", "acme", "--json"])
        .args(["--database-url", &bouncer.url, "--database-pooler", "transaction"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The three revoked keys are not listed: the active one is.
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.as_str(), "{listed}");

    for node in [&a, &b] {
        let said = node.stderr();
        assert!(!said.contains("prepared statement"), "{said}");
    }
    for node in [&a, &b] {
        let said = node.stderr();
        assert!(!said.contains("cannot listen"), "{said}");
    }
    drop((a, b, bouncer, session));
    t.finish().await;
}

#[test]
fn a_transaction_pooler_without_a_listener_url_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
            "--database-pooler",
            "transaction",
        ])
        .env_remove("KEYWARD_DATABASE_LISTENER_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("database_listener_url"), "{said}");
}
