//! keyward behind real proxies, each configured with its example from
//! `examples/`: nginx `auth_request` (`examples/nginx/keyward-*.conf`)
//! and Caddy `forward_auth` (`examples/caddy/Caddyfile`), in front of an
//! upstream API (in this process) that echoes the `X-Keyward-*` headers it
//! receives. Every client request of the hostile table (`hostile.rs`) runs
//! through both, with the strict and the loose catalog: the answer the
//! client gets, and on a 200 that the API saw keyward's identity headers
//! and no client-sent `X-Keyward-*` header.
//!
//! Needs nginx with the auth_request module and Caddy
//! (`.ci/install-test-tools` installs Debian's `nginx-light` and `caddy`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::hostile::{self, Catalog, Keys, Via};
use crate::server::Server;
use crate::support::{Backend, TestStore};

/// The first of `paths` that exists, or a failure saying how to install it.
fn binary(paths: &[&str], install: &str) -> PathBuf {
    paths
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("this test needs {install}: run .ci/install-test-tools"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy in the foreground, stopped when dropped.
struct Proxy {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Waits until the proxy accepts connections on `port`.
    async fn ready(child: Child, port: u16, dir: tempfile::TempDir, log: &str) -> Proxy {
        let proxy = Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the proxy did not start: {}",
            std::fs::read_to_string(proxy.dir.path().join(log)).unwrap_or_default()
        );
    }
}

/// The API behind the proxy: answers every request with what it was given
/// of keyward's headers, in the `x-api-saw` header (so that a HEAD answer
/// carries it too) and as the body: every header whose name reads
/// `x-keyward-...` (also spelled with `_`), sorted, `name=value; ...`;
/// and the request line it got in `x-api-request`.
async fn echoing_api() -> String {
    use axum::http::{HeaderMap, HeaderValue, Method, Uri};
    async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> ([(&'static str, HeaderValue); 2], String) {
        let mut saw: Vec<String> = headers
            .iter()
            .filter(|(name, _)| name.as_str().replace('_', "-").starts_with("x-keyward-"))
            .map(|(name, value)| format!("{name}={}", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        saw.sort();
        let saw = saw.join("; ");
        let header = HeaderValue::from_str(&saw).unwrap_or(HeaderValue::from_static("<not a header value>"));
        let request = HeaderValue::from_str(&format!("{method} {uri}")).unwrap_or(HeaderValue::from_static("?"));
        ([("x-api-saw", header), ("x-api-request", request)], saw)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(echo)).await });
    address.to_string()
}

async fn start_nginx(keyward: &str, api: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let front = free_port();
    let http = example("nginx/keyward-http.conf");
    let http = http.display();
    let snippet = example("nginx/keyward-auth.conf");
    let snippet = snippet.display();
    let protect = example("nginx/keyward-protect.conf");
    let protect = protect.display();
    let keyward = keyward.trim_start_matches("http://");
    let conf = format!(
        r#"
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {http};
    upstream keyward {{
        server {keyward};
        keepalive 8;
        keepalive_timeout 50s;
    }}
    upstream your_api {{ server {api}; }}

    server {{
        listen 127.0.0.1:{front};
        include {snippet};

        # Every path protected (README.md protects /api/): the hostile
        # table's paths in other letter cases must reach keyward too.
        location / {{
            include {protect};
            proxy_pass http://your_api;
        }}
    }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = binary(
        &["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"],
        "nginx with auth_request (apt install nginx-light)",
    );
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .spawn()
        .unwrap();
    Proxy::ready(child, front, dir, "error.log").await
}

async fn start_caddy(keyward: &str, api: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let front = free_port();
    let caddy = binary(&["/usr/bin/caddy", "/usr/local/bin/caddy"], "Caddy (apt install caddy)");
    let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let child = Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(example("caddy/Caddyfile"))
        .env("KEYWARD", keyward.trim_start_matches("http://"))
        .env("API", api)
        .env("LISTEN", format!("127.0.0.1:{front}"))
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proxy::ready(child, front, dir, "caddy.log").await
}

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(path)
}

/// A client's request to the proxy, sent with reqwest (a well-behaved
/// client; the hostile ones are in the table).
async fn get(proxy: &Proxy, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", proxy.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let saw = response
        .headers()
        .get("x-api-saw")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, saw.unwrap_or(body))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Nginx,
    Caddy,
}

/// keyward (with the header family the proxy sends and `catalog`) behind
/// the proxy, in front of the echoing API; then every client request of
/// the hostile table through the proxy. The wrong answers, described.
async fn through(kind: Kind, catalog: Catalog, file: &str) -> Vec<String> {
    let t = TestStore::new(Backend::Sqlite).await;
    let (family, via) = match kind {
        Kind::Nginx => ("nginx", Via::NginxProxy),
        Kind::Caddy => ("forwarded", Via::CaddyProxy),
    };
    let s = hostile::serve(&t, file, family).await;
    let keys = Keys::create(&s, &t).await;
    let api = echoing_api().await;
    let proxy = match kind {
        Kind::Nginx => start_nginx(&s.url, &api).await,
        Kind::Caddy => start_caddy(&s.url, &api).await,
    };
    let (sent, mut failures) = hostile::run(via, catalog, &proxy.url, &keys).await;
    assert!(sent > 40, "only {sent} requests through {kind:?}");
    if catalog == Catalog::Coldsend {
        failures.extend(revoked_at_once(&s, &proxy).await);
    }
    drop(proxy);
    drop(s);
    t.finish().await;
    failures
}

/// A key the proxy has just let through is refused on the next request
/// once revoked: nothing between the client and keyward remembers it.
async fn revoked_at_once(s: &Server, proxy: &Proxy) -> Vec<String> {
    let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
    let path = "/api/public/v1/campaigns/42";
    let (before, saw) = get(proxy, path, &[("X-API-Key", &key)]).await;
    let (status, _) = s
        .manage(Method::POST, &format!("/v1/keys/{id}/revoke"), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let (after, body) = get(proxy, path, &[("X-API-Key", &key)]).await;
    if (before, after) == (200, 401) {
        Vec::new()
    } else {
        vec![format!("revoked at once: {before} ({saw}) then {after} ({body})")]
    }
}

async fn every_hostile_request_through(kind: Kind) {
    let (_dir, loose) = hostile::loose_catalog();
    let mut failures = through(kind, Catalog::Coldsend, "coldsend").await;
    failures.extend(through(kind, Catalog::Loose, &loose).await);
    assert!(
        failures.is_empty(),
        "{} wrong answers through {kind:?}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_with_the_example_config() {
    every_hostile_request_through(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_with_the_example_config() {
    every_hostile_request_through(Kind::Caddy).await;
}

/// Each proxy example gives up an idle keep-alive connection to keyward
/// before keyward closes it (60 s, docs/SECURITY.md), so that it never
/// sends a request on a connection keyward is closing.
#[test]
fn the_examples_keep_idle_connections_to_keyward_under_60_seconds() {
    for (file, directive) in [
        ("nginx/README.md", "keepalive_timeout"),
        ("caddy/Caddyfile", "keepalive"),
        ("envoy/envoy.yaml", "idle_timeout:"),
    ] {
        let text = std::fs::read_to_string(example(file)).unwrap();
        let seconds: Vec<u64> = text
            .lines()
            .filter_map(|line| line.trim().strip_prefix(directive))
            .filter_map(|rest| rest.trim().trim_end_matches(';').strip_suffix('s')?.parse().ok())
            .collect();
        assert!(
            !seconds.is_empty() && seconds.iter().all(|s| *s < 60),
            "{file}: `{directive}` {seconds:?}"
        );
    }
}
