//! The server over HTTP, on both stores: verification codes and bodies,
//! forward-auth rules, the management API and its errors, usage, operations.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::server::{Options, Server};
use crate::support::{on_both_stores, TestStore};

async fn authz(s: &Server, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = s.client.get(format!("{}/v1/authz", s.url));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

/// Rotates a new key with this `grace_period`, expecting `status`; the
/// answer.
async fn rotate_with_grace(s: &Server, grace: Value, status: u16) -> Value {
    let (id, _) = s.create_key("acme", &["*"]).await;
    let (got, body) = s
        .manage(
            Method::POST,
            &format!("/v1/keys/{id}/rotate"),
            Some(json!({"grace_period": grace})),
        )
        .await;
    assert_eq!(got, status, "{grace}: {body}");
    body
}

/// The server's own `/openapi.json`.
async fn openapi_document(s: &Server) -> Value {
    s.client
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every answer of the pre-rendered verify body matches the schema
/// `/openapi.json` documents for it (one list per test, checked at its end).
async fn assert_documented_verify_answers(s: &Server, answers: &[Value]) {
    let document = openapi_document(s).await;
    crate::tools::assert_answers_match_schema(&document, "VerifyResponse", answers);
}

async fn verify_answers_every_code_with_the_documented_body(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, key) = s.create_key("acme", &["campaigns:read", "leads:all"]).await;
    let mut answers = Vec::new();

    let (status, body) = s
        .verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], true);
    assert_eq!(body["code"], "VALID");
    assert_eq!(body["key_id"], id.as_str());
    assert_eq!(body["account"], "acme");
    assert_eq!(body["environment"], "live");
    assert_eq!(body["required"], json!(["campaigns:read"]));
    assert_eq!(body["granted"], json!(["campaigns:read", "leads:all"]));
    assert_eq!(body["missing"], json!([]));
    answers.push(body);

    let (_, body) = s
        .verify(json!({"key": key, "scopes": ["campaigns:create", "leads:delete"]}))
        .await;
    assert_eq!(
        (body["valid"].as_bool(), body["code"].as_str()),
        (Some(false), Some("INSUFFICIENT_SCOPE"))
    );
    assert_eq!(body["missing"], json!(["campaigns:create"]));
    assert_eq!(body["detail"], "Missing required scopes: campaigns:create");
    answers.push(body);

    let (_, body) = s.verify(json!({"key": key})).await;
    assert_eq!(
        (body["code"].as_str(), body["required"].clone()),
        (Some("VALID"), json!([])),
        "authenticate only"
    );
    answers.push(body);

    let (_, body) = s
        .verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/nothing"}))
        .await;
    assert_eq!(body["code"], "UNKNOWN_ROUTE");
    answers.push(body);
    let (_, body) = s
        .verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns/..%2f..%2fadmin"}))
        .await;
    assert_eq!(body["code"], "UNKNOWN_ROUTE");

    assert_eq!(s.code_of("cs_live_notakey").await, "MALFORMED");
    assert_eq!(
        s.code_of(&key.replacen("cs_live_", "cs_test_", 1)).await,
        "MALFORMED",
        "the checksum covers the environment"
    );
    let unknown = keyward::keys::format::generate("cs", "live").unwrap();
    let (_, body) = s.verify(json!({"key": unknown.reveal()})).await;
    assert_eq!(
        (body["code"].as_str(), body["key_id"].clone()),
        (Some("NOT_FOUND"), Value::Null)
    );
    answers.push(body);
    answers.push(s.verify(json!({"key": "cs_live_notakey"})).await.1);

    let (status, body) = s.verify(json!({"key": key, "scopes": ["campaigns:wirte"]})).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown scope `campaigns:wirte`"),
        "{body}"
    );
    let (status, _) = s
        .verify(json!({"key": key, "scopes": ["campaigns:read"], "method": "GET", "path": "/"}))
        .await;
    assert_eq!(status, 400);

    s.manage(Method::POST, &format!("/v1/keys/{id}/revoke"), None).await;
    assert_eq!(
        s.code_of(&key).await,
        "REVOKED",
        "revocation is effective before the response returns"
    );
    answers.push(s.verify(json!({"key": key})).await.1);
    assert_documented_verify_answers(&s, &answers).await;
}

async fn expired_keys_are_refused_against_the_clock(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let soon = keyward::time::Millis::now().plus_seconds(1).to_rfc3339();
    let (status, body) = s
        .manage(
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "short", "scopes": ["*"], "expires_at": soon})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().unwrap().to_owned();
    assert_eq!(s.code_of(&key).await, "VALID");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(
        s.code_of(&key).await,
        "EXPIRED",
        "checked against the clock even while cached"
    );
    assert_documented_verify_answers(&s, &[s.verify(json!({"key": key})).await.1]).await;
}

