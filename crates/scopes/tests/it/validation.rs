//! Every catalog rule of docs/CATALOG.md rejects bad input
//! with `file:line:col: message`, and nothing panics.

use super::{catalog, errors, API};

fn with_api(rest: &str) -> String {
    format!("{API}{rest}")
}

fn assert_one_error(source: &str, position: &str, needle: &str) {
    let errs = errors(source);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("test.toml:{position}: ")) && e.contains(needle)),
        "expected an error at {position} containing {needle:?}, got {errs:#?}"
    );
}

const CONTACTS: &str = "[resources.contacts]\nactions.read = \"r\"\nactions.write = \"w\"\n";

#[test]
fn syntax_errors_have_a_position() {
    assert_one_error(&with_api("[resources.contacts\n"), "4:20", "invalid table header");
    assert_one_error(
        "[api]\nname = \"x\nkey_prefix = \"a\"\n",
        "2:10",
        "invalid basic string",
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_named() {
    assert_one_error(
        &with_api(&format!("{CONTACTS}[bundles.b]\nscope = [\"contacts:read\"]\n")),
        "8:1",
        "unknown field `scope`",
    );
    assert_one_error(
        &with_api("[resources.contacts]\nactions.read = 3\n"),
        "5:16",
        "a description string",
    );
    assert_one_error(
        &with_api("[resources.contacts]\nactions.read = { description = \"r\", grantible = false }\n"),
        "5:16",
        "unknown field `grantible`",
    );
    let errs = errors("[resources.contacts]\nactions.read = \"r\"\n");
    assert!(errs[0].contains("missing field `api`"), "{errs:?}");
}

#[test]
fn an_empty_catalog_is_an_error() {
    assert_one_error(API, "1:1", "defines no resources");
    assert_one_error(&with_api("[resources.contacts]\n"), "4:1", "has no actions");
}

#[test]
fn bad_names_are_explained() {
    assert_one_error(
        &with_api("[resources.Contacts]\nactions.read = \"r\"\n"),
        "4:12",
        "upper-case",
    );
    assert_one_error(
        &with_api("[resources.contacts]\nactions.read-all = \"r\"\n"),
        "5:9",
        "lower-case ASCII",
    );
    assert_one_error(
        &with_api(&format!("{CONTACTS}[bundles.Basic]\nscopes = [\"contacts:read\"]\n")),
        "7:10",
        "upper-case",
    );
}

#[test]
fn key_prefix_and_environments_follow_section_8() {
    let cat = |api: &str| format!("[api]\nname = \"x\"\n{api}\n{CONTACTS}");
    assert_one_error(&cat("key_prefix = \"c_s\""), "3:14", "no `_`");
    assert_one_error(&cat("key_prefix = \"abcdefghijklmnopq\""), "3:14", "1-16 lower-case");
    assert_one_error(
        &cat("key_prefix = \"kwm\""),
        "3:14",
        "reserved for keyward's management keys",
    );
    assert_one_error(
        &cat("key_prefix = \"cs\"\nenvironments = [\"live\", \"Test\"]"),
        "4:25",
        "environments: `Test`",
    );
    assert_one_error(
        &cat("key_prefix = \"cs\"\nenvironments = [\"live\", \"live\"]"),
        "4:25",
        "listed twice",
    );
    assert_one_error(
        &cat("key_prefix = \"cs\"\nenvironments = []"),
        "4:16",
        "at least one environment",
    );
    assert_one_error(
        &cat("key_prefix = \"cs\"\nunknown_routes = \"maybe\""),
        "4:18",
        "\"deny\" or \"allow\"",
    );
}

#[test]
fn defaults_are_live_test_star_and_deny() {
    let c = catalog(&with_api(CONTACTS));
    assert_eq!(c.api().environments, ["live", "test"]);
    assert_eq!(c.api().resource_wildcards, ["*"]);
    assert_eq!(c.api().global_wildcards, ["*"]);
    assert!(c.api().superscopes.is_empty());
    assert_eq!(c.api().unknown_routes, keyward_scopes::UnknownRoutes::Deny);
    assert!(!c.api().method_override);
}

#[test]
fn a_wildcard_suffix_equal_to_an_action_is_an_error() {
    let src = "[api]\nname = \"x\"\nkey_prefix = \"x\"\nresource_wildcards = [\"all\"]\n[resources.contacts]\nactions.all = \"r\"\n";
    assert_one_error(src, "6:9", "resource wildcard suffix");
}

#[test]
fn superscope_and_bundle_names_cannot_collide() {
    let src = "[api]\nname = \"x\"\nkey_prefix = \"x\"\nsuperscopes = [\"admin\"]\n[resources.contacts]\nactions.read = \"r\"\n[bundles.admin]\nscopes = [\"contacts:read\"]\n";
    assert_one_error(src, "7:10", "bundle `admin` collides");
    let src = "[api]\nname = \"x\"\nkey_prefix = \"x\"\nsuperscopes = [\"contacts\"]\n[resources.contacts]\nactions.read = \"r\"\n";
    assert_one_error(src, "1:1", "superscope `contacts` has the name of a resource");
    let src = "[api]\nname = \"x\"\nkey_prefix = \"x\"\nsuperscopes = [\"admin\", \"admin\"]\n[resources.contacts]\nactions.read = \"r\"\n";
    assert_one_error(src, "4:25", "listed twice");
}

#[test]
fn bundle_members_are_checked_with_suggestions() {
    let b = |members: &str| {
        with_api(&format!("{CONTACTS}[resources.analytics]\nactions.read = \"r\"\nactions.write = {{ description = \"w\", grantable = false }}\n[bundles.other]\nscopes = [\"contacts:read\"]\n[bundles.b]\nscopes = [{members}]\n"))
    };
    assert_one_error(
        &b("\"contacts:raed\""),
        "13:11",
        "unknown scope `contacts:raed` (did you mean `contacts:read`?)",
    );
    assert_one_error(
        &b("\"contact:read\""),
        "13:11",
        "unknown resource `contact` in `contact:read` (did you mean `contacts`?)",
    );
    assert_one_error(
        &b("\"analytics:write\""),
        "13:11",
        "`analytics:write` cannot be granted",
    );
    assert_one_error(&b("\"other\""), "13:11", "bundles cannot contain bundles");
    assert_one_error(&b("\"*\""), "13:11", "write the selector `*:*`");
    assert_one_error(
        &b("\"*:raed\""),
        "13:11",
        "no resource has an action `raed` (did you mean `read`?)",
    );
    assert_one_error(&b(""), "13:10", "bundle `b` has no scopes");
}

#[test]
fn a_selector_that_selects_only_non_grantable_scopes_is_an_error() {
    let src = with_api("[resources.analytics]\nactions.read = \"r\"\nactions.write = { description = \"w\", grantable = false }\n[bundles.b]\nscopes = [\"*:write\"]\n");
    assert_one_error(&src, "8:11", "selects no grantable scope");
}

#[test]
fn implications_name_existing_actions() {
    let src = with_api(&format!("[implies]\nwirte = [\"read\"]\n{CONTACTS}"));
    assert_one_error(&src, "5:1", "no resource has an action `wirte` (did you mean `write`?)");
    let src = with_api(
        "[resources.contacts]\nactions.read = \"r\"\nactions.write = \"w\"\nimplies = { write = [\"red\"] }\n",
    );
    assert_one_error(&src, "7:22", "implies of `contacts`: no resource has an action `red`");
}

#[test]
fn routes_are_checked() {
    let r = |route: &str| with_api(&format!("{CONTACTS}[[routes]]\n{route}\n"));
    assert_one_error(
        &r("methods = [\"FETCH\"]\npath = \"/a\"\nscopes = [\"contacts:read\"]"),
        "8:12",
        "unknown HTTP method `FETCH`",
    );
    assert_one_error(
        &r("methods = [\"get\"]\npath = \"/a\"\nscopes = [\"contacts:read\"]"),
        "8:12",
        "(did you mean `GET`?)",
    );
    assert_one_error(
        &r("methods = []\npath = \"/a\"\nscopes = [\"contacts:read\"]"),
        "8:11",
        "at least one method",
    );
    assert_one_error(
        &r("methods = [\"GET\", \"GET\"]\npath = \"/a\"\nscopes = [\"contacts:read\"]"),
        "8:19",
        "listed twice",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"a\"\nscopes = [\"contacts:read\"]"),
        "9:8",
        "must start with `/`",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"/a/{*rest}/b\"\nscopes = [\"contacts:read\"]"),
        "9:8",
        "must be the last segment",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"/a/:id\"\nscopes = [\"contacts:read\"]"),
        "9:8",
        "write parameters as `{id}`",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"/a\"\nscopes = [\"contacts:wirte\"]"),
        "10:11",
        "unknown scope `contacts:wirte` (did you mean `contacts:write`?)",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"/a\"\nscopes = [\"contacts:*\"]"),
        "10:11",
        "not a concrete",
    );
    assert_one_error(
        &r("methods = [\"GET\"]\npath = \"/a\"\nscopes = [\"*:read\"]"),
        "10:11",
        "not a concrete",
    );
}

