//! The pages' security rules (docs/PAGES.md and docs/SECURITY.md), checked with a
//! plain HTTP client against the real server: headers, cookies, CSRF and
//! Origin, portal links, session ends, the sign-in throttle, and the JSON
//! API refusing the pages' cookies.

use reqwest::Method;
use serde_json::json;

use super::web::Web;
use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

/// `keyward <args>` on the test's store.
fn cli(t: &TestStore, args: &[&str]) -> std::process::Output {
    let store = t.cli_args();
    let all: Vec<&str> = args.iter().copied().chain(store.iter().map(String::as_str)).collect();
    crate::keyward(&all)
}

async fn operator(server: &Server) -> Web {
    let mut web = Web::new(&server.url);
    let signed_in = web.sign_in(&server.management_key).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    web
}

/// A portal link for `account` (and the API's whole answer).
async fn portal_link(server: &Server, account: &str, return_url: Option<&str>) -> (u16, serde_json::Value) {
    let mut body = json!({ "account": account });
    if let Some(url) = return_url {
        body["return_url"] = json!(url);
    }
    server.manage(Method::POST, "/v1/portal/sessions", Some(body)).await
}

/// A customer's browser that opened a portal link for `account`.
async fn customer(server: &Server, account: &str) -> Web {
    let (status, link) = portal_link(server, account, Some("https://app.example.com/settings")).await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().unwrap();
    let path = url.strip_prefix(&server.url).expect("the link is on the public URL");
    let mut web = Web::new(&server.url);
    let opened = web.get(path).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.location(), "/portal/keys");
    web
}

#[tokio::test]
async fn every_page_sends_the_security_headers_and_cookies_of_design_section_6() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    server.create_key("acme", &["campaigns:read"]).await;
    let mut web = Web::new(&server.url);
    let sign_in = web.get("/dashboard").await;
    let signed_in = web.sign_in(&server.management_key).await;
    let cookie = signed_in.header("set-cookie");
    assert!(
        cookie.contains("keyward_dashboard=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let keys = web.get("/dashboard/accounts/acme/keys").await;
    assert_eq!(keys.status, 200, "{}", keys.body);
    let mut customer = customer(&server, "acme").await;
    let portal = customer.get("/portal/keys").await;
    assert_eq!(portal.status, 200, "{}", portal.body);
    for page in [&sign_in, &keys, &portal] {
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.header("cache-control"), "no-store");
        assert_eq!(page.header("referrer-policy"), "no-referrer");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(
            !page.body.contains("<script>") && !page.body.contains(" style="),
            "inline script or style"
        );
    }
    let (_, link) = portal_link(&server, "acme", None).await;
    let mut other = Web::new(&server.url);
    let opened = other
        .get(link["url"].as_str().unwrap().strip_prefix(&server.url).unwrap())
        .await;
    let portal_cookie = opened.header("set-cookie");
    assert!(
        portal_cookie.contains("keyward_portal=")
            && portal_cookie.contains("SameSite=Lax")
            && portal_cookie.contains("HttpOnly"),
        "{portal_cookie}"
    );
    // Every asset is served by keyward itself.
    for asset in ["/assets/keyward.css", "/assets/keyward.js", "/assets/theme.css"] {
        assert_eq!(web.get(asset).await.status, 200, "{asset}");
    }
    assert!(
        !keys.body.contains("http://") && !keys.body.contains("https://"),
        "an external reference"
    );
}