async fn authz_follows_the_forward_auth_rules(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
    let (_, other) = s.create_key("acme", &["campaigns:read"]).await;
    let (_, several) = s.create_key("acme", &["campaigns:read", "leads:all", "*"]).await;
    let r = authz(
        &s,
        &[
            ("X-API-Key", &several),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(
        r.headers()["x-keyward-scopes"],
        "campaigns:read,leads:all,*",
        "grants as stored, joined with `,`"
    );
    let ok = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns?page=2"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-keyward-key-id"], id.as_str());
    assert_eq!(ok.headers()["x-keyward-account"], "acme");
    assert_eq!(ok.headers()["x-keyward-scopes"], "campaigns:read");
    assert_eq!(ok.headers()["x-keyward-environment"], "live");
    let bearer = format!("Bearer {key}");
    let ok = authz(
        &s,
        &[
            ("Authorization", &bearer),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);

    let denied = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["detail"], "Missing required scopes: campaigns:create");
    assert_eq!(body["required"], json!(["campaigns:create"]));
    assert_eq!(body["granted"], json!(["campaigns:read"]));
    assert_eq!(body["missing"], json!(["campaigns:create"]));

    for path in [
        "/api/public/v1/campaigns/%2e%2e/x",
        "/api/public/v1//campaigns",
        "/api/public/v1/campaigns;x",
        "/nothing",
    ] {
        let r = authz(
            &s,
            &[
                ("X-API-Key", &key),
                ("X-Original-Method", "GET"),
                ("X-Original-URI", path),
            ],
        )
        .await;
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "UNKNOWN_ROUTE", "{path}");
    }

    let missing = authz(
        &s,
        &[
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(missing.status(), 401);
    assert!(missing.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let garbage = authz(
        &s,
        &[
            ("X-API-Key", "not-a-key"),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(garbage.status(), 401);

    let other_bearer = format!("Bearer {other}");
    let two = authz(
        &s,
        &[
            ("Authorization", &other_bearer),
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(two.status(), 400, "two different keys are refused");
    let family = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
            ("X-Forwarded-Uri", "/admin"),
        ],
    )
    .await;
    assert_eq!(family.status(), 400, "the other header family disagreeing is refused");
    let same = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
            ("X-Forwarded-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(same.status(), 200, "agreeing values are fine");
    let overridden = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
            ("X-HTTP-Method-Override", "DELETE"),
        ],
    )
    .await;
    assert_eq!(overridden.status(), 403, "method override is refused by default");

    s.manage(Method::POST, &format!("/v1/keys/{id}/revoke"), None).await;
    let revoked = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(revoked.status(), 401);
}

async fn authz_with_the_forwarded_family_and_method_override_opt_in(t: &TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(crate::example("coldsend")).unwrap();
    let catalog = dir.path().join("catalog.toml");
    let source = source.replace(
        "unknown_routes = \"deny\"",
        "unknown_routes = \"deny\"\nmethod_override = true",
    );
    std::fs::write(
        &catalog,
        format!("{source}\n[server]\nforward_auth_headers = \"forwarded\"\n"),
    )
    .unwrap();
    let s = Server::start(
        t,
        Options {
            catalog: catalog.to_str().unwrap(),
            ..Options::default()
        },
    )
    .await;
    let (_, key) = s.create_key("acme", &["campaigns:read"]).await;
    let ok = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/api/public/v1/campaigns"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    let mismatch = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/api/public/v1/campaigns"),
            ("X-Original-Method", "DELETE"),
        ],
    )
    .await;
    assert_eq!(mismatch.status(), 400);
    let overridden = authz(
        &s,
        &[
            ("X-API-Key", &key),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/api/public/v1/campaigns/1"),
            ("X-HTTP-Method-Override", "DELETE"),
        ],
    )
    .await;
    assert_eq!(overridden.status(), 403, "the overriding method is checked");
    assert_eq!(
        overridden.json::<Value>().await.unwrap()["missing"],
        json!(["campaigns:delete"])
    );
    // The API may run the request as sent or as overridden (frameworks
    // differ on which methods and headers they honour): a read-only key
    // never passes a write by claiming to be a read (review finding), and
    // `_method` in the query string is an override too.
    let (_, creator) = s.create_key("acme", &["campaigns:create"]).await;
    for (key, method, uri, header, missing) in [
        (
            &key,
            "POST",
            "/api/public/v1/campaigns",
            ("X-HTTP-Method", "GET"),
            "campaigns:create",
        ),
        (
            &key,
            "POST",
            "/api/public/v1/campaigns",
            ("X-Method-Override", "GET"),
            "campaigns:create",
        ),
        (
            &key,
            "POST",
            "/api/public/v1/campaigns?_method=GET",
            ("X-Unrelated", "x"),
            "campaigns:create",
        ),
        (
            &creator,
            "GET",
            "/api/public/v1/campaigns",
            ("X-HTTP-Method-Override", "POST"),
            "campaigns:read",
        ),
    ] {
        let answer = authz(
            &s,
            &[
                ("X-API-Key", key),
                ("X-Forwarded-Method", method),
                ("X-Forwarded-Uri", uri),
                header,
            ],
        )
        .await;
        assert_eq!(answer.status(), 403, "{method} {uri} {header:?}");
        assert_eq!(answer.json::<Value>().await.unwrap()["missing"], json!([missing]));
    }
    let (_, both) = s.create_key("acme", &["campaigns:read", "campaigns:create"]).await;
    let allowed = authz(
        &s,
        &[
            ("X-API-Key", &both),
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/api/public/v1/campaigns"),
            ("X-HTTP-Method-Override", "GET"),
        ],
    )
    .await;
    assert_eq!(allowed.status(), 200, "allowed as sent and as overridden");
    let disagree = authz(
        &s,
        &[
            ("X-API-Key", &both),
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/api/public/v1/campaigns?_method=DELETE"),
            ("X-HTTP-Method-Override", "GET"),
        ],
    )
    .await;
    assert_eq!(disagree.status(), 400);
}

