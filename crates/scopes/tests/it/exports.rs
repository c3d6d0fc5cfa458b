//! `keyward catalog export`: JSON, TypeScript and Markdown carry every
//! scope, bundle and superscope.

use keyward_scopes::export::{to_json, to_markdown, to_typescript};

use super::seed;

#[test]
fn json_export_lists_every_construct() {
    let c = seed("surveys");
    let doc: serde_json::Value = serde_json::from_str(&to_json(&c)).unwrap();
    assert_eq!(doc["api"]["key_prefix"], "sv");
    assert_eq!(doc["api"]["superscopes"], serde_json::json!(["admin"]));
    assert_eq!(doc["scopes"].as_array().unwrap().len(), 12);
    assert_eq!(doc["resources"][1]["name"], "surveys");
    assert_eq!(doc["resources"][1]["actions"][2]["scope"], "surveys:send");
    assert_eq!(doc["resources"][1]["wildcards"], serde_json::json!(["surveys:*"]));
    assert_eq!(
        doc["bundles"][1]["scopes"],
        serde_json::json!(["contacts:read", "contacts:write"])
    );
    assert_eq!(doc["routes"][10]["path"], "/api/v1/sequences/{id}/execute");
    let grantable = doc["grantable"].as_array().unwrap();
    assert_eq!(grantable[0], "admin");
    assert!(grantable.contains(&"contacts:*".into()));
}

#[test]
fn typescript_export_is_the_scope_enum() {
    let c = seed("atender");
    let ts = to_typescript(&c);
    for s in c.scopes() {
        assert!(ts.contains(&format!("  \"{}\",\n", s.name)), "{} missing", s.name);
    }
    assert!(ts.contains("export type Scope = (typeof SCOPES)[number];"));
    assert!(
        ts.contains("export type Grant = GrantableScope | ResourceWildcard | GlobalWildcard | Superscope | Bundle;")
    );
    assert!(ts.contains("export const BUNDLES = [\n  \"basic\",\n  \"read_all\",\n  \"write_all\",\n  \"full_access\",\n  \"analytics_only\",\n  \"integration\",\n] as const;"));
    assert!(
        ts.contains("export type Superscope = never;"),
        "Atender has no superscope"
    );
    assert!(ts.contains("  \"basic\": [\"conversations:read\", \"contacts:read\", \"tags:read\"],"));
    let grantable = &ts[ts.find("GRANTABLE_SCOPES = [").unwrap()..ts.find("export type GrantableScope").unwrap()];
    assert!(grantable.contains("analytics:write"), "rare, but grantable");
    let voice = to_typescript(&seed("voice-agents"));
    let grantable =
        &voice[voice.find("GRANTABLE_SCOPES = [").unwrap()..voice.find("export type GrantableScope").unwrap()];
    assert!(!grantable.contains("analytics:write"), "read-only analytics");
}

#[test]
fn typescript_strings_are_escaped() {
    let src = "[api]\nname = \"Q\"\nkey_prefix = \"q\"\n[resources.docs]\nactions.read = 'Read \"quoted\" \\ docs'\n";
    let c = keyward_scopes::Catalog::from_toml("q.toml", src).unwrap();
    assert!(to_typescript(&c).contains(r#""docs:read": "Read \"quoted\" \\ docs","#));
}

#[test]
fn markdown_export_has_a_table_per_resource_bundles_and_routes() {
    let c = seed("coldsend");
    let md = to_markdown(&c);
    assert!(md.starts_with("# ColdSend API scopes\n"));
    assert!(md.contains(
        "### Campaigns\n\n| Scope | Description |\n|---|---|\n| `campaigns:create` | Create new campaigns |\n"
    ));
    assert!(md.contains("| `campaigns:all` | Full access to all campaign operations |"));
    assert!(md.contains(
        "| `*` | Full access to all resources. Automatically grants access to new scopes. — *Only use \\* for administrative tools. Protect these keys accordingly.* |"
    ));
    assert!(md.contains("| GET | `/api/public/v1/campaigns` | `campaigns:read` |"));
    assert!(md
        .contains("| GET | `/api/public/v1/campaigns/{id}/leads` *(illustrative)* | `campaigns:read`, `leads:read` |"));
    let atender = to_markdown(&seed("atender"));
    assert!(atender.contains("| `analytics:write` | (rare — typically not granted to external integrations) |"));
    let voice = to_markdown(&seed("voice-agents"));
    assert!(voice
        .contains("| `analytics:write` | Not available: analytics data is read-only (cannot be granted to a key) |"));
    assert!(atender.contains("- `:write` implies `:read` on the same resource."));
    assert!(atender
        .contains("| `read_all` | `*:read` | Every :read scope. Comprehensive monitoring or analytics integrations |"));
}

#[test]
fn markdown_table_cells_escape_pipes() {
    let src = "[api]\nname = \"Q\"\nkey_prefix = \"q\"\n[resources.docs]\nactions.read = \"a | b\"\n";
    let c = keyward_scopes::Catalog::from_toml("q.toml", src).unwrap();
    assert!(to_markdown(&c).contains("| `docs:read` | a \\| b |"));
}

#[test]
fn openapi_export_lists_routes_with_their_scopes() {
    let c = seed("surveys");
    let doc: serde_json::Value = serde_json::from_str(&keyward_scopes::export::to_openapi(&c)).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let execute = &doc["paths"]["/api/v1/sequences/{id}/execute"]["post"];
    assert_eq!(
        execute["security"][0]["apiKey"],
        serde_json::json!(["sequences:execute"])
    );
    assert_eq!(execute["parameters"][0]["name"], "id");
    assert_eq!(execute["description"], "Requires: `sequences:execute`");
    let contact = &doc["paths"]["/api/v1/contacts/{id}"];
    assert!(contact["get"].is_object() && contact["patch"].is_object() && contact["delete"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["apiKey"]["name"], "X-API-Key");
    assert_eq!(
        doc["x-keyward-scopes"]["surveys:send"],
        "Trigger survey sends to contacts"
    );
    let kb = seed("atender");
    let doc: serde_json::Value = serde_json::from_str(&keyward_scopes::export::to_openapi(&kb)).unwrap();
    assert!(
        doc["paths"]["/api/v1/kb/{rest}"]["get"].is_object(),
        "catch-alls become plain parameters"
    );
}
