//! The decision rules of docs/CATALOG.md: expansion of grants against
//! the current catalog, implications, bundles, non-grantable actions,
//! routes, unknown routes and confusing paths.

use keyward_scopes::{Catalog, GrantError, NoRoute, Outcome, PathRejection, RequirementError, Via};

use super::{catalog, API};

fn allows(c: &Catalog, grants: &[&str], need: &[&str]) -> bool {
    let g = c.compile_grants(grants);
    let r = c.requirement(need).unwrap();
    c.decide(&g, &r).allowed()
}

fn effective(c: &Catalog, grants: &[&str]) -> Vec<String> {
    c.compile_grants(grants)
        .effective()
        .map(|id| c.scope_name(id).to_owned())
        .collect()
}

const CRM: &str = r#"
[api]
name = "CRM"
key_prefix = "crm"
resource_wildcards = ["*", "all"]
global_wildcards = ["*"]
superscopes = ["admin"]

[implies]
manage = ["write"]
write = ["read"]

[resources.contacts]
actions.read = "r"
actions.write = "w"
actions.manage = "m"

[resources.deals]
actions.read = "r"
actions.manage = "m"

[resources.notes]
actions.read = "r"
actions.write = "w"
implies = {}

[resources.analytics]
actions.read = "r"
actions.write = { description = "w", grantable = false }

[bundles.read_all]
scopes = ["*:read"]

[bundles.everything]
scopes = ["*:*"]

[bundles.writers]
scopes = ["*:write"]

[bundles.basic]
description = "Basic"
scopes = ["contacts:read", "notes:all"]
"#;

#[test]
fn a_request_is_allowed_iff_required_is_a_subset_of_the_expansion() {
    let c = catalog(CRM);
    assert!(allows(&c, &["contacts:read"], &["contacts:read"]));
    assert!(!allows(&c, &["contacts:read"], &["contacts:write"]));
    assert!(allows(
        &c,
        &["contacts:read", "notes:read"],
        &["contacts:read", "notes:read"]
    ));
    assert!(!allows(&c, &["contacts:read"], &["contacts:read", "notes:read"]));
    assert!(allows(&c, &["contacts:read"], &[]), "no requirement only authenticates");
}

#[test]
fn missing_is_in_catalog_order_and_granted_is_kept_as_given() {
    let c = catalog(CRM);
    let g = c.compile_grants(&["notes:read"]);
    let r = c.requirement(&["notes:write", "deals:read", "contacts:read"]).unwrap();
    let d = c.decide(&g, &r);
    assert_eq!(d.outcome(), Outcome::InsufficientScope);
    assert_eq!(d.required(), ["contacts:read", "deals:read", "notes:write"]);
    assert_eq!(d.missing(), ["contacts:read", "deals:read", "notes:write"]);
}

#[test]
fn resource_wildcards_cover_every_grantable_action_of_the_resource() {
    let c = catalog(CRM);
    assert_eq!(
        effective(&c, &["contacts:*"]),
        ["contacts:read", "contacts:write", "contacts:manage"]
    );
    assert_eq!(effective(&c, &["contacts:all"]), effective(&c, &["contacts:*"]));
    assert_eq!(
        effective(&c, &["analytics:*"]),
        ["analytics:read"],
        "analytics:write is not grantable"
    );
}

#[test]
fn global_wildcards_and_superscopes_grant_every_grantable_scope() {
    let c = catalog(CRM);
    let all: Vec<String> = c
        .scopes()
        .iter()
        .map(|s| s.name.clone())
        .filter(|s| s != "analytics:write")
        .collect();
    assert_eq!(effective(&c, &["*"]), all);
    assert_eq!(effective(&c, &["admin"]), all);
}

#[test]
fn implications_are_transitive_then_kept_to_the_resource_actions() {
    let c = catalog(CRM);
    assert_eq!(
        effective(&c, &["contacts:manage"]),
        ["contacts:read", "contacts:write", "contacts:manage"]
    );
    // deals has manage and read but no write: manage -> write -> read still gives read.
    assert_eq!(effective(&c, &["deals:manage"]), ["deals:read", "deals:manage"]);
    assert_eq!(
        effective(&c, &["contacts:read"]),
        ["contacts:read"],
        "implication is one way"
    );
}

#[test]
fn a_resource_implies_table_replaces_the_catalog_wide_one() {
    let c = catalog(CRM);
    assert_eq!(effective(&c, &["notes:write"]), ["notes:write"]);
}

