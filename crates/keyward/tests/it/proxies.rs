//! keyward behind real proxies, each configured with its example from
//! `examples/`: nginx `auth_request` (`examples/nginx/keyward-*.conf`)
//! and Caddy `forward_auth` (`examples/caddy/Caddyfile`), in front of an
//! upstream API (in this process) that echoes the `X-Keyward-*` headers it
//! receives. The same checks run through both.
//!
//! Needs nginx with the auth_request module and Caddy
//! (`.ci/install-test-tools` installs Debian's `nginx-light` and `caddy`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

type Header<'a> = (&'a str, &'a str);

/// The first of `paths` that exists, or a failure saying how to install it.
fn binary(paths: &[&str], install: &str) -> PathBuf {
    paths
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("this test needs {install}: run .ci/install-test-tools"))
}

fn free_port() -> u16 {
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

/// The API behind the proxy: answers every request with the identity
/// headers it was given.
async fn echoing_api() -> String {
    use axum::http::HeaderMap;
    async fn echo(headers: HeaderMap) -> String {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        format!(
            "account={} key={} scopes={} env={}",
            h("x-keyward-account"),
            h("x-keyward-key-id"),
            h("x-keyward-scopes"),
            h("x-keyward-environment")
        )
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
    upstream keyward {{ server {keyward}; }}
    upstream your_api {{ server {api}; }}

    server {{
        listen 127.0.0.1:{front};
        include {snippet};

        location /api/ {{
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

async fn send(client: &reqwest::Client, method: Method, url: String, headers: &[Header<'_>]) -> (u16, String) {
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let www = response.headers().contains_key("www-authenticate");
    let body = response.text().await.unwrap();
    (
        status,
        if status == 401 && www {
            format!("www-authenticate {body}")
        } else {
            body
        },
    )
}

/// What every proxy setup must hold. `other_family` is the forward-auth
/// header family this setup does not trust.
async fn forward_auth_holds(s: &Server, proxy: &Proxy, other_family: [Header<'_>; 2]) {
    let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
    let client = reqwest::Client::new();
    let at = |path: &str| format!("{}{path}", proxy.url);

    // Allowed, with the key in either header; the API learns who it is.
    for header in [("X-API-Key", key.clone()), ("Authorization", format!("Bearer {key}"))] {
        let (status, body) = send(
            &client,
            Method::GET,
            at("/api/public/v1/campaigns/42"),
            &[(header.0, &header.1)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body.trim(),
            format!("account=acme key={id} scopes=campaigns:read env=live")
        );
    }
    // A client cannot claim to be someone else: the headers are nginx's.
    let (status, body) = send(
        &client,
        Method::GET,
        at("/api/public/v1/campaigns/42"),
        &[("X-API-Key", &key), ("X-Keyward-Account", "evil")],
    )
    .await;
    assert_eq!((status, body.contains("account=acme")), (200, true), "{body}");

    // Denied with 403: a missing scope, an unknown route, a confusing path,
    // and attempts to smuggle another request in with the other header
    // family or a method override.
    let denied: [(Method, &str, &[Header]); 5] = [
        (Method::POST, "/api/public/v1/campaigns", &[]),
        (Method::GET, "/api/public/v1/nothing", &[]),
        (Method::GET, "/api/public/v1/campaigns/%2e%2e/secret", &[]),
        (Method::POST, "/api/public/v1/campaigns", &other_family),
        (
            Method::POST,
            "/api/public/v1/campaigns",
            &[("X-HTTP-Method-Override", "GET")],
        ),
    ];
    for (method, path, extra) in denied {
        let mut headers = vec![("X-API-Key", key.as_str())];
        headers.extend_from_slice(extra);
        let (status, body) = send(&client, method.clone(), at(path), &headers).await;
        // 403, or 400 where the proxy passes the untrusted family on and
        // keyward refuses the disagreement: never through.
        assert!(
            matches!(status, 403 | 400),
            "{method} {path} {extra:?}: {status} {body}"
        );
    }

    // No key, a wrong one, a revoked one: 401 with WWW-Authenticate.
    let (status, body) = send(&client, Method::GET, at("/api/public/v1/campaigns/42"), &[]).await;
    assert_eq!(status, 401);
    assert!(
        body.starts_with("www-authenticate"),
        "nginx passes keyward's challenge on"
    );
    let (status, _) = send(
        &client,
        Method::GET,
        at("/api/public/v1/campaigns/42"),
        &[("X-API-Key", "cs_live_nope")],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .manage(Method::POST, &format!("/v1/keys/{id}/revoke"), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &client,
        Method::GET,
        at("/api/public/v1/campaigns/42"),
        &[("X-API-Key", &key)],
    )
    .await;
    assert_eq!(status, 401, "revoked at once");
}

#[derive(Clone, Copy)]
enum Kind {
    Nginx,
    Caddy,
}

/// keyward (with the header family the proxy sends) behind the proxy, in
/// front of the echoing API; then the checks.
async fn through(kind: Kind) {
    let t = TestStore::new(Backend::Sqlite).await;
    let (family, other) = match kind {
        Kind::Nginx => (
            "nginx",
            [
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Uri", "/api/public/v1/campaigns"),
            ],
        ),
        Kind::Caddy => (
            "forwarded",
            [
                ("X-Original-Method", "GET"),
                ("X-Original-URI", "/api/public/v1/campaigns"),
            ],
        ),
    };
    let options = Options {
        extra_args: vec!["--forward-auth-headers".into(), family.into()],
        ..Options::default()
    };
    let s = Server::start(&t, options).await;
    let api = echoing_api().await;
    let proxy = match kind {
        Kind::Nginx => start_nginx(&s.url, &api).await,
        Kind::Caddy => start_caddy(&s.url, &api).await,
    };
    forward_auth_holds(&s, &proxy, other).await;
    drop(proxy);
    drop(s);
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_with_the_example_config() {
    through(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_with_the_example_config() {
    through(Kind::Caddy).await;
}