/// The store holds a session's form token only as its SHA-256 digest (as
/// it holds the session id); a row holding anything else is a session that
/// has ended, so its forms are refused.
#[tokio::test]
async fn form_tokens_are_stored_only_as_digests() {
    use sha2::{Digest, Sha256};
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = operator(&server).await;
    let csrf = web.get("/dashboard/accounts/acme/keys/new").await.csrf();
    let file = t.sqlite_dir.as_ref().unwrap().path().join("keyward.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT csrf_token FROM web_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    let digest: String = Sha256::digest(csrf.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored, vec![(digest,)], "the token itself ({csrf}) must not be stored");

    sqlx::query("UPDATE web_sessions SET csrf_token = $1")
        .bind(&csrf)
        .execute(&pool)
        .await
        .unwrap();
    let fields = [
        ("name", "after"),
        ("grant", "campaigns:read"),
        ("csrf_token", csrf.as_str()),
    ];
    let refused = web.post("/dashboard/accounts/acme/keys", &fields, None).await;
    assert_eq!(
        refused.status, 403,
        "a row holding the token itself is no session: {}",
        refused.body
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_origin_is_refused() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = operator(&server).await;
    let form = web.get("/dashboard/accounts/acme/keys/new").await;
    let csrf = form.csrf();
    let fields = |token: &'static str| vec![("name", "forged"), ("grant", "campaigns:read"), ("csrf_token", token)];
    let path = "/dashboard/accounts/acme/keys";
    let missing = web.post(path, &fields("")[..2], None).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    let wrong = web.post(path, &fields("0123456789abcdefghijABCDEFGHIJxy"), None).await;
    assert_eq!(wrong.status, 403);
    assert!(
        wrong.header("content-type").starts_with("text/html"),
        "errors on pages are pages"
    );
    let mut with_token = fields("");
    with_token[2].1 = &csrf;
    let foreign = web.post(path, &with_token, Some("https://evil.example.com")).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let (_, list) = server.manage(Method::GET, "/v1/keys?account=acme", None).await;
    assert_eq!(list["items"], json!([]), "a refused form created a key");
    // Without Origin, the token alone decides; with our own, too.
    let own = web.post(path, &with_token, Some(&server.url.clone())).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("Copy this key now"));
    // Without a session, a form is refused too (never a redirect).
    let mut stranger = Web::new(&server.url);
    let sessionless = stranger.post(path, &with_token, None).await;
    assert_eq!(sessionless.status, 403);
    // The sign-in form has its token too.
    let forged = stranger
        .post(
            "/dashboard/sign-in",
            &[("key", &server.management_key), ("csrf_token", "x")],
            None,
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!forged.header("set-cookie").contains("keyward_dashboard="));
}

#[tokio::test]
async fn the_reveal_page_shows_the_key_once_and_never_in_a_url() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = operator(&server).await;
    let created = web
        .create_key("/dashboard/accounts/acme", "Production Backend", &["campaigns:read"])
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.header("cache-control"), "no-store");
    assert!(created.header("location").is_empty());
    let secret = super::web::between(&created.body, "id=\"secret\">", "<");
    assert!(secret.starts_with("cs_live_"), "{secret}");
    let (_, verified) = server.verify(json!({ "key": secret })).await;
    assert_eq!(verified["code"], "VALID");
    let id = verified["key_id"].as_str().unwrap();
    for path in [
        "/dashboard/accounts/acme/keys".to_owned(),
        format!("/dashboard/accounts/acme/keys/{id}"),
    ] {
        let page = web.get(&path).await;
        assert!(!page.body.contains(&secret), "{path} shows the key again");
    }
    assert!(!server.stderr().contains(&secret), "the key reached the log");
}