#[test]
fn a_non_grantable_action_is_never_in_the_expansion() {
    let c = catalog(CRM);
    for grant in ["*", "admin", "analytics:*", "analytics:all", "everything", "writers"] {
        assert!(
            !allows(&c, &[grant], &["analytics:write"]),
            "{grant} must not grant analytics:write"
        );
    }
    assert_eq!(
        c.check_grants(&["analytics:write"]),
        Err(vec![GrantError::NotGrantable {
            grant: "analytics:write".into()
        }])
    );
    // Implication never reaches it either.
    let src = CRM.replace(
        "[resources.analytics]\nactions.read = \"r\"",
        "[resources.analytics]\nactions.read = \"r\"\nactions.manage = \"m\"",
    );
    let c = catalog(&src);
    assert_eq!(
        effective(&c, &["analytics:manage"]),
        ["analytics:read", "analytics:manage"]
    );
}

#[test]
fn bundles_expand_selectors_and_implications() {
    let c = catalog(CRM);
    assert_eq!(
        effective(&c, &["read_all"]),
        ["contacts:read", "deals:read", "notes:read", "analytics:read"]
    );
    assert_eq!(
        effective(&c, &["writers"]),
        ["contacts:read", "contacts:write", "notes:write"]
    );
    assert_eq!(
        effective(&c, &["basic"]),
        ["contacts:read", "notes:read", "notes:write"]
    );
    assert_eq!(effective(&c, &["everything"]), effective(&c, &["*"]));
}

#[test]
fn wildcards_and_bundles_cover_scopes_added_to_a_later_catalog() {
    let v1 = catalog(CRM);
    let v2 = catalog(&format!(
        "{CRM}\n[resources.tasks]\nactions.read = \"r\"\nactions.archive = \"a\"\n"
    ));
    let v2_contacts = catalog(&CRM.replace(
        "actions.manage = \"m\"\n\n[resources.deals]",
        "actions.manage = \"m\"\nactions.export = \"e\"\n\n[resources.deals]",
    ));
    for grants in [&["*"][..], &["admin"], &["everything"]] {
        assert!(v1.requirement(&["tasks:archive"]).is_err());
        assert!(allows(&v2, grants, &["tasks:archive"]), "{grants:?}");
    }
    assert!(allows(&v2, &["read_all"], &["tasks:read"]));
    assert!(!allows(&v2, &["read_all"], &["tasks:archive"]));
    assert!(allows(&v2_contacts, &["contacts:*"], &["contacts:export"]));
    assert!(!allows(&v2_contacts, &["contacts:manage"], &["contacts:export"]));
}

#[test]
fn stale_grants_grant_nothing_and_are_reported() {
    let c = catalog(CRM);
    let g = c.compile_grants(&["contacts:read", "tasks:read", "analytics:write", "gone_bundle"]);
    assert_eq!(g.stale(), [1, 2, 3]);
    assert_eq!(g.effective().count(), 1);
    let r = c.requirement(&["contacts:read"]).unwrap();
    assert!(
        c.decide(&g, &r).allowed(),
        "a stale grant never makes the hot path fail"
    );
}

#[test]
fn grants_being_set_are_validated_with_suggestions() {
    let c = catalog(CRM);
    assert_eq!(c.check_grants::<&str>(&[]), Err(vec![GrantError::NoGrants]));
    assert_eq!(
        c.check_grants(&["contacts:wirte"]),
        Err(vec![GrantError::Unknown {
            grant: "contacts:wirte".into(),
            suggestion: Some("contacts:write".into())
        }])
    );
    assert_eq!(
        c.check_grants(&["*:read"]),
        Err(vec![GrantError::Selector { grant: "*:read".into() }])
    );
    let errs = c.check_grants(&["contacts:wirte", "admni"]).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[1].to_string(), "unknown scope `admni` (did you mean `admin`?)");
    assert!(c
        .check_grants(&["*", "admin", "contacts:all", "basic", "notes:read"])
        .is_ok());
}

#[test]
fn required_scopes_must_be_concrete_and_known() {
    let c = catalog(CRM);
    assert_eq!(
        c.requirement(&["contacts:wirte"]).unwrap_err(),
        RequirementError::Unknown {
            scope: "contacts:wirte".into(),
            suggestion: Some("contacts:write".into())
        }
    );
    for not_concrete in ["contacts:*", "*", "admin", "basic", "*:read"] {
        assert_eq!(
            c.requirement(&[not_concrete]).unwrap_err(),
            RequirementError::NotConcrete {
                scope: not_concrete.into()
            }
        );
    }
    assert!(
        c.requirement(&["analytics:write"]).is_ok(),
        "a non-grantable scope can be required"
    );
}