async fn management_api_lifecycle_and_errors(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, _) = s.create_key("acme", &["campaigns:read"]).await;
    let (status, listed) = s.manage(Method::GET, "/v1/keys?account=acme", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(
        listed["items"][0].get("key").is_none(),
        "the secret is only returned at creation"
    );
    let (status, one) = s.manage(Method::GET, &format!("/v1/keys/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(one["usage"]["windows"]["24h"], json!({"allowed": 0, "denied": 0}));

    let (status, patched) = s
        .manage(
            Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(json!({"name": "renamed", "scopes": ["campaigns:all"]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["name"].as_str(), patched["scopes"].clone()),
        (Some("renamed"), json!(["campaigns:all"]))
    );

    let (status, rotated) = s
        .manage(
            Method::POST,
            &format!("/v1/keys/{id}/rotate"),
            Some(json!({"grace_period": "1h"})),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    assert!(rotated["key"].as_str().unwrap().starts_with("cs_live_"));
    assert_eq!(rotated["rotated_from"], id.as_str());
    let new_id = rotated["id"].as_str().unwrap().to_owned();

    let (status, revoked) = s
        .manage(
            Method::POST,
            &format!("/v1/keys/{new_id}/revoke"),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));
    let (status, again) = s.manage(Method::POST, &format!("/v1/keys/{new_id}/revoke"), None).await;
    assert_eq!(
        (status, again["revoke_reason"].as_str()),
        (200, Some("test")),
        "idempotent"
    );
    let (status, body) = s
        .manage(Method::PATCH, &format!("/v1/keys/{new_id}"), Some(json!({"name": "x"})))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = s.manage(Method::POST, &format!("/v1/keys/{new_id}/rotate"), None).await;
    assert_eq!(status, 409);

    let (status, audit) = s.manage(Method::GET, &format!("/v1/audit?key_id={id}"), None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.rotated", "key.updated", "key.created"]);

    let (status, catalog) = s.manage(Method::GET, "/v1/catalog", None).await;
    assert_eq!((status, catalog["api"]["name"].as_str()), (200, Some("ColdSend")));
}

async fn management_errors_are_problem_json_never_500(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let url = |p: &str| format!("{}{p}", s.url);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"account": "acme", "name": "", "scopes": ["*"]}), 400, "name"),
        (json!({"account": "acme", "name": "k", "scopes": []}), 400, "scopes"),
        (
            json!({"account": "acme", "name": "k", "scopes": ["campaigns:raed"]}),
            400,
            "did you mean `campaigns:read`?",
        ),
        (
            json!({"account": "acme", "name": "k", "scopes": ["*"], "expires_at": "2020-01-01T00:00:00Z"}),
            400,
            "expires_at",
        ),
        (
            json!({"account": "acme", "name": "k", "scopes": ["*"], "expires_at": "tomorrow"}),
            400,
            "`tomorrow`",
        ),
        (
            json!({"account": "acme", "name": "k", "scopes": ["*"], "colour": "red"}),
            400,
            "unknown field `colour`",
        ),
        (json!({"account": "acme", "scopes": ["*"]}), 400, "missing field `name`"),
        (
            json!({"account": "acme", "name": 3, "scopes": ["*"]}),
            400,
            "invalid type",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, answer) = s.manage(Method::POST, "/v1/keys", Some(body.clone())).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(
            answer["detail"].as_str().unwrap_or("").contains(needle),
            "{body} -> {answer}"
        );
    }
    let r = s
        .client
        .post(url("/v1/keys"))
        .bearer_auth(&s.management_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // A key id that is not UTF-8 (found by the http_api fuzz target: a
    // text/plain 400 from the path extractor).
    for path in ["/v1/keys/%FF", "/v1/keys/%FF%FE/usage"] {
        let r = s
            .client
            .get(url(path))
            .bearer_auth(&s.management_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{path}");
    }
    // Bad query strings too (found by the http_api fuzz target: `?=` was a
    // text/plain 400).
    for (query, needle) in [
        ("/v1/keys?=", "unknown field"),
        ("/v1/keys?limit=abc", "limit"),
        ("/v1/keys?colour=red", "unknown field `colour`"),
        ("/v1/audit?limit=-1", "limit"),
    ] {
        let r = s
            .client
            .get(url(query))
            .bearer_auth(&s.management_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    let r = s
        .client
        .post(url("/v1/keys"))
        .bearer_auth(&s.management_key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let huge = json!({"account": "acme", "name": "k", "scopes": ["*"], "metadata": {"x": "y".repeat(200_000)}});
    let r = s
        .client
        .post(url("/v1/keys"))
        .bearer_auth(&s.management_key)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.headers()["connection"],
        "close",
        "the unread body spoils the connection"
    );
    let r = s
        .client
        .post(url("/v1/verify"))
        .header("content-type", "application/json")
        .body("[1,2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .post(url("/v1/verify"))
        .header("content-type", "application/json")
        .body(b"{\"key\":\"\xff\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not UTF-8"), "{body}");

    let (status, body) = s.manage(Method::GET, "/v1/keys/key_nope", None).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("no key `key_nope`")));
    let (status, _) = s.manage(Method::GET, "/v1/keys?status=dead", None).await;
    assert_eq!(status, 400);
    let (status, _) = s.manage(Method::GET, "/v1/keys?cursor=bogus", None).await;
    assert_eq!(status, 400);
    let (status, _) = s.manage(Method::GET, "/v1/keys?limit=0", None).await;
    assert_eq!(status, 400);

    // Authentication: none, a customer key, a revoked management key.
    let r = s.client.get(url("/v1/keys")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let (_, customer) = s.create_key("acme", &["*"]).await;
    let (status, _) = s.manage_as(&customer, Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 401, "a customer key is never a management key");
    let (status, _) = s.manage_as("kwm_nope", Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 401);
    let (status, _) = s.manage(Method::GET, "/v1/nothing", None).await;
    assert_eq!(status, 404);
}

async fn an_account_limited_management_key_sees_only_its_account(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (theirs, _) = s.create_key("other", &["*"]).await;
    let (mine, _) = s.create_key("acme", &["*"]).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["admin", "create-key", "--name", "acme only", "--account", "acme"])
        .args(t.cli_args())
        .output()
        .unwrap();
    let limited = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, _) = s
        .manage_as(&limited, Method::GET, &format!("/v1/keys/{theirs}"), None)
        .await;
    assert_eq!(status, 404, "another account's key does not exist for it");
    let (status, _) = s
        .manage_as(&limited, Method::POST, &format!("/v1/keys/{theirs}/revoke"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .manage_as(
            &limited,
            Method::PATCH,
            &format!("/v1/keys/{theirs}"),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .manage_as(&limited, Method::GET, &format!("/v1/keys/{theirs}/usage"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .manage_as(
            &limited,
            Method::POST,
            &format!("/v1/keys/{theirs}/rotate"),
            Some(json!({"grace_period": "1h"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = s.manage_as(&limited, Method::GET, "/v1/keys?account=other", None).await;
    assert_eq!((status, body["items"].clone()), (200, json!([])));
    for path in [
        "/v1/audit?account=other".to_owned(),
        format!("/v1/audit?key_id={theirs}"),
        format!("/v1/audit?account=other&key_id={theirs}"),
    ] {
        let (status, body) = s.manage_as(&limited, Method::GET, &path, None).await;
        assert_eq!((status, body["items"].clone()), (200, json!([])), "{path}");
    }
    // Nothing it tried changed the other account's key.
    let (_, key) = s.manage(Method::GET, &format!("/v1/keys/{theirs}"), None).await;
    assert_eq!(
        (key["status"].as_str(), key["name"].as_str()),
        (Some("active"), Some("test key"))
    );
    assert_eq!(key["rotated_to"], Value::Null);
    let (_, body) = s.manage_as(&limited, Method::GET, "/v1/keys?status=all", None).await;
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str()]);
    let (_, audit) = s.manage_as(&limited, Method::GET, "/v1/audit", None).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["account"] == "acme"),
        "{audit}"
    );
    let (status, _) = s
        .manage_as(
            &limited,
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "other", "name": "k", "scopes": ["*"]})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .manage_as(
            &limited,
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "k", "scopes": ["*"]})),
        )
        .await;
    assert_eq!(status, 201);
}

async fn usage_counts_are_visible_at_once_with_least_privilege_suggestions(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, key) = s
        .create_key("acme", &["campaigns:all", "leads:all", "sender_accounts:read"])
        .await;
    for _ in 0..3 {
        s.verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns"}))
            .await;
    }
    s.verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns/1/leads"}))
        .await;
    s.verify(json!({"key": key, "method": "GET", "path": "/nowhere"})).await;
    s.verify(json!({"key": key, "scopes": ["leads:create"]})).await;
    let (status, usage) = s.manage(Method::GET, &format!("/v1/keys/{id}/usage"), None).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["key_id"], id.as_str());
    assert_eq!(usage["windows"]["24h"], json!({"allowed": 5, "denied": 1}));
    assert_eq!(usage["windows"]["30d"], json!({"allowed": 5, "denied": 1}));
    assert_eq!(
        usage["scopes_used"],
        json!({"campaigns:read": 4, "leads:read": 1, "leads:create": 1})
    );
    assert_eq!(
        usage["suggested_scopes"],
        json!(["campaigns:read", "leads:create", "leads:read"])
    );
    assert_eq!(usage["unused_scopes"], json!(["sender_accounts:read"]));
    assert!(usage["last_used_at"].is_string());
    assert_eq!(usage["daily"].as_array().unwrap().len(), 30);
    assert_eq!(usage["daily"][29]["allowed"], 5);
    // After a flush the counts are the same, not doubled.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, usage) = s.manage(Method::GET, &format!("/v1/keys/{id}/usage"), None).await;
    assert_eq!(usage["windows"]["24h"], json!({"allowed": 5, "denied": 1}));
    assert_eq!(usage["scopes_used"]["campaigns:read"], 4);
    // The CLI reads the flushed counts from the database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["keys", "usage", &id, "--json", "--config", &crate::example("coldsend")])
        .args(t.cli_args())
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["windows"]["7d"], json!({"allowed": 5, "denied": 1}));
    assert_eq!(cli["unused_scopes"], json!(["sender_accounts:read"]));
}