#[tokio::test]
async fn a_portal_link_works_once_for_its_one_account_and_never_reaches_a_log() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestStore::new(backend).await;
        let server = Server::start(&t, Options::default()).await;
        let (_, other_key) = server.create_key("globex", &["campaigns:read"]).await;
        let (status, link) = portal_link(&server, "acme", Some("https://app.example.com/settings")).await;
        assert_eq!(status, 201, "{link}");
        let url = link["url"].as_str().unwrap();
        let token = url.rsplit('/').next().unwrap().to_owned();
        assert!(url.starts_with(&format!("{}/portal/", server.url)), "{url}");
        let expires = time::OffsetDateTime::parse(
            link["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let left = expires - time::OffsetDateTime::now_utc();
        assert!(
            left <= time::Duration::minutes(5) && left > time::Duration::minutes(4),
            "{left}"
        );
        let mut web = Web::new(&server.url);
        assert_eq!(web.get(&format!("/portal/{token}")).await.status, 303);
        let again = Web::new(&server.url).get(&format!("/portal/{token}")).await;
        assert_eq!(again.status, 404, "a link worked twice");
        assert!(again.body.contains("expired"), "{}", again.body);
        let keys = web.get("/portal/keys").await;
        assert_eq!(keys.status, 200);
        assert!(keys.body.contains("Back to") && keys.body.contains("https://app.example.com/settings"));
        assert!(
            !keys.body.contains("/dashboard"),
            "a portal page links to operator pages"
        );
        // Another account's key, by id, under any address: not found.
        let (globex_id, _) = server.create_key("globex", &["campaigns:read"]).await;
        for path in [
            format!("/portal/keys/{globex_id}"),
            format!("/portal/keys/{globex_id}/revoke"),
            "/dashboard/accounts/globex/keys".to_owned(),
            "/dashboard".to_owned(),
        ] {
            let page = web.get(&path).await;
            let to_sign_in = (page.status == 303 && page.location() == "/dashboard")
                || (page.status == 200 && page.body.contains("Sign in to the dashboard"));
            assert!(
                page.status == 404 || to_sign_in,
                "{path}: {} {}",
                page.status,
                page.body
            );
            assert!(
                !page.body.contains(&globex_id) || page.body.contains("Sign in"),
                "{path}"
            );
        }
        let csrf = keys.csrf();
        let revoke = web
            .post(
                &format!("/portal/keys/{globex_id}/revoke"),
                &[("csrf_token", &csrf)],
                None,
            )
            .await;
        assert_eq!(revoke.status, 404);
        assert_eq!(
            server.code_of(&other_key).await,
            "VALID",
            "the portal touched another account"
        );
        // The pages' cookies open nothing in the JSON API.
        assert_eq!(
            super::web::api_status_with_cookies(&server, &web, "/v1/keys?account=acme").await,
            401
        );
        assert!(!server.stderr().contains(&token), "the portal token reached the log");
        t.finish().await;
    }
}