#[test]
fn duplicate_routes_name_the_first_one() {
    let src = with_api(&format!(
        "{CONTACTS}[[routes]]\nmethods = [\"GET\", \"POST\"]\npath = \"/a/{{id}}\"\nscopes = [\"contacts:read\"]\n[[routes]]\nmethods = [\"POST\"]\npath = \"/a/{{name}}\"\nscopes = [\"contacts:write\"]\n"
    ));
    assert_one_error(&src, "13:8", "duplicate route: `/a/{name}` and `/a/{id}` (line 7)");
    // Same template, disjoint methods: two routes, no conflict.
    catalog(&with_api(&format!(
        "{CONTACTS}[[routes]]\nmethods = [\"GET\"]\npath = \"/a/{{id}}\"\nscopes = [\"contacts:read\"]\n[[routes]]\nmethods = [\"PATCH\"]\npath = \"/a/{{id}}\"\nscopes = [\"contacts:write\"]\n"
    )));
}

#[test]
fn all_problems_are_reported_at_once_in_file_order() {
    let src = with_api(
        "[resources.contacts]\nactions.read = \"r\"\n[bundles.b]\nscopes = [\"contacts:raed\", \"nope:read\"]\n",
    );
    let errs = errors(&src);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with("test.toml:7:11:"));
    assert!(errs[1].starts_with("test.toml:7:28:"));
}

#[test]
fn a_stray_carriage_return_gets_a_message() {
    let errs = errors(&with_api("[resources.contacts]\n\ractions.read = \"r\"\n"));
    assert!(
        errs[0].starts_with("test.toml:5:1: ") && errs[0].len() > "test.toml:5:1: ".len(),
        "{errs:?}"
    );
}
