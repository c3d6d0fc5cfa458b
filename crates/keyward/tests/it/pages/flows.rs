//! The flows people follow on the pages, in headless Chromium: an operator
//! on ColdSend's catalog and a customer through a portal link on the
//! voice-agent platform's, each page screenshotted under
//! `target/screenshots/` and checked by axe-core; the same flows with
//! JavaScript off, and by keyboard alone.

use reqwest::Method;
use serde_json::json;

use super::browser::Browser;
use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

/// What `/v1/verify` says of `key` asking for `scopes`.
async fn verify(server: &Server, key: &str, scopes: &[&str]) -> String {
    let (_, body) = server.verify(json!({ "key": key, "scopes": scopes })).await;
    body["code"].as_str().unwrap().to_owned()
}

/// The text of the "Last 24 hours" usage card.
async fn last_day(browser: &Browser) -> String {
    browser.text(".windows .card").await
}

#[tokio::test]
async fn an_operator_creates_uses_reduces_rotates_and_revokes_a_key_in_a_browser() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    server.create_key("acme", &["campaigns:read"]).await;
    let b = Browser::start(true).await;
    let shot = |name: &str| format!("coldsend-{name}");

    b.goto(&format!("{}/dashboard", server.url)).await;
    b.screenshot(&shot("sign-in")).await;
    b.assert_accessible("sign-in").await;
    b.fill("#key", &server.management_key).await;
    b.click_text("Sign in").await;
    b.find("#q").await;
    b.screenshot(&shot("accounts")).await;
    b.assert_accessible("accounts").await;
    b.click("a[href='/dashboard/accounts/acme/keys']").await;
    b.find("h2#active").await;
    b.screenshot(&shot("keys")).await;
    b.assert_accessible("keys").await;

    // Create through the matrix.
    b.click_text("Create a key").await;
    b.find("table.matrix").await;
    assert!(
        !b.has("input[value='sender_accounts:update']").await,
        "a box for an action the resource lacks"
    );
    b.screenshot(&shot("create")).await;
    b.assert_accessible("create").await;
    b.fill("#name", "CRM Integration").await;
    b.click("input[value='campaigns:read']").await;
    b.click("input[value='leads:all']").await;
    b.click_text("Create key").await;
    let secret = b.text("#secret").await;
    assert!(secret.starts_with("cs_live_"), "{secret}");
    b.screenshot(&shot("reveal")).await;
    b.assert_accessible("reveal").await;
    b.click("button[data-copy]").await;
    let copied = b.text("button[data-copy]").await;
    let selected = b
        .client
        .execute("return window.getSelection().toString();", vec![])
        .await
        .unwrap();
    assert!(copied == "Copied" || selected == json!(secret), "{copied} / {selected}");

    // Use it: one allowed, one denied; the key page's counts move.
    assert_eq!(verify(&server, &secret, &["campaigns:read"]).await, "VALID");
    assert_eq!(
        verify(&server, &secret, &["campaigns:create"]).await,
        "INSUFFICIENT_SCOPE"
    );
    b.click_text("I have copied it: go to the key").await;
    let day = last_day(&b).await;
    assert!(day.contains("1\nallowed") || day.contains("1 allowed"), "{day}");
    assert!(day.contains("1 denied"), "{day}");
    b.wait_for_text("leads:create").await; // leads:all, expanded
    b.screenshot(&shot("key")).await;
    b.assert_accessible("key").await;

    // Least privilege in one step.
    b.click_text("Reduce to these").await;
    // The click's answer may still be on its way: wait for the change.
    let started = std::time::Instant::now();
    loop {
        let (_, listed) = server
            .manage(Method::GET, "/v1/keys?account=acme&status=active", None)
            .await;
        let reduced = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "CRM Integration")
            .unwrap()
            .clone();
        if reduced["scopes"] == json!(["campaigns:read"]) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not reduced: {reduced}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    b.find("h1").await;
    assert_eq!(verify(&server, &secret, &["leads:read"]).await, "INSUFFICIENT_SCOPE");

    // Rotate with an hour's grace: the new key is shown once.
    b.find("#grace").await.select_by_value("1h").await.unwrap();
    b.click_text("Rotate key").await;
    let rotated = b.text("#secret").await;
    assert!(rotated.starts_with("cs_live_") && rotated != secret);
    b.wait_for_text("keeps working until").await;
    b.screenshot(&shot("rotated")).await;
    assert_eq!(verify(&server, &secret, &["campaigns:read"]).await, "VALID", "no grace");
    assert_eq!(verify(&server, &rotated, &["campaigns:read"]).await, "VALID");

    // Revoke, confirmed; it moves to Revoked / Expired.
    b.click_text("I have copied it: go to the key").await;
    b.click_text("Revoke this key…").await;
    b.find("#reason").await;
    b.screenshot(&shot("revoke")).await;
    b.assert_accessible("revoke").await;
    b.fill("#reason", "rotated out").await;
    b.click_text("Revoke key").await;
    b.find(".badge.revoked").await;
    assert_eq!(verify(&server, &rotated, &["campaigns:read"]).await, "REVOKED");
    b.click_text("← All keys").await;
    let inactive = b.text("h2#inactive + table").await;
    assert!(
        inactive.contains("CRM Integration") && inactive.contains("revoked"),
        "{inactive}"
    );

    b.click_text("Catalog").await;
    b.find(".docs table").await;
    b.screenshot(&shot("catalog")).await;
    b.assert_accessible("catalog").await;
    b.close().await;
}

