//! What each example product's API page states (the pages the catalogs of
//! `examples/catalogs/` were written from), checked against its catalog.

use keyward_scopes::{Catalog, GrantError, Outcome};

use super::seed;

fn route_allows(c: &Catalog, grants: &[&str], method: &str, path: &str) -> bool {
    let g = c.compile_grants(grants);
    c.decide_route(&g, method, path).allowed()
}

fn scopes_allow(c: &Catalog, grants: &[&str], need: &[&str]) -> bool {
    let g = c.compile_grants(grants);
    let r = c.requirement(need).unwrap();
    c.decide(&g, &r).allowed()
}

fn required(c: &Catalog, method: &str, path: &str) -> Vec<String> {
    let g = c.compile_grants(&[] as &[&str]);
    let d = c.decide_route(&g, method, path);
    assert!(d.route().is_some(), "{method} {path} should match a route");
    d.required().into_iter().map(str::to_owned).collect()
}

#[test]
fn seed_000_route_table_is_exact() {
    let c = seed("surveys");
    let table = [
        ("GET", "/api/v1/contacts", "contacts:read"),
        ("POST", "/api/v1/contacts", "contacts:write"),
        ("GET", "/api/v1/contacts/42", "contacts:read"),
        ("PATCH", "/api/v1/contacts/42", "contacts:write"),
        ("DELETE", "/api/v1/contacts/42", "contacts:write"),
        ("GET", "/api/v1/surveys", "surveys:read"),
        ("POST", "/api/v1/surveys", "surveys:write"),
        ("GET", "/api/v1/surveys/7", "surveys:read"),
        ("PATCH", "/api/v1/surveys/7", "surveys:write"),
        ("DELETE", "/api/v1/surveys/7", "surveys:write"),
        ("GET", "/api/v1/sequences", "sequences:read"),
        ("GET", "/api/v1/sequences/3", "sequences:read"),
        ("POST", "/api/v1/sequences/3/execute", "sequences:execute"),
        ("GET", "/api/v1/responses", "responses:read"),
        ("GET", "/api/v1/responses/9", "responses:read"),
        ("GET", "/api/v1/reviews", "reviews:read"),
        ("GET", "/api/v1/reviews/5", "reviews:read"),
        ("POST", "/api/v1/reviews/5/reply", "reviews:write"),
        ("PATCH", "/api/v1/reviews/5/reply", "reviews:write"),
    ];
    for (method, path, scope) in table {
        assert_eq!(required(&c, method, path), [scope], "{method} {path}");
        assert!(route_allows(&c, &[scope], method, path));
    }
    assert_eq!(c.routes().len(), 16, "the seed's table has 19 rows on 16 method groups");
    // Anything not in the table is denied.
    let g = c.compile_grants(&["admin"]);
    assert_eq!(
        c.decide_route(&g, "DELETE", "/api/v1/sequences/3").outcome(),
        Outcome::UnknownRoute
    );
    assert_eq!(
        c.decide_route(&g, "GET", "/api/v1/webhooks").outcome(),
        Outcome::UnknownRoute
    );
}

#[test]
fn seed_000_admin_and_resource_wildcards() {
    let c = seed("surveys");
    let every: Vec<&str> = c.scopes().iter().map(|s| s.name.as_str()).collect();
    assert!(scopes_allow(&c, &["admin"], &every));
    assert!(scopes_allow(&c, &["contacts:*"], &["contacts:read", "contacts:write"]));
    assert!(scopes_allow(
        &c,
        &["surveys:*"],
        &["surveys:read", "surveys:write", "surveys:send"]
    ));
    assert!(scopes_allow(
        &c,
        &["sequences:*"],
        &["sequences:read", "sequences:execute"]
    ));
    assert!(!scopes_allow(&c, &["contacts:*"], &["surveys:read"]));
    // No global `*` in this product, and write does not imply read.
    assert!(c.check_grants(&["*"]).is_err());
    assert!(!scopes_allow(&c, &["contacts:write"], &["contacts:read"]));
    // A missing scope is a 403-class denial.
    let g = c.compile_grants(&["contacts:read"]);
    let d = c.decide_route(&g, "POST", "/api/v1/contacts");
    assert_eq!(
        (d.outcome(), d.missing()),
        (Outcome::InsufficientScope, vec!["contacts:write"])
    );
}

