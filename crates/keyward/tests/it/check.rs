//! `keyward check`: exit 0 allowed, 1 denied, 2 bad input; `--json` prints
//! allowed, required, missing, granted; otherwise an explanation.

use super::{example, keyward, stderr, stdout, temp_catalog};

#[test]
fn an_allowed_route_exits_0_and_explains_which_grant_covered_it() {
    let atender = example("atender");
    let out = keyward(&[
        "check",
        "--catalog",
        &atender,
        "--grant",
        "knowledge:write",
        "--method",
        "GET",
        "--path",
        "/api/v1/kb/articles/1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("allowed (VALID)\n"), "{text}");
    assert!(text.contains("route: GET /api/v1/kb/{*rest}"), "{text}");
    assert!(
        text.contains("knowledge:read: covered by `knowledge:write` (implied by knowledge:write)"),
        "{text}"
    );
}

#[test]
fn a_denied_request_exits_1_with_the_seed_403_fields_in_json() {
    let coldsend = example("coldsend");
    let out = keyward(&[
        "check",
        "--catalog",
        &coldsend,
        "--grant",
        "sender_accounts:read",
        "--method",
        "POST",
        "--path",
        "/api/public/v1/campaigns",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(v["required"], serde_json::json!(["campaigns:create"]));
    assert_eq!(v["missing"], serde_json::json!(["campaigns:create"]));
    assert_eq!(v["granted"], serde_json::json!(["sender_accounts:read"]));
    assert_eq!(v["detail"], "Missing required scopes: campaigns:create");
}

#[test]
fn need_checks_scopes_without_a_route_and_lists_missing_in_catalog_order() {
    let surveys = example("surveys");
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "contacts:read",
        "--need",
        "reviews:write,contacts:write",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["missing"], serde_json::json!(["contacts:write", "reviews:write"]));
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "admin",
        "--need",
        "reviews:write",
        "--need",
        "contacts:write",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("reviews:write: covered by `admin` (superscope)"));
}

#[test]
fn denied_output_names_the_missing_scopes() {
    let surveys = example("surveys");
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "contacts:read",
        "--method",
        "DELETE",
        "--path",
        "/api/v1/contacts/1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("denied (INSUFFICIENT_SCOPE)\n"), "{text}");
    assert!(text.contains("contacts:write: MISSING"), "{text}");
    assert!(text.contains("Missing required scopes: contacts:write"), "{text}");
}

#[test]
fn unknown_and_confusing_routes_exit_1() {
    let surveys = example("surveys");
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "admin",
        "--method",
        "GET",
        "--path",
        "/api/v1/contacts/%2e%2e/admin",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], "UNKNOWN_ROUTE");
    assert_eq!(v["required"], serde_json::json!([]));
    assert!(v["detail"].as_str().unwrap().contains("`.` or `..` segment"));
}

/// Hole 1 of the security issue, exactly as reported: an encoded `?`
/// hid two `..` segments from the check of the decoded path.
#[test]
fn an_encoded_question_mark_cannot_hide_dot_segments() {
    let atender = example("atender");
    let out = keyward(&[
        "check",
        "--catalog",
        &atender,
        "--grant",
        "knowledge:read",
        "--method",
        "GET",
        "--path",
        "/api/v1/kb/x%3F/%2e%2e/%2e%2e/users",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], "UNKNOWN_ROUTE");
    assert!(v["detail"].as_str().unwrap().contains("percent-encoded `?`"), "{v}");
}