async fn operations_endpoints(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let get = |p: &str| s.client.get(format!("{}{p}", s.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let (_, key) = s.create_key("acme", &["*"]).await;
    // The node hears its own change on the PostgreSQL feed a moment later
    // and forgets the key: let that pass, or the second verification may
    // miss too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.verify(json!({"key": key})).await;
    s.verify(json!({"key": key})).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("keyward_verifications_total{code=\"VALID\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("keyward_verification_seconds_bucket"));
    assert!(metrics.contains("keyward_cache_hits_total 1"), "{metrics}");
    assert!(metrics.contains("keyward_cache_hit_ratio"));
    assert!(metrics.contains("keyward_usage_flush_lag_seconds"));
    assert!(
        metrics.contains("keyward_usage_flush_interval_seconds 1\n"),
        "the base wait while flushing is cheap"
    );
    assert!(metrics.contains("# TYPE keyward_cache_hits_total counter"), "{metrics}");
    crate::tools::assert_promtool_accepts(&metrics);

    let raw = get("/openapi.json").await.unwrap().bytes().await.unwrap();
    crate::tools::assert_valid_openapi(&raw);
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/v1/verify", "post"),
        ("/v1/authz", "get"),
        ("/v1/keys", "post"),
        ("/v1/keys", "get"),
        ("/v1/keys/{id}", "get"),
        ("/v1/keys/{id}", "patch"),
        ("/v1/keys/{id}/revoke", "post"),
        ("/v1/keys/{id}/rotate", "post"),
        ("/v1/keys/{id}/usage", "get"),
        ("/v1/audit", "get"),
        ("/v1/catalog", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from /openapi.json"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "VerifyRequest",
        "VerifyResponse",
        "CreateKey",
        "PatchKey",
        "KeyView",
        "ProblemDetails",
        "Usage",
        "Page_KeyView",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["management_key"]["scheme"],
        "bearer"
    );

    // The documented shapes are the ones served: same member names.
    let members = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let documented = |name: &str| members(&schemas[name]["properties"]);
    let (id, _) = s.create_key("acme", &["campaigns:read"]).await;
    let (_, valid) = s.verify(json!({"key": key})).await;
    let (_, invalid) = s.verify(json!({"key": "cs_live_nope"})).await;
    assert_eq!(documented("VerifyResponse"), &members(&valid) | &members(&invalid));
    let (_, record) = s.manage(Method::GET, &format!("/v1/keys/{id}"), None).await;
    let (_, created) = s
        .manage(
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "n", "scopes": ["*"]})),
        )
        .await;
    let rotation_only: BTreeSet<String> = ["rotated_from", "old_key_expires_at"].map(str::to_owned).into();
    assert_eq!(
        documented("KeyView"),
        &(&members(&record) | &members(&created)) | &rotation_only
    );
    let (_, usage) = s.manage(Method::GET, &format!("/v1/keys/{id}/usage"), None).await;
    assert_eq!(documented("Usage"), members(&usage));
}