#[test]
fn seed_000_common_combinations_are_bundles_with_descriptions() {
    let c = seed("surveys");
    let names: Vec<&str> = c.bundles().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "analytics_readonly",
            "crm_sync",
            "marketing_automation",
            "review_management"
        ]
    );
    assert!(c.bundles().iter().all(|b| b.description.is_some()));
    assert!(route_allows(
        &c,
        &["marketing_automation"],
        "POST",
        "/api/v1/sequences/1/execute"
    ));
    assert!(!route_allows(&c, &["analytics_readonly"], "POST", "/api/v1/surveys"));
}

#[test]
fn seed_001_compound_scopes_cover_every_campaign_operation() {
    let c = seed("coldsend");
    let ops = [
        "campaigns:create",
        "campaigns:read",
        "campaigns:update",
        "campaigns:delete",
        "campaigns:pause",
        "campaigns:activate",
    ];
    assert!(scopes_allow(&c, &["campaigns:all"], &ops));
    assert!(!scopes_allow(&c, &["campaigns:all"], &["leads:read"]));
    assert!(scopes_allow(
        &c,
        &["leads:all", "sender_accounts:all"],
        &["leads:delete", "sender_accounts:create"]
    ));
    assert_eq!(c.api().key_prefix, "cs");
    assert_eq!(c.api().environments, ["live", "test"]);
}