#[test]
fn grants_of_another_catalog_cover_nothing() {
    let a = catalog(CRM);
    let b = catalog(CRM);
    let g = a.compile_grants(&["*"]);
    let r = b.requirement(&["contacts:read"]).unwrap();
    assert!(!b.decide(&g, &r).allowed());
}

#[test]
fn explain_names_the_first_covering_grant_and_how() {
    let c = catalog(CRM);
    let id = |s| c.scope_id(s).unwrap();
    let grants = ["notes:read", "contacts:manage", "read_all", "admin"];
    assert_eq!(c.explain(&grants, id("notes:read")).unwrap().via, Via::Exact);
    let cov = c.explain(&grants, id("contacts:read")).unwrap();
    assert_eq!(
        (cov.grant, cov.via),
        (
            "contacts:manage",
            Via::Implied {
                from: "contacts:manage".into()
            }
        )
    );
    let cov = c.explain(&grants, id("deals:read")).unwrap();
    assert_eq!((cov.grant, cov.via), ("read_all", Via::Bundle));
    let cov = c.explain(&grants, id("deals:manage")).unwrap();
    assert_eq!((cov.grant, cov.via), ("admin", Via::Superscope));
    assert_eq!(
        c.explain(&["contacts:all"], id("contacts:write")).unwrap().via,
        Via::ResourceWildcard
    );
    assert_eq!(
        c.explain(&["*"], id("contacts:write")).unwrap().via,
        Via::GlobalWildcard
    );
    assert_eq!(
        c.explain(&["writers"], id("contacts:read")).unwrap().via,
        Via::Implied {
            from: "contacts:write".into()
        }
    );
    assert_eq!(c.explain(&["notes:read"], id("contacts:read")), None);
}

fn routed(extra_api: &str, routes: &str) -> Catalog {
    catalog(&format!("{API}{extra_api}\n[resources.kb]\nactions.read = \"r\"\nactions.write = \"w\"\n[resources.tags]\nactions.read = \"r\"\n{routes}"))
}

const KB_ROUTES: &str = r#"
[[routes]]
methods = ["GET"]
path = "/kb"
scopes = ["kb:read"]
[[routes]]
methods = ["GET"]
path = "/kb/{*rest}"
scopes = ["kb:read"]
[[routes]]
methods = ["POST", "PATCH", "DELETE"]
path = "/kb/{*rest}"
scopes = ["kb:write"]
[[routes]]
methods = ["GET"]
path = "/kb/{id}/tags"
scopes = ["kb:read", "tags:read"]
[[routes]]
methods = ["GET"]
path = "/kb/search"
scopes = []
"#;

#[test]
fn route_decisions_require_every_scope_of_the_route() {
    let c = routed("", KB_ROUTES);
    let kb = c.compile_grants(&["kb:read"]);
    let both = c.compile_grants(&["kb:read", "tags:read"]);
    let d = c.decide_route(&kb, "GET", "/kb/12/tags");
    assert_eq!(d.outcome(), Outcome::InsufficientScope);
    assert_eq!(d.missing(), ["tags:read"]);
    assert_eq!(d.route().unwrap().path, "/kb/{id}/tags");
    assert!(c.decide_route(&both, "GET", "/kb/12/tags").allowed());
    assert!(c.decide_route(&kb, "GET", "/kb/12/other").allowed(), "catch-all");
    assert!(c.decide_route(&kb, "GET", "/kb").allowed());
    assert!(!c.decide_route(&kb, "POST", "/kb/12").allowed());
    assert_eq!(
        c.decide_route(&kb, "POST", "/kb").outcome(),
        Outcome::UnknownRoute,
        "/kb and /kb/{{*rest}} are distinct"
    );
    let tags = c.compile_grants(&["tags:read"]);
    let search = c.decide_route(&tags, "GET", "/kb/search?q=x");
    assert!(
        search.allowed() && search.required().is_empty(),
        "a route with no scopes only authenticates"
    );
}

#[test]
fn head_is_get_and_the_query_string_is_ignored() {
    let c = routed("", KB_ROUTES);
    let kb = c.compile_grants(&["kb:read"]);
    assert!(c.decide_route(&kb, "HEAD", "/kb/1").allowed());
    assert!(c.decide_route(&kb, "GET", "/kb?x=/../../admin").allowed());
    assert_eq!(
        c.decide_route(&kb, "get", "/kb").no_route(),
        Some(NoRoute::UnknownMethod),
        "methods are case-sensitive"
    );
    assert_eq!(c.decide_route(&kb, "TRACE", "/kb").outcome(), Outcome::UnknownRoute);
}