#[tokio::test]
async fn a_customer_manages_keys_through_a_portal_link_in_a_browser() {
    let t = TestStore::new(Backend::Postgres).await;
    let server = Server::start(
        &t,
        Options {
            catalog: "voice-agents",
            ..Options::default()
        },
    )
    .await;
    let (other_id, _) = server.create_key("cust_7", &["calls:read"]).await;
    let (status, link) = server
        .manage(
            Method::POST,
            "/v1/portal/sessions",
            Some(json!({ "account": "cust_42", "return_url": "https://app.example.com/settings" })),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().unwrap();
    let b = Browser::start(true).await;
    let shot = |name: &str| format!("voice-agents-{name}");
    b.goto(url).await;
    b.find(".empty").await;
    assert!(b.url().await.ends_with("/portal/keys"));
    let back = b.find("a[rel=noreferrer]").await;
    assert_eq!(
        back.attr("href").await.unwrap().as_deref(),
        Some("https://app.example.com/settings")
    );
    assert!(
        !b.has("a[href='/dashboard/catalog']").await,
        "a customer sees operator links"
    );
    b.screenshot(&shot("empty")).await;
    b.assert_accessible("empty keys page").await;

    // The matrix follows the catalog: analytics is read-only.
    b.click_text("Create your first key").await;
    assert!(b.has("input[value='analytics:read']").await);
    assert!(
        !b.has("input[value='analytics:write']").await,
        "a write box for read-only analytics"
    );
    // No permission and no name: errors next to the fields.
    b.click_text("Create key").await;
    b.find("#grants-error").await;
    assert!(b.text("#name-error").await.len() > 3);
    b.screenshot(&shot("create-errors")).await;
    b.assert_accessible("create with errors").await;
    // A form that lost its CSRF token is refused, and creates nothing.
    b.fill("#name", "Forged").await;
    b.click("input[value='calls:read']").await;
    b.client
        .execute(
            "document.querySelectorAll('main input[name=csrf_token]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    b.click_text("Create key").await;
    b.wait_for_text("security token").await;
    let (_, none) = server.manage(Method::GET, "/v1/keys?account=cust_42", None).await;
    assert_eq!(none["items"], json!([]));
    b.client.back().await.unwrap();
    b.goto(&format!("{}/portal/keys/new", server.url)).await;
    b.fill("#name", "Production Backend").await;
    b.click("input[value='calls:read']").await;
    b.click("input[value='analytics:read']").await;
    b.click_text("Create key").await;
    let secret = b.text("#secret").await;
    assert!(secret.starts_with("va_"), "{secret}");
    b.screenshot(&shot("reveal")).await;
    assert_eq!(verify(&server, &secret, &["calls:read"]).await, "VALID");
    b.click_text("I have copied it: go to the key").await;
    let day = last_day(&b).await;
    assert!(day.contains('1'), "{day}");
    b.screenshot(&shot("key")).await;
    b.assert_accessible("key").await;

    // Another account's key, by id: not found. The link, again: expired.
    b.goto(&format!("{}/portal/keys/{other_id}", server.url)).await;
    b.wait_for_text("Not found").await;
    b.goto(url).await;
    b.wait_for_text("expired").await;
    b.screenshot(&shot("link-used")).await;
    b.assert_accessible("used link").await;

    // Revoke, by keyboard alone: reveal -> key page -> confirm -> revoked.
    b.goto(&format!("{}/portal/keys", server.url)).await;
    b.click_text("Production Backend").await;
    b.find("h1").await;
    b.tab_to("a.button.danger").await;
    b.press("\u{e007}").await; // Enter
    b.find("#reason").await;
    b.tab_to("button.danger").await;
    b.press("\u{e007}").await;
    b.find(".badge.revoked").await;
    assert_eq!(verify(&server, &secret, &["calls:read"]).await, "REVOKED");
    let (_, audit) = server.manage(Method::GET, "/v1/audit?account=cust_42", None).await;
    let actors: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["portal:cust_42", "portal:cust_42"]);
    b.close().await;
    t.finish().await;
}

#[tokio::test]
async fn create_and_revoke_work_with_javascript_off_and_by_keyboard_alone() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = Server::start(&t, Options::default()).await;
    let b = Browser::start(false).await;
    b.goto(&format!("{}/dashboard", server.url)).await;
    b.fill("#key", &server.management_key).await;
    b.press("\u{e007}").await;
    b.find("#account").await;
    b.fill("#account", "acme").await;
    b.press("\u{e007}").await;
    b.find(".empty").await;
    b.click_text("Create your first key").await;
    // By keyboard: the name, one box, the button.
    b.tab_to("#name").await;
    b.press("Production Backend").await;
    b.tab_to("input[value='campaigns:read']").await;
    b.press(" ").await;
    b.tab_to("button[type=submit]:not(.secondary)").await;
    b.press("\u{e007}").await;
    let secret = b.text("#secret").await;
    assert!(
        !b.find("button[data-copy]").await.is_displayed().await.unwrap(),
        "the copy button needs JavaScript"
    );
    assert_eq!(verify(&server, &secret, &["campaigns:read"]).await, "VALID");
    b.screenshot("coldsend-reveal-no-javascript").await;
    b.tab_to("a[href$='keys/' i], a.button").await;
    b.press("\u{e007}").await;
    b.click_text("Revoke this key…").await;
    b.click_text("Revoke key").await;
    b.find(".badge.revoked").await;
    assert_eq!(verify(&server, &secret, &["campaigns:read"]).await, "REVOKED");
    b.close().await;
}

#[tokio::test]
async fn a_customer_is_signed_out_after_the_idle_timeout_in_a_browser() {
    let t = TestStore::new(Backend::Sqlite).await;
    let server = super::serve_with(&t, &["--session-idle-timeout-seconds", "2"]).await;
    let (_, link) = server
        .manage(Method::POST, "/v1/portal/sessions", Some(json!({ "account": "acme" })))
        .await;
    let b = Browser::start(true).await;
    b.goto(link["url"].as_str().unwrap()).await;
    b.find(".empty").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    b.client.refresh().await.unwrap();
    b.wait_for_text("Your session has ended").await;
    b.screenshot("coldsend-portal-session-ended").await;
    b.close().await;
}