#[tokio::test]
async fn portal_links_are_refused_out_of_reach_and_to_unsafe_return_urls() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    for bad in [
        "javascript:alert(1)",
        "http://app.example.com/",
        "/settings",
        "https://user:pw@app.example.com/",
    ] {
        let (status, body) = portal_link(&server, "acme", Some(bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("return_url"), "{body}");
    }
    let (status, _) = portal_link(&server, "acme", Some("http://localhost:3000/back")).await;
    assert_eq!(status, 201);
    let (status, body) = portal_link(&server, "../x", None).await;
    assert_eq!(status, 400, "{body}");
    let out = cli(&t, &["admin", "create-key", "--name", "acme only", "--account", "acme"]);
    let limited = crate::stdout(&out).trim().to_owned();
    let body = json!({ "account": "globex" });
    let (status, answer) = server
        .manage_as(&limited, Method::POST, "/v1/portal/sessions", Some(body))
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = server
        .manage_as(
            &limited,
            Method::POST,
            "/v1/portal/sessions",
            Some(json!({ "account": "acme" })),
        )
        .await;
    assert_eq!(status, 201);
    let unauthenticated = server
        .client
        .post(format!("{}/v1/portal/sessions", server.url))
        .json(&json!({ "account": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn sessions_end_when_idle_at_sign_out_and_with_their_management_key() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = super::serve_with(&t, &["--session-idle-timeout-seconds", "2"]).await;
    server.create_key("acme", &["campaigns:read"]).await;
    // Idle: a customer is signed out after the timeout.
    let mut customer = customer(&server, "acme").await;
    assert_eq!(customer.get("/portal/keys").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let ended = customer.get("/portal/keys").await;
    assert_eq!(ended.status, 401, "{}", ended.body);
    assert!(ended.body.contains("session has ended"));
    // Sign-out.
    let mut web = operator(&server).await;
    let keys = web.get("/dashboard/accounts/acme/keys").await;
    assert_eq!(keys.status, 200);
    let out = web
        .post("/dashboard/sign-out", &[("csrf_token", &keys.csrf())], None)
        .await;
    assert_eq!(out.status, 303);
    let after = web.get("/dashboard/accounts/acme/keys").await;
    assert_eq!((after.status, after.location().as_str()), (303, "/dashboard"));
    // A revoked management key's sessions end with it.
    let created = cli(&t, &["admin", "create-key", "--name", "temp"]);
    let temp = crate::stdout(&created).trim().to_owned();
    let mut web = Web::new(&server.url);
    assert_eq!(web.sign_in(&temp).await.status, 303);
    assert_eq!(web.get("/dashboard/accounts/acme/keys").await.status, 200);
    let (_, list) = server.manage(Method::GET, "/v1/keys?account=acme", None).await;
    assert!(list["items"].is_array());
    let listed = cli(&t, &["admin", "list-keys", "--json"]);
    let keys: serde_json::Value = serde_json::from_str(&crate::stdout(&listed)).unwrap();
    let temp_id = keys.as_array().unwrap().iter().find(|k| k["name"] == "temp").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = cli(&t, &["admin", "revoke-key", &temp_id]);
    assert!(revoked.status.success(), "{}", crate::stderr(&revoked));
    let after = web.get("/dashboard/accounts/acme/keys").await;
    assert_eq!(after.status, 303, "a revoked key's session lived on");
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_client_address() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = Web::new(&server.url);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let form = web.get("/dashboard").await;
        let page = web
            .post(
                "/dashboard/sign-in",
                &[("csrf_token", &form.csrf()), ("key", "kwm_wrong")],
                None,
            )
            .await;
        statuses.push(page.status);
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10], 429);
    // The right key is throttled too, from that address.
    let form = web.get("/dashboard").await;
    let page = web
        .post(
            "/dashboard/sign-in",
            &[("csrf_token", &form.csrf()), ("key", &server.management_key)],
            None,
        )
        .await;
    assert_eq!(page.status, 429);
}

#[tokio::test]
async fn a_limited_operator_sees_its_account_only() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let (globex_id, _) = server.create_key("globex", &["campaigns:read"]).await;
    let out = cli(&t, &["admin", "create-key", "--name", "acme ops", "--account", "acme"]);
    let limited = crate::stdout(&out).trim().to_owned();
    let mut web = Web::new(&server.url);
    assert_eq!(web.sign_in(&limited).await.status, 303);
    let home = web.get("/dashboard").await;
    assert_eq!(
        (home.status, home.location().as_str()),
        (303, "/dashboard/accounts/acme/keys")
    );
    for path in [
        "/dashboard/accounts/globex/keys".to_owned(),
        format!("/dashboard/accounts/globex/keys/{globex_id}"),
        format!("/dashboard/accounts/acme/keys/{globex_id}"),
        "/dashboard/open?account=globex".to_owned(),
    ] {
        assert_eq!(web.get(&path).await.status, 404, "{path}");
    }
    let keys = web.get("/dashboard/accounts/acme/keys").await;
    assert!(
        !keys.body.contains("Accounts</a>"),
        "a limited key is offered the picker"
    );
    // An unrestricted operator picks among accounts that have keys.
    let mut web = operator(&server).await;
    server.create_key("acme", &["campaigns:read"]).await;
    let picker = web.get("/dashboard?q=GLO").await;
    assert!(
        picker.body.contains("/dashboard/accounts/globex/keys")
            && !picker.body.contains("/dashboard/accounts/acme/keys")
    );
}

#[tokio::test]
async fn changes_made_on_the_pages_are_audited_with_who_made_them() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = operator(&server).await;
    let created = web
        .create_key("/dashboard/accounts/acme", "by operator", &["campaigns:read"])
        .await;
    assert_eq!(created.status, 200);
    let mut customer = customer(&server, "acme").await;
    let created = customer.create_key("/portal", "by customer", &["leads:read"]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let (_, audit) = server.manage(Method::GET, "/v1/audit?account=acme", None).await;
    let actors: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"portal:acme"), "{actors:?}");
    assert!(actors.iter().any(|a| a.starts_with("management_key:")), "{actors:?}");
    // Customers see an operator's changes as the operator's, without the
    // management key's id.
    let by_operator = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"].as_str().unwrap().starts_with("management_key:"))
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = customer.get(&format!("/portal/keys/{by_operator}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(">operator<") && !page.body.contains("management_key:"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn under_https_cookies_are_host_prefixed_and_only_listed_origins_may_frame_the_portal() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = super::serve_with(
        &t,
        &[
            "--public-url",
            "https://keys.example.com",
            "--portal-frame-ancestors",
            "https://app.example.com",
            "--portal-product-name",
            "Acme Mail",
            "--portal-accent-color",
            "#0f766e",
        ],
    )
    .await;
    let (_, link) = portal_link(&server, "acme", None).await;
    let url = link["url"].as_str().unwrap();
    let path = url
        .strip_prefix("https://keys.example.com")
        .expect("the link is on public_url");
    let mut customer = Web::new(&server.url);
    let opened = customer.get(path).await;
    assert_eq!(
        opened.header("set-cookie").split('=').next(),
        Some("__Host-keyward_portal")
    );
    assert!(opened
        .header("set-cookie")
        .ends_with("; Path=/; HttpOnly; SameSite=None; Partitioned; Secure"));
    let page = customer.get("/portal/keys").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .ends_with("frame-ancestors https://app.example.com"));
    assert!(page.header("x-frame-options").is_empty());
    assert!(page.body.contains("Acme Mail"));
    assert_eq!(
        customer.get("/assets/theme.css").await.body,
        ":root { --accent: #0f766e; }\n"
    );
    let mut web = Web::new(&server.url);
    let form = web.get("/dashboard").await;
    assert!(form.header("set-cookie").starts_with("__Host-keyward_sign_in="));
    assert!(form
        .header("content-security-policy")
        .ends_with("frame-ancestors 'none'"));
    assert_eq!(form.header("x-frame-options"), "DENY");
    let csrf = form.csrf();
    let foreign = web
        .post(
            "/dashboard/sign-in",
            &[("csrf_token", &csrf), ("key", &server.management_key)],
            Some(&server.url.clone()),
        )
        .await;
    assert_eq!(foreign.status, 403, "an origin other than public_url was taken");
    let own = web
        .post(
            "/dashboard/sign-in",
            &[("csrf_token", &csrf), ("key", &server.management_key)],
            Some("https://keys.example.com"),
        )
        .await;
    assert_eq!(own.status, 303);
    assert!(own.header("set-cookie").contains("__Host-keyward_dashboard="));
    assert!(own.header("set-cookie").contains("SameSite=Strict; Secure"));
}