#[test]
fn unknown_routes_are_denied_by_default_and_allowed_on_opt_in_with_nothing_required() {
    let deny = routed("", KB_ROUTES);
    let allow = routed("unknown_routes = \"allow\"", KB_ROUTES);
    let g = deny.compile_grants(&["tags:read"]);
    let d = deny.decide_route(&g, "GET", "/elsewhere");
    assert_eq!(
        (d.outcome(), d.no_route()),
        (Outcome::UnknownRoute, Some(NoRoute::NoMatch))
    );
    let g = allow.compile_grants(&["tags:read"]);
    let d = allow.decide_route(&g, "GET", "/elsewhere");
    assert!(d.allowed());
    assert!(d.required().is_empty());
    assert!(
        !allow.decide_route(&g, "GET", "/kb").allowed(),
        "a known route still needs its scopes"
    );
}

#[test]
fn confusing_paths_match_no_route_even_when_unknown_routes_are_allowed() {
    for c in [routed("", KB_ROUTES), routed("unknown_routes = \"allow\"", KB_ROUTES)] {
        let g = c.compile_grants(&["kb:read", "kb:write", "tags:read"]);
        for (path, why) in [
            ("/kb/a/../b", PathRejection::DotSegment),
            ("/kb/%2e%2e/x", PathRejection::DotSegment),
            ("/kb/a%2Fb", PathRejection::EncodedSlash),
            ("/kb/a%5cb", PathRejection::EncodedSlash),
            ("/kb/a\\b", PathRejection::Backslash),
            ("/kb//a", PathRejection::EmptySegment),
            ("/kb/a;x=1", PathRejection::Semicolon),
            ("/kb/a%252e", PathRejection::DoubleEncoding),
            ("/kb/a%00", PathRejection::ControlCharacter),
            ("/kb/a%zz", PathRejection::InvalidEncoding),
            ("/kb/%c3%28", PathRejection::NotUtf8),
            ("kb/a", PathRejection::NotAbsolute),
            ("https://evil/kb", PathRejection::NotAbsolute),
            // Hole 1 of the security issue: the decoded path was re-checked
            // by a scanner that stopped at the decoded `?`.
            ("/kb/x%3F/%2e%2e/%2e%2e/users", PathRejection::EncodedQuery),
            ("/kb/x%3f/y", PathRejection::EncodedQuery),
            ("/kb/x%23/%2e%2e", PathRejection::Fragment),
            // Raw characters a URI cannot hold (docs/CATALOG.md).
            ("/kb/a b", PathRejection::InvalidCharacter),
            ("/kb/a<b>", PathRejection::InvalidCharacter),
            ("/kb/{x}", PathRejection::InvalidCharacter),
            ("/kb/a|b", PathRejection::InvalidCharacter),
            ("/kb/a^b", PathRejection::InvalidCharacter),
            ("/kb/a`b", PathRejection::InvalidCharacter),
            ("/kb/a\"b", PathRejection::InvalidCharacter),
        ] {
            let d = c.decide_route(&g, "GET", path);
            assert_eq!(d.outcome(), Outcome::UnknownRoute, "{path}");
            assert_eq!(d.no_route(), Some(NoRoute::Rejected(why)), "{path}");
        }
    }
}

#[test]
fn percent_encoded_ordinary_characters_are_decoded_before_matching() {
    let c = routed("", KB_ROUTES);
    let kb = c.compile_grants(&["kb:read"]);
    let d = c.decide_route(&kb, "GET", "/%6bb/search");
    assert_eq!(d.route().unwrap().path, "/kb/search");
}

const SENDER_ROUTES: &str = r#"
[[routes]]
methods = ["GET"]
path = "/api/v1/sender-accounts"
scopes = ["kb:write"]
[[routes]]
methods = ["GET"]
path = "/api/v1/Teams/{id}/"
scopes = ["kb:write"]
"#;