async fn a_change_made_by_the_cli_reaches_the_server_within_a_second(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, key) = s.create_key("acme", &["*"]).await;
    assert_eq!(s.code_of(&key).await, "VALID"); // now cached
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["keys", "revoke", &id, "--config", &crate::example("coldsend")])
        .args(t.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success());
    let started = std::time::Instant::now();
    while s.code_of(&key).await != "REVOKED" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "not seen within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eprintln!("CLI revocation seen by the server after {:?}", started.elapsed());
}

async fn no_log_line_of_the_server_carries_a_key(t: &TestStore) {
    let s = Server::start(
        t,
        Options {
            env: vec![("KEYWARD_LOG", "trace".into())],
            ..Options::default()
        },
    )
    .await;
    let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
    s.verify(json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns?token=SECRETQUERY"}))
        .await;
    let authz_headers = [
        ("X-API-Key", key.as_str()),
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/api/public/v1/campaigns?token=SECRETQUERY"),
    ];
    authz(&s, &authz_headers).await;
    let (_, rotated) = s.manage(Method::POST, &format!("/v1/keys/{id}/rotate"), None).await;
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let malformed = format!("{}X", &key[..key.len() - 1]);
    s.verify(json!({"key": malformed})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = s.stderr();
    assert!(logs.contains("key created"), "logging is on");
    for secret in [&key, &new_key, &s.management_key] {
        let body = &secret[secret.len() - 36..];
        assert!(!logs.contains(&body[..16]), "a key body is in the server logs");
    }
    assert!(
        !logs.contains("SECRETQUERY"),
        "query strings of original URIs are not logged"
    );
}

/// The first start on an empty embedded database writes one management key
/// to a 0600 file and prints its path, never the key; PostgreSQL gets none.
async fn the_first_management_key_is_written_to_a_private_file(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    match &t.sqlite_dir {
        Some(dir) => {
            use std::os::unix::fs::PermissionsExt;
            let file = dir.path().join("management-key");
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            // The database and the WAL and shared-memory files of the
            // running server: owner only, like the directory.
            for name in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
                let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name}");
            }
            let printed = s.stdout_lines.join("\n");
            assert!(printed.contains(&file.display().to_string()), "{printed}");
            assert!(
                !printed.contains(&s.management_key[4..]),
                "the key itself is never printed"
            );
            assert!(!s.stderr().contains(&s.management_key[4..]));
            assert_eq!(t.store.count_management_keys().await.unwrap(), 1);
        }
        // Only the one `keyward admin create-key` made for the test.
        None => assert_eq!(
            t.store.count_management_keys().await.unwrap(),
            1,
            "nothing is created automatically"
        ),
    }
}