#[tokio::test]
async fn sessions_end_at_their_lifetime_however_busy() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = super::serve_with(&t, &["--session-lifetime-seconds", "3"]).await;
    let mut web = operator(&server).await;
    for _ in 0..5 {
        assert_eq!(web.get("/dashboard").await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let ended = web.get("/dashboard").await;
    assert!(
        ended.body.contains("Sign in to the dashboard"),
        "a session outlived its lifetime"
    );
}

#[tokio::test]
async fn the_store_holds_no_session_id_portal_token_or_key() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = operator(&server).await;
    let (_, link) = portal_link(&server, "acme", None).await;
    let url = link["url"].as_str().unwrap().to_owned();
    let unused = url.rsplit('/').next().unwrap().to_owned();
    let (_, opened) = portal_link(&server, "acme", None).await;
    let mut customer = Web::new(&server.url);
    let path = opened["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&server.url)
        .unwrap()
        .to_owned();
    customer.get(&path).await;
    let created = web
        .create_key("/dashboard/accounts/acme", "k", &["campaigns:read"])
        .await;
    let secret = super::web::between(&created.body, "id=\"secret\">", "<");
    let stored = t.everything_stored().await;
    let mut secrets: Vec<String> = web
        .cookies
        .iter()
        .chain(&customer.cookies)
        .map(|(_, v)| v.clone())
        .collect();
    secrets.push(unused);
    secrets.push(path.rsplit('/').next().unwrap().to_owned());
    secrets.push(secret);
    for secret in secrets {
        assert!(!stored.contains(&secret), "the store holds {secret}");
    }
    // The operator's cookie opens nothing in the JSON API either.
    assert_eq!(
        super::web::api_status_with_cookies(&server, &web, "/v1/audit").await,
        401
    );
}

#[tokio::test]
async fn the_keys_page_is_paginated_and_a_key_is_edited_with_errors_next_to_fields() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    for _ in 0..25 {
        server.create_key("acme", &["campaigns:read"]).await;
    }
    let (revoked, _) = server.create_key("acme", &["leads:read"]).await;
    server
        .manage(Method::POST, &format!("/v1/keys/{revoked}/revoke"), None)
        .await;
    let mut web = operator(&server).await;
    let first = web.get("/dashboard/accounts/acme/keys").await;
    assert_eq!(first.body.matches("/dashboard/accounts/acme/keys/key_").count(), 21);
    let next = super::web::between(&first.body, "class=\"pager\"><a href=\"", "\"").replace("&amp;", "&");
    let second = web.get(&next).await;
    assert_eq!(second.status, 200, "{next}");
    assert_eq!(second.body.matches("badge active").count(), 5, "{next}");
    assert!(second.body.contains(&revoked), "the other section kept its place");
    // Edit: a refused change shows its error next to the field, and changes nothing.
    let (id, key) = server.create_key("acme", &["campaigns:read"]).await;
    let page = web.get(&format!("/dashboard/accounts/acme/keys/{id}")).await;
    let csrf = page.csrf();
    let path = format!("/dashboard/accounts/acme/keys/{id}");
    let refused = web
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "renamed"),
                ("expires", "2001-01-01"),
                ("grant", "campaigns:read"),
            ],
            None,
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("id=\"expires-error\""), "{}", refused.body);
    let (_, record) = server.manage(Method::GET, &format!("/v1/keys/{id}"), None).await;
    assert_eq!(record["name"], "test key");
    let none = web
        .post(&path, &[("csrf_token", &csrf), ("name", "renamed")], None)
        .await;
    assert_eq!(none.status, 400);
    assert!(none.body.contains("You must grant at least one permission"));
    let saved = web
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "renamed"),
                ("expires", "2099-01-31"),
                ("grant", "campaigns:read"),
                ("grant", "leads:read"),
            ],
            None,
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, record) = server.manage(Method::GET, &format!("/v1/keys/{id}"), None).await;
    assert_eq!(record["name"], "renamed");
    assert_eq!(record["expires_at"], "2099-01-31T00:00:00Z");
    assert_eq!(record["scopes"], json!(["campaigns:read", "leads:read"]));
    assert_eq!(server.code_of(&key).await, "VALID");
    let history = web.get(&path).await;
    assert!(history.body.contains("key.updated") && history.body.contains("key.created"));
}

