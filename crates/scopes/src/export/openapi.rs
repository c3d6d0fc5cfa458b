use serde_json::{json, Map, Value};

use crate::catalog::{Catalog, KeyHeader};
use crate::route::Segment;

/// An OpenAPI 3.1 document of the API the catalog describes: every route
/// with the scopes it requires (as the security requirement's scopes and in
/// its description), and the scope list under the security schemes.
pub fn to_openapi(catalog: &Catalog) -> String {
    let api = catalog.api();
    let mut scopes = Map::new();
    for resource in catalog.resources() {
        for action in resource.actions.iter().filter(|a| a.grantable) {
            let text = match &action.advice {
                Some(advice) => format!("{} ({advice})", action.description),
                None => action.description.clone(),
            };
            scopes.insert(catalog.scope_name(action.scope).to_owned(), json!(text));
        }
    }
    // The scheme the docs tell clients to use, or both.
    let schemes: Vec<&str> = match api.key_header {
        Some(KeyHeader::ApiKey) => vec!["apiKey"],
        Some(KeyHeader::Bearer) => vec!["bearer"],
        None => vec!["apiKey", "bearer"],
    };
    let mut paths: Map<String, Value> = Map::new();
    for route in catalog.routes() {
        let template = crate::route::Template::parse(&route.path).ok();
        let path = openapi_path(&route.path);
        let required: Vec<&str> = route.scopes.iter().map(|id| catalog.scope_name(*id)).collect();
        let parameters: Vec<Value> = template
            .iter()
            .flat_map(|t| t.segments().iter())
            .filter_map(|s| match s {
                Segment::Param(name) | Segment::CatchAll(name) => {
                    Some(json!({"name": name.as_ref(), "in": "path", "required": true, "schema": {"type": "string"}}))
                }
                Segment::Literal(_) => None,
            })
            .collect();
        let description = if required.is_empty() {
            "Requires a valid key.".to_owned()
        } else {
            format!(
                "Requires: {}",
                required.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            )
        };
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        for method in &route.methods {
            let mut operation = json!({
                "summary": route.description.clone().unwrap_or_else(|| format!("{method} {}", route.path)),
                "description": description,
                "security": schemes.iter().map(|s| json!({ *s: required })).collect::<Vec<_>>(),
                "responses": {
                    "401": {"description": "Missing, unknown, expired or revoked key"},
                    "403": {"description": "The key lacks a required scope"},
                },
            });
            if !parameters.is_empty() {
                operation["parameters"] = json!(parameters);
            }
            if route.illustrative {
                operation["x-keyward-illustrative"] = json!(true);
            }
            entry[method.as_str().to_ascii_lowercase()] = operation;
        }
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} API", api.name),
            "version": "1",
            "description": format!("keyward issues keys that look like `{}_{}_...`. Scopes: {}.", api.key_prefix,
                api.environments.first().map_or("live", String::as_str), scopes.len()),
        },
        "paths": paths,
        "components": {
            "securitySchemes": schemes.iter().map(|s| match *s {
                "apiKey" => ("apiKey".to_owned(), json!({"type": "apiKey", "in": "header", "name": "X-API-Key"})),
                _ => ("bearer".to_owned(), json!({"type": "http", "scheme": "bearer", "description": "The key as a Bearer token"})),
            }).collect::<Map<_, _>>(),
        },
        "x-keyward-scopes": scopes,
        "x-keyward-bundles": catalog.bundles().iter().map(|b| (b.name.clone(), json!(catalog.bundle_scopes(b).collect::<Vec<_>>()))).collect::<Map<_, _>>(),
        "x-keyward-illustrative-bundles": catalog.bundles().iter().filter(|b| b.illustrative).map(|b| b.name.clone()).collect::<Vec<_>>(),
        "x-keyward-recipes": catalog.guidance().recipes.iter().map(|r| json!({"use_case": r.name, "grants": r.grants, "note": r.note})).collect::<Vec<_>>(),
    });
    #[expect(
        clippy::expect_used,
        reason = "a document of strings, numbers and maps always serializes"
    )]
    let text = serde_json::to_string_pretty(&doc).expect("a document of strings, numbers and maps serializes");
    text + "\n"
}

/// `/a/{id}/{*rest}` -> `/a/{id}/{rest}`.
fn openapi_path(template: &str) -> String {
    template.replace("{*", "{")
}
