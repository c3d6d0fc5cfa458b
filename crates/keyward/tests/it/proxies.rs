//! keyward behind a real proxy: nginx with `auth_request`, configured with
//! `examples/nginx/keyward-auth.conf`, in front of an upstream (a second
//! nginx server) that echoes the `X-Keyward-*` headers it receives.
//!
//! Needs nginx with the auth_request module (`.ci/install-test-tools`
//! installs Debian's `nginx-light`).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

type Header<'a> = (&'a str, &'a str);

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("this test needs nginx with auth_request: run .ci/install-test-tools (apt install nginx-light)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx in the foreground, stopped when dropped.
struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    async fn start(keyward: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let (front, upstream) = (free_port(), free_port());
        let snippet = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/nginx/keyward-auth.conf");
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
    upstream your_api {{ server 127.0.0.1:{upstream}; }}

    # The API: echoes who keyward said the key is.
    server {{
        listen 127.0.0.1:{upstream};
        location / {{
            return 200 "account=$http_x_keyward_account key=$http_x_keyward_key_id scopes=$http_x_keyward_scopes env=$http_x_keyward_environment\n";
        }}
    }}

    server {{
        listen 127.0.0.1:{front};
        include {snippet};

        location /api/ {{
            auth_request /_keyward;
            auth_request_set $keyward_key_id $upstream_http_x_keyward_key_id;
            auth_request_set $keyward_account $upstream_http_x_keyward_account;
            auth_request_set $keyward_scopes $upstream_http_x_keyward_scopes;
            auth_request_set $keyward_environment $upstream_http_x_keyward_environment;
            proxy_set_header X-Keyward-Key-Id $keyward_key_id;
            proxy_set_header X-Keyward-Account $keyward_account;
            proxy_set_header X-Keyward-Scopes $keyward_scopes;
            proxy_set_header X-Keyward-Environment $keyward_environment;
            proxy_pass http://your_api;
        }}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{front}");
        let nginx = Nginx { child, url, _dir: dir };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", front)).await.is_ok() {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default()
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_with_the_example_config() {
    let t = TestStore::new(Backend::Sqlite).await;
    let s = Server::start(&t, Options::default()).await;
    let nginx = Nginx::start(&s.url).await;
    let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
    let client = reqwest::Client::new();
    let at = |path: &str| format!("{}{path}", nginx.url);

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
        (
            Method::POST,
            "/api/public/v1/campaigns",
            &[
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Uri", "/api/public/v1/campaigns"),
            ],
        ),
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
        assert_eq!(status, 403, "{method} {path} {extra:?}: {body}");
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

    drop(nginx);
    drop(s);
    t.finish().await;
}