#[tokio::test]
async fn the_keys_page_counts_are_each_keys_usage_flushed_or_not() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestStore::new(backend).await;
        let server = super::serve_with(&t, &["--usage-flush-ms", "200"]).await;
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(server.create_key("acme", &["campaigns:read"]).await);
        }
        let ask = |n: usize, scope: &'static str| {
            let key = keys[n].1.clone();
            let server = &server;
            async move { server.verify(json!({ "key": key, "scopes": [scope] })).await }
        };
        ask(0, "campaigns:read").await;
        ask(1, "leads:read").await;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await; // flushed
        ask(0, "campaigns:read").await;
        ask(0, "leads:read").await;
        ask(2, "campaigns:read").await; // perhaps not yet
        let mut web = operator(&server).await;
        let page = web.get("/dashboard/accounts/acme/keys").await;
        for (id, _) in &keys {
            let row = super::web::between(&page.body, &format!("keys/{id}\">"), "</tr>");
            let cells: Vec<String> = row
                .split("title=\"allowed / denied\">")
                .skip(1)
                .map(|c| c[..c.find('<').unwrap()].to_owned())
                .collect();
            let (_, usage) = server.manage(Method::GET, &format!("/v1/keys/{id}/usage"), None).await;
            let expected: Vec<String> = ["24h", "7d", "30d"]
                .iter()
                .map(|w| format!("{} / {}", usage["windows"][w]["allowed"], usage["windows"][w]["denied"]))
                .collect();
            assert_eq!(cells, expected, "{id}");
        }
        let first = super::web::between(&page.body, &format!("keys/{}\">", keys[0].0), "</tr>");
        assert!(first.contains("2 / 1"), "{first}");
        t.finish().await;
    }
}