#[test]
fn seed_001_global_wildcard_also_grants_scopes_added_later() {
    let today = seed("coldsend");
    let source = std::fs::read_to_string(format!(
        "{}/../../examples/catalogs/coldsend.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let later = format!("{source}\n[resources.webhooks]\nactions.read = \"List webhooks\"\nactions.create = \"Create webhooks\"\n\n[[routes]]\nmethods = [\"POST\"]\npath = \"/api/public/v1/webhooks\"\nscopes = [\"webhooks:create\"]\n");
    let later = Catalog::from_toml("coldsend-later.toml", &later).unwrap();
    let stored = ["*"];
    assert!(
        today.requirement(&["webhooks:create"]).is_err(),
        "not in today's catalog"
    );
    assert!(route_allows(&later, &stored, "POST", "/api/public/v1/webhooks"));
    assert!(scopes_allow(&later, &stored, &["webhooks:read", "campaigns:activate"]));
    // A compound scope grows with its resource, and only with it.
    assert!(!scopes_allow(&later, &["campaigns:all"], &["webhooks:read"]));
}

#[test]
fn seed_001_success_and_insufficient_scope_examples() {
    let c = seed("coldsend");
    assert!(route_allows(&c, &["campaigns:read"], "GET", "/api/public/v1/campaigns"));
    // The seed's 403: a key holding only sender_accounts:read writing a campaign.
    let grants = ["sender_accounts:read"];
    let g = c.compile_grants(&grants);
    let d = c.decide_route(&g, "POST", "/api/public/v1/campaigns");
    assert_eq!(d.outcome(), Outcome::InsufficientScope);
    assert_eq!(d.required(), ["campaigns:create"]);
    assert_eq!(d.missing(), ["campaigns:create"]);
    // The seed's example names `campaigns:write`, which its table does not define.
    assert!(c.requirement(&["campaigns:write"]).is_err());
}

#[test]
fn seed_002_write_does_not_include_read() {
    let c = seed("voice-agents");
    for resource in ["calls", "leads", "agents", "contacts", "knowledge_base", "integrations"] {
        let write = format!("{resource}:write");
        let read = format!("{resource}:read");
        assert!(!scopes_allow(&c, &[&write], &[&read]), "{write} must not grant {read}");
        assert!(scopes_allow(&c, &[&write, &read], &[&read, &write]));
    }
}

#[test]
fn seed_002_read_is_get_and_write_is_post_patch_delete() {
    let c = seed("voice-agents");
    for (resource, path) in [
        ("calls", "calls"),
        ("knowledge_base", "knowledge-base"),
        ("integrations", "integrations"),
    ] {
        let read = format!("{resource}:read");
        let write = format!("{resource}:write");
        for p in [format!("/v1/{path}"), format!("/v1/{path}/abc")] {
            assert_eq!(required(&c, "GET", &p), std::slice::from_ref(&read));
            for m in ["POST", "PATCH", "DELETE"] {
                assert_eq!(required(&c, m, &p), std::slice::from_ref(&write), "{m} {p}");
            }
            assert!(!route_allows(&c, &[&write], "GET", &p));
            assert!(!route_allows(&c, &[&read], "POST", &p));
        }
    }
}

#[test]
fn seed_002_analytics_is_read_only_and_a_key_needs_a_permission() {
    let c = seed("voice-agents");
    assert_eq!(
        c.check_grants(&["analytics:write"]),
        Err(vec![GrantError::NotGrantable {
            grant: "analytics:write".into()
        }])
    );
    assert!(c.check_grants(&["analytics:read"]).is_ok());
    assert_eq!(c.check_grants::<&str>(&[]), Err(vec![GrantError::NoGrants]));
    assert!(c.check_grants(&["*"]).is_err(), "this product has no wildcard");
    let g = c.compile_grants(&["analytics:read"]);
    assert!(c.decide_route(&g, "GET", "/v1/analytics/calls/daily").allowed());
    assert_eq!(
        c.decide_route(&g, "POST", "/v1/analytics").outcome(),
        Outcome::UnknownRoute
    );
}

#[test]
fn seed_003_write_implies_read_on_the_same_surface() {
    let c = seed("atender");
    assert!(scopes_allow(&c, &["knowledge:write"], &["knowledge:read"]));
    assert!(!scopes_allow(&c, &["knowledge:write"], &["contacts:read"]));
    assert!(!scopes_allow(&c, &["knowledge:read"], &["knowledge:write"]));
}

#[test]
fn seed_003_get_prefix_rule() {
    let c = seed("atender");
    for path in [
        "/api/v1/kb",
        "/api/v1/kb/articles",
        "/api/v1/kb/articles/12/tags",
        "/api/v1/kb/search?q=refund",
    ] {
        assert!(route_allows(&c, &["knowledge:read"], "GET", path), "{path}");
        assert!(
            route_allows(&c, &["knowledge:write"], "GET", path),
            "write implies read: {path}"
        );
        assert!(!route_allows(&c, &["knowledge:read"], "POST", path), "{path}");
        for m in ["POST", "PATCH", "DELETE"] {
            assert!(route_allows(&c, &["knowledge:write"], m, path), "{m} {path}");
        }
    }
    assert!(!route_allows(&c, &["knowledge:read"], "GET", "/api/v1/kbx"));
    assert!(!route_allows(&c, &["knowledge:read"], "GET", "/api/v1/kb/../contacts"));
}

#[test]
fn seed_003_bundles() {
    let c = seed("atender");
    let scopes_of = |name: &str| -> Vec<String> {
        let b = c.bundles().iter().find(|b| b.name == name).unwrap();
        c.bundle_scopes(b).map(str::to_owned).collect()
    };
    assert_eq!(scopes_of("basic"), ["conversations:read", "contacts:read", "tags:read"]);
    let reads: Vec<String> = c
        .scopes()
        .iter()
        .filter(|s| s.name.ends_with(":read"))
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(scopes_of("read_all"), reads);
    assert_eq!(reads.len(), 20);
    let full: Vec<String> = c.scopes().iter().map(|s| s.name.clone()).collect();
    assert_eq!(scopes_of("full_access"), full, "\"Every scope\"");
    // Every :write scope, and with write implying read, their reads.
    let write_all = scopes_of("write_all");
    assert!(write_all.contains(&"knowledge:write".to_owned()) && write_all.contains(&"knowledge:read".to_owned()));
    assert!(write_all.contains(&"analytics:write".to_owned()) && write_all.contains(&"analytics:read".to_owned()));
    assert_eq!(scopes_of("analytics_only"), ["conversations:read", "analytics:read"]);
    assert!(route_allows(
        &c,
        &["analytics_only"],
        "GET",
        "/api/v1/analytics/breaches"
    ));
    assert!(!route_allows(
        &c,
        &["analytics_only"],
        "POST",
        "/api/v1/analytics/breaches"
    ));
    assert!(c.bundles().iter().any(|b| b.name == "integration"));
}

/// "(rare — typically not granted to external integrations)" is advice:
/// the scope can be granted, `full_access` and `write_all` include it, and
/// the docs carry the advice.
#[test]
fn seed_003_analytics_write_is_rare_but_grantable() {
    let c = seed("atender");
    for grants in [&["full_access"][..], &["write_all"], &["analytics:write"]] {
        assert!(route_allows(&c, grants, "POST", "/api/v1/analytics"), "{grants:?}");
    }
    assert!(!route_allows(&c, &["read_all"], "POST", "/api/v1/analytics"));
    assert!(c.check_grants(&["analytics:write"]).is_ok());
    assert!(
        c.check_grants(&["analytics:*"]).is_err(),
        "the seed offers no wildcards"
    );
    let write = c
        .resources()
        .iter()
        .find(|r| r.name == "analytics")
        .unwrap()
        .actions
        .iter()
        .find(|a| a.name == "write")
        .unwrap();
    assert_eq!(
        write.description,
        "(rare — typically not granted to external integrations)"
    );
}