/// Hole 7: with `unknown_routes = "allow"` and strict matching, near
/// misses of a known route passed; `validate` warns, and matching the way
/// the API does (`path_case`, `trailing_slash`) checks them.
#[test]
fn near_misses_of_a_route_are_checked_when_matching_like_the_api() {
    let coldsend = std::fs::read_to_string(example("coldsend")).unwrap();
    let allow = coldsend.replace("unknown_routes = \"deny\"", "unknown_routes = \"allow\"");
    assert_ne!(allow, coldsend);
    let (_d1, strict) = temp_catalog(&allow);
    let loose_source = allow.replace(
        "unknown_routes = \"allow\"",
        "unknown_routes = \"allow\"\npath_case = \"insensitive\"\ntrailing_slash = \"ignore\"",
    );
    let (_d2, loose) = temp_catalog(&loose_source);

    let out = keyward(&["catalog", "validate", &strict]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(": warning: `unknown_routes = \"allow\"` with"),
        "{}",
        stderr(&out)
    );
    let out = keyward(&["catalog", "validate", &loose]);
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));

    for path in [
        "/api/public/v1/Sender-Accounts",
        "/API/public/v1/sender-accounts",
        "/api/public/v1/sender-accounts/",
    ] {
        let check = |catalog: &str| {
            keyward(&[
                "check",
                "--catalog",
                catalog,
                "--grant",
                "campaigns:read",
                "--method",
                "GET",
                "--path",
                path,
            ])
            .status
            .code()
        };
        assert_eq!(check(&strict), Some(0), "{path}: strict matching lets it through");
        assert_eq!(check(&loose), Some(1), "{path}: checked as sender-accounts");
    }
    let out = keyward(&[
        "check",
        "--catalog",
        &strict,
        "--grant",
        "campaigns:read",
        "--method",
        "GET",
        "--path",
        "/campaigns/a b",
    ]);
    assert_eq!(out.status.code(), Some(1), "a raw space is not a URI: {}", stdout(&out));
}

#[test]
fn an_unknown_grant_exits_2_with_a_suggestion() {
    let atender = example("atender");
    let out = keyward(&[
        "check",
        "--catalog",
        &atender,
        "--grant",
        "contacts:wirte",
        "--need",
        "contacts:read",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown scope `contacts:wirte` (did you mean `contacts:write`?)"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn non_grantable_selector_and_unknown_required_scopes_exit_2() {
    let voice = example("voice-agents");
    let out = keyward(&[
        "check",
        "--catalog",
        &voice,
        "--grant",
        "analytics:write",
        "--need",
        "analytics:read",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("scope `analytics:write` exists but cannot be granted"));
    let atender = example("atender");
    let out = keyward(&[
        "check",
        "--catalog",
        &atender,
        "--grant",
        "*:read",
        "--need",
        "tags:read",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`*:read` is a selector"));
    let out = keyward(&[
        "check",
        "--catalog",
        &atender,
        "--grant",
        "basic",
        "--need",
        "tags:raed",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown scope `tags:raed` (did you mean `tags:read`?)"));
    let surveys = example("surveys");
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "admin",
        "--need",
        "contacts:*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a concrete"));
}

#[test]
fn a_bad_catalog_or_bad_flags_exit_2() {
    let (_dir, bad) = temp_catalog("[api]\nname = \"x\"\nkey_prefix = \"x\"\n[resources.contacts]\nactions.read = 1\n");
    let out = keyward(&[
        "check",
        "--catalog",
        &bad,
        "--grant",
        "contacts:read",
        "--need",
        "contacts:read",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("catalog.toml:5:16:"), "{}", stderr(&out));
    let out = keyward(&[
        "check",
        "--catalog",
        "/nonexistent/catalog.toml",
        "--grant",
        "a:b",
        "--need",
        "a:b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read the catalog"));
    let surveys = example("surveys");
    // Neither --need nor --method/--path.
    assert_eq!(
        keyward(&["check", "--catalog", &surveys, "--grant", "admin"])
            .status
            .code(),
        Some(2)
    );
    // --method without --path.
    assert_eq!(
        keyward(&["check", "--catalog", &surveys, "--grant", "admin", "--method", "GET"])
            .status
            .code(),
        Some(2)
    );
    // Both --need and a route.
    let both = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "admin",
        "--need",
        "contacts:read",
        "--method",
        "GET",
        "--path",
        "/x",
    ]);
    assert_eq!(both.status.code(), Some(2));
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "admin",
        "--method",
        "FETCH",
        "--path",
        "/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown HTTP method `FETCH`"));
}

#[test]
fn lower_case_methods_are_accepted_on_the_command_line() {
    let surveys = example("surveys");
    let out = keyward(&[
        "check",
        "--catalog",
        &surveys,
        "--grant",
        "contacts:read",
        "--method",
        "get",
        "--path",
        "/api/v1/contacts",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