#[tokio::test]
async fn a_revoked_management_keys_portal_links_and_sessions_end_with_it() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let issuer = crate::stdout(&cli(&t, &["admin", "create-key", "--name", "host app"]))
        .trim()
        .to_owned();
    let open = |key: String| {
        let server = &server;
        async move {
            let (status, link) = server
                .manage_as(
                    &key,
                    Method::POST,
                    "/v1/portal/sessions",
                    Some(json!({ "account": "acme" })),
                )
                .await;
            assert_eq!(status, 201, "{link}");
            link["url"]
                .as_str()
                .unwrap()
                .strip_prefix(&server.url)
                .unwrap()
                .to_owned()
        }
    };
    let opened_path = open(issuer.clone()).await;
    let unused_path = open(issuer.clone()).await;
    let mut customer = Web::new(&server.url);
    assert_eq!(customer.get(&opened_path).await.status, 303);
    assert_eq!(customer.get("/portal/keys").await.status, 200);
    let listed = cli(&t, &["admin", "list-keys", "--json"]);
    let keys: serde_json::Value = serde_json::from_str(&crate::stdout(&listed)).unwrap();
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "host app")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cli(&t, &["admin", "revoke-key", &id]).status.success());
    assert_eq!(
        customer.get("/portal/keys").await.status,
        401,
        "a revoked key's portal session lived on"
    );
    assert_eq!(
        Web::new(&server.url).get(&unused_path).await.status,
        404,
        "a revoked key's link still opened"
    );
}

#[tokio::test]
async fn signing_out_of_the_portal_leads_back_without_a_redirect_the_csp_would_block() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut customer = customer(&server, "acme").await;
    let page = customer.get("/portal/keys").await;
    let out = customer
        .post("/portal/sign-out", &[("csrf_token", &page.csrf())], None)
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.header("location").is_empty());
    assert!(
        out.body.contains("href=\"https://app.example.com/settings\""),
        "{}",
        out.body
    );
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(customer.get("/portal/keys").await.status, 401);
}

#[tokio::test]
async fn unknown_pages_and_methods_are_pages_with_the_page_headers() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let mut web = Web::new(&server.url);
    for (method, path, status) in [
        (Method::GET, "/dashboard/nowhere", 404),
        (Method::GET, "/portal/keys/x/y/z", 404),
        (Method::DELETE, "/dashboard", 405),
        (Method::GET, "/portal/%FF", 404),
        (Method::HEAD, "/portal/abc", 405),
    ] {
        let response = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with("text/html"),
            "{method} {path}: {headers:?}"
        );
        assert!(headers.contains_key("content-security-policy"), "{method} {path}");
        assert_eq!(headers["cache-control"], "no-store", "{method} {path}");
    }
    let css = web.get("/assets/keyward.css").await;
    assert_eq!(css.header("x-content-type-options"), "nosniff");
    // The API's own unknown addresses stay problem+json.
    let api = reqwest::get(format!("{}/v1/nowhere", server.url)).await.unwrap();
    assert_eq!(api.headers()["content-type"], "application/problem+json");
}