/// The contract issue's bad inputs, each a problem+json naming what is
/// wrong: garbage cursors and ids on every paginated endpoint, a PATCH
/// that names nothing (no event either), bodies that are not objects,
/// wrong methods (405 with `Allow`), oversized header fields (431).
async fn every_bad_input_gets_a_problem_naming_it(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (id, _) = s.create_key("acme", &["*"]).await;
    for path in [
        "/v1/keys?cursor=garbage",
        "/v1/audit?cursor=garbage",
        "/v1/audit?cursor=c0",
        "/v1/keys?cursor=c1234567890123456789",
    ] {
        let (status, body) = s.manage(Method::GET, path, None).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("cursor")),
            "{path}: {body}"
        );
    }
    let (status, body) = s.manage(Method::GET, "/v1/audit?key_id=../x", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("key_id")), "{body}");
    let (status, body) = s.manage(Method::GET, "/v1/keys?account=a%2Fb", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("account")), "{body}");

    async fn events(s: &Server, id: String) -> usize {
        let path = format!("/v1/audit?key_id={id}");
        s.manage(Method::GET, &path, None).await.1["items"]
            .as_array()
            .unwrap()
            .len()
    }
    let before = events(&s, id.clone()).await;
    let (status, body) = s
        .manage(Method::PATCH, &format!("/v1/keys/{id}"), Some(json!({})))
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("body")), "{body}");
    assert_eq!(events(&s, id.clone()).await, before, "a refused PATCH writes no event");

    for body in [
        json!([]),
        json!(["acme", "k", ["*"]]),
        json!("x"),
        json!(3),
        Value::Null,
    ] {
        let (status, answer) = s.manage(Method::POST, "/v1/keys", Some(body.clone())).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer["detail"].as_str().unwrap().contains("JSON object"), "{answer}");
    }
    let (status, answer) = s
        .manage(
            Method::POST,
            &format!("/v1/keys/{id}/rotate"),
            Some(json!([null, null])),
        )
        .await;
    assert_eq!(status, 400, "a struct is never read from an array: {answer}");
    // A repeated member is refused, never read last-wins (a proxy that
    // checks the first `account` must not be fooled).
    let r = s
        .client
        .post(format!("{}/v1/keys", s.url))
        .bearer_auth(&s.management_key)
        .header("content-type", "application/json")
        .body(r#"{"account": "acme", "account": "other", "name": "k", "scopes": ["*"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("duplicate field"), "{body}");
    // A time that is not RFC 3339 once in UTC (year 10000).
    let (status, body) = s
        .manage(
            Method::POST,
            "/v1/keys",
            Some(json!({"account": "acme", "name": "k", "scopes": ["*"], "expires_at": "9999-12-31T23:59:59-23:59"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("expires_at")), "{body}");
    // `null` is not a name; invisible formatting is not part of one.
    let (status, body) = s
        .manage(
            Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(json!({"name": null, "scopes": ["*"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    for name in ["\u{feff}", "invoice\u{202e}fdp.exe"] {
        let (status, body) = s
            .manage(
                Method::POST,
                "/v1/keys",
                Some(json!({"account": "acme", "name": name, "scopes": ["*"]})),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("name")),
            "{name:?}: {body}"
        );
    }
    // JSON types by their media type, whatever their case or suffix.
    for content_type in [
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let r = s
            .client
            .patch(format!("{}/v1/keys/{id}", s.url))
            .bearer_auth(&s.management_key)
            .header("content-type", content_type)
            .body(r#"{"name": "renamed"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{content_type}");
    }
    // Whole seconds however JSON writes them; anything else names the field.
    for (grace, status) in [(json!(3600.0), 201), (json!(true), 400), (json!(1.5), 400)] {
        let body = rotate_with_grace(&s, grace, status).await;
        if status == 400 {
            assert_eq!(body["field"], "grace_period", "{body}");
        }
    }
    // A rotated key in its grace cannot be given a longer life.
    let (rotated, _) = s.create_key("acme", &["*"]).await;
    let (status, _) = s
        .manage(
            Method::POST,
            &format!("/v1/keys/{rotated}/rotate"),
            Some(json!({"grace_period": "1h"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = s
        .manage(
            Method::PATCH,
            &format!("/v1/keys/{rotated}"),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, old) = s.manage(Method::GET, &format!("/v1/keys/{rotated}"), None).await;
    assert!(old["expires_at"].is_string(), "the grace still ends: {old}");

    let (status, answer) = s
        .manage(Method::POST, &format!("/v1/keys/{id}/revoke"), Some(Value::Null))
        .await;
    assert_eq!(status, 200, "`null` is no body: {answer}");

    for (method, path, allowed) in [
        (Method::DELETE, "/v1/keys", "GET,HEAD,POST"),
        (Method::PUT, format!("/v1/keys/{id}").as_str(), "GET,HEAD,PATCH"),
        (
            Method::from_bytes(b"QUERY").unwrap(),
            "/v1/authz",
            "GET,PUT,POST,DELETE,OPTIONS,HEAD,PATCH,TRACE",
        ),
    ] {
        let r = s
            .client
            .request(method.clone(), format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let mut got: Vec<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        let mut want: Vec<String> = allowed.split(',').map(str::to_owned).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{method} {path}");
    }

    let r = s
        .client
        .get(format!("{}/v1/keys", s.url))
        .bearer_auth(&s.management_key)
        .header("x-padding", "p".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("32768"), "{body}");
    let r = s
        .client
        .get(format!("{}/v1/keys?x={}", s.url, "y".repeat(9000)))
        .bearer_auth(&s.management_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 414);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// A server may grant shorter rotation graces than 30 days
/// (`max_rotation_grace`), and its document says so.
async fn a_server_may_lower_the_rotation_grace(t: &TestStore) {
    let s = Server::start(
        t,
        Options {
            extra_args: vec!["--max-rotation-grace".into(), "1h".into()],
            ..Options::default()
        },
    )
    .await;
    for (grace, status) in [(json!("2h"), 400), (json!(3601), 400), (json!("30m"), 201)] {
        let body = rotate_with_grace(&s, grace, status).await;
        if status == 400 {
            assert!(
                body["detail"].as_str().unwrap().contains("max_rotation_grace"),
                "{body}"
            );
        }
    }
    let document = openapi_document(&s).await;
    assert_eq!(
        document.pointer("/components/schemas/RotateKey/properties/grace_period/oneOf/0/maximum"),
        Some(&json!(3600))
    );
}

/// With `verify_token`, the verification endpoints answer only requests
/// that carry it; the management API and operations are unaffected; a
/// short token is refused at start.
async fn a_verify_token_guards_the_verification_endpoints(t: &TestStore) {
    let token = "v".repeat(40);
    let s = Server::start(
        t,
        Options {
            env: vec![("KEYWARD_VERIFY_TOKEN", token.clone())],
            ..Options::default()
        },
    )
    .await;
    let (_, key) = s.create_key("acme", &["campaigns:read"]).await;
    let verify = |credential: Option<&str>| {
        let mut request = s
            .client
            .post(format!("{}/v1/verify", s.url))
            .json(&json!({"key": key, "scopes": ["campaigns:read"]}));
        if let Some(c) = credential {
            request = request.header("x-keyward-verifier-token", c);
        }
        request.send()
    };
    for wrong in [None, Some("nope"), Some(&token[1..])] {
        let r = verify(wrong).await.unwrap();
        assert_eq!(r.status(), 401, "{wrong:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = verify(Some(&token)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "VALID");
    let authz = |credential: Option<&str>| {
        let mut request = s
            .client
            .get(format!("{}/v1/authz", s.url))
            .header("x-api-key", &key)
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/public/v1/campaigns");
        if let Some(c) = credential {
            request = request.header("x-keyward-verifier-token", c);
        }
        request.send()
    };
    assert_eq!(authz(None).await.unwrap().status(), 401);
    assert_eq!(authz(Some(&token)).await.unwrap().status(), 200);
    // Every verification route, under every method, is behind it.
    for (method, path) in [
        (Method::HEAD, "/v1/authz"),
        (Method::OPTIONS, "/v1/authz"),
        (Method::TRACE, "/v1/authz"),
        (Method::GET, "/v1/authz/envoy"),
        (Method::GET, "/v1/authz/envoy/"),
        (
            Method::from_bytes(b"FOO").unwrap(),
            "/v1/authz/envoy/api/public/v1/campaigns",
        ),
    ] {
        let r = s
            .client
            .request(method.clone(), format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
    }
    let (status, _) = s.manage(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 200, "the management API has its own keys");
    let document = openapi_document(&s).await;
    assert_eq!(
        document["paths"]["/v1/verify"]["post"]["security"],
        json!([{"verifier_token": []}])
    );
    assert!(!s.stderr().contains(&token), "the token is never printed");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(t.cli_args())
        .env("KEYWARD_VERIFY_TOKEN", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 32"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first management key never exists without its file: if the file
/// cannot be created (here a link is in the way), `serve` stops before
/// storing a key and says what to do; once the way is clear, the next
/// start makes one. A data directory others may read is warned about.
async fn the_first_management_key_is_never_lost(t: &TestStore) {
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = &t.sqlite_dir else { return };
    let file = dir.path().join("management-key");
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("stolen"), &file).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("No management key was made"), "{stderr}");
    assert!(stderr.contains("management-key"), "{stderr}");
    assert_eq!(
        t.store.count_management_keys().await.unwrap(),
        0,
        "no key without its file"
    );
    assert!(
        !elsewhere.path().join("stolen").exists(),
        "nothing written through the link"
    );

    std::fs::remove_file(&file).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let s = Server::start(t, Options::default()).await;
    assert_eq!(t.store.count_management_keys().await.unwrap(), 1);
    assert!(s.stderr().contains("mode 0777"), "{}", s.stderr());
    let (status, _) = s.manage(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 200, "the key in the file works");
}

/// Writes a chunked POST /v1/verify in separate writes (so the server sees
/// several body frames) and returns the raw answer.
async fn chunked_verify(s: &Server, chunks: &[String]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        // The server may answer 413 and close before everything is sent.
        if stream.write_all(framed.as_bytes()).await.is_err() {
            break;
        }
        stream.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
}

async fn a_body_in_pieces_is_read_whole_and_limited(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let (_, key) = s.create_key("acme", &["campaigns:read"]).await;
    let body = json!({"key": key, "method": "GET", "path": "/api/public/v1/campaigns/42"}).to_string();
    let (a, rest) = body.split_at(10);
    let (b, c) = rest.split_at(rest.len() / 2);
    let answer = chunked_verify(&s, &[a.to_owned(), b.to_owned(), c.to_owned()]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""valid":true"#), "{answer}");

    // Over the body limit (64 KiB by default) in many small pieces: 413.
    let piece = " ".repeat(16 * 1024);
    let answer = chunked_verify(&s, &vec![piece; 6]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("the body is too large"), "{answer}");
}

on_both_stores!(
    a_verify_token_guards_the_verification_endpoints,
    a_server_may_lower_the_rotation_grace,
    every_bad_input_gets_a_problem_naming_it,
    the_first_management_key_is_never_lost,
    a_body_in_pieces_is_read_whole_and_limited,
    the_first_management_key_is_written_to_a_private_file,
    verify_answers_every_code_with_the_documented_body,
    expired_keys_are_refused_against_the_clock,
    authz_follows_the_forward_auth_rules,
    authz_with_the_forwarded_family_and_method_override_opt_in,
    management_api_lifecycle_and_errors,
    management_errors_are_problem_json_never_500,
    an_account_limited_management_key_sees_only_its_account,
    usage_counts_are_visible_at_once_with_least_privilege_suggestions,
    operations_endpoints,
    a_change_made_by_the_cli_reaches_the_server_within_a_second,
    no_log_line_of_the_server_carries_a_key,
);