/// Hole 7: with `unknown_routes = "allow"`, a path an Express API serves
/// as a known route (other case, trailing slash) reached it unchecked.
#[test]
fn path_case_and_trailing_slash_route_the_way_the_api_does() {
    let strict = routed("unknown_routes = \"allow\"", SENDER_ROUTES);
    let loose = routed(
        "unknown_routes = \"allow\"\npath_case = \"insensitive\"\ntrailing_slash = \"ignore\"",
        SENDER_ROUTES,
    );
    let g = strict.compile_grants(&["kb:read"]);
    let near_misses = [
        "/api/v1/Sender-Accounts",
        "/API/v1/sender-accounts",
        "/api/v1/sender-accounts/",
        "/API/V1/SENDER-ACCOUNTS/?x=1",
        "/api/v1/%53ender-accounts",
        "/api/v1/teams/7",
        "/api/v1/TEAMS/7/",
    ];
    for path in near_misses {
        assert!(
            strict.decide_route(&g, "GET", path).allowed(),
            "strict matching: {path} is another path, allowed as unknown"
        );
    }
    let g = loose.compile_grants(&["kb:read"]);
    for path in near_misses {
        let d = loose.decide_route(&g, "GET", path);
        assert_eq!(d.outcome(), Outcome::InsufficientScope, "{path}");
        assert_eq!(d.missing(), ["kb:write"], "{path}");
    }
    assert!(
        loose.decide_route(&g, "GET", "/api/v1/teams/7/x").allowed(),
        "another path"
    );
    assert!(loose.decide_route(&g, "GET", "/").allowed(), "the root keeps its slash");
    let d = loose.decide_route(&g, "GET", "/api/v1/sender-accounts//");
    assert_eq!(d.no_route(), Some(NoRoute::Rejected(PathRejection::EmptySegment)));
    // Letters some routers fold to ASCII when ignoring case (review
    // finding: `/api/v1/TEAMS` spelled with a dotless ı reached `{param}`).
    for path in [
        "/api/v1/sender-accounts/\u{130}",
        "/api/v1/%E2%84%AAeys",
        "/api/v1/send\u{131}ng",
        "/api/v1/\u{17F}ender-accounts",
    ] {
        let d = loose.decide_route(&g, "GET", path);
        assert_eq!(
            d.no_route(),
            Some(NoRoute::Rejected(PathRejection::CaseConfusable)),
            "{path}"
        );
    }
    assert!(
        strict
            .decide_route(&strict.compile_grants(&["kb:read"]), "GET", "/api/v1/\u{17F}")
            .allowed(),
        "case-sensitive routers do not fold: just another unknown path"
    );
}

#[test]
fn folding_makes_routes_equal_after_it_duplicates() {
    for (settings, a, b) in [
        ("path_case = \"insensitive\"", "/kb/Tags", "/kb/tags"),
        ("trailing_slash = \"ignore\"", "/kb/tags/", "/kb/tags"),
    ] {
        let source = format!(
            "{API}{settings}\n[resources.kb]\nactions.read = \"r\"\n[[routes]]\nmethods = [\"GET\"]\npath = \"{a}\"\nscopes = [\"kb:read\"]\n[[routes]]\nmethods = [\"GET\"]\npath = \"{b}\"\nscopes = [\"kb:read\"]\n"
        );
        let errors = Catalog::from_toml("t.toml", &source).unwrap_err();
        assert!(errors.to_string().contains("duplicate route"), "{settings}: {errors}");
        let strict = source.replace(settings, "");
        assert!(Catalog::from_toml("t.toml", &strict).is_ok(), "distinct when strict");
    }
}

#[test]
fn allowing_unknown_routes_with_strict_matching_is_a_warning() {
    let strict = routed("unknown_routes = \"allow\"", KB_ROUTES);
    let warnings: Vec<String> = strict.warnings().iter().map(|w| w.message.clone()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("path_case") && warnings[0].contains("trailing_slash"));
    let half = routed("unknown_routes = \"allow\"\npath_case = \"insensitive\"", KB_ROUTES);
    assert!(half.warnings()[0].message.contains("trailing_slash"));
    assert!(!half.warnings()[0].message.contains("path_case ="));
    for quiet in [
        routed("", KB_ROUTES),
        routed(
            "unknown_routes = \"allow\"\npath_case = \"insensitive\"\ntrailing_slash = \"ignore\"",
            KB_ROUTES,
        ),
    ] {
        assert!(quiet.warnings().is_empty());
    }
    let bad = format!("{API}path_case = \"lower\"\ntrailing_slash = \"yes\"\n[resources.kb]\nactions.read = \"r\"\n");
    let errors = Catalog::from_toml("t.toml", &bad).unwrap_err().to_string();
    assert!(errors.contains("path_case `lower` must be"), "{errors}");
    assert!(errors.contains("trailing_slash `yes` must be"), "{errors}");
}
