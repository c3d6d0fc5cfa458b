use std::fmt::Write;

use crate::catalog::{Catalog, KeyHeader, Resource, UnknownRoutes};

/// Said once, above the first entry marked illustrative.
const ILLUSTRATIVE: &str = "Entries marked *(illustrative)* are examples of the API's shape, \
     not taken from the product's documentation.";

/// A docs page shaped like the seeds' "Available Scopes" sections: a table
/// per resource, then wildcards, implications, bundles and the route table.
pub fn to_markdown(catalog: &Catalog) -> String {
    let api = catalog.api();
    let mut out = String::new();
    let _ = writeln!(out, "# {} API scopes\n", api.name);
    match &api.description {
        Some(d) => {
            let _ = writeln!(out, "{}\n", cell(d));
        }
        None => {
            out.push_str("Scopes define what an API key can do. Each scope is `resource:action`; ");
            out.push_str("a key holds one or more of them, and a request without the scopes it needs gets 403.\n\n");
        }
    }
    let _ = writeln!(
        out,
        "keyward issues keys that look like `{}_{}_...`{}.\n",
        api.key_prefix,
        api.environments.first().map_or("live", String::as_str),
        if api.environments.len() > 1 {
            format!(
                " (one environment per key: {})",
                api.environments
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );

    authentication(&mut out, catalog);

    out.push_str("## Available Scopes\n\n");
    if any_illustrative(catalog) {
        let _ = writeln!(out, "{ILLUSTRATIVE}\n");
    }
    for resource in catalog.resources() {
        let _ = writeln!(out, "### {}\n", heading(resource));
        if let (Some(_), Some(description)) = (&resource.title, &resource.description) {
            let _ = writeln!(out, "{}\n", cell(description));
        }
        if resource.illustrative {
            out.push_str(
                "*(illustrative descriptions: the product names these scopes but does not describe them)*\n\n",
            );
        }
        out.push_str("| Scope | Description |\n|---|---|\n");
        for action in &resource.actions {
            let advice = action.advice.as_deref().map_or(String::new(), advice);
            let note = if action.grantable {
                ""
            } else {
                " (cannot be granted to a key)"
            };
            let _ = writeln!(
                out,
                "| `{}` | {}{advice}{note} |",
                catalog.scope_name(action.scope),
                cell(&action.description),
            );
        }
        for (_, wildcard) in catalog.resource_wildcard_names(resource) {
            let text = match &resource.wildcard_description {
                Some(text) => cell(text),
                None => format!("Every action of `{}`, including ones added later", resource.name),
            };
            let _ = writeln!(out, "| `{wildcard}` | {text} |");
        }
        if let Some(own) = &resource.implies {
            out.push('\n');
            if own.is_empty() {
                out.push_str("No action of this resource implies another.\n");
            } else {
                implications(&mut out, own);
            }
        }
        out.push('\n');
    }

    if !api.global_wildcards.is_empty() || !api.superscopes.is_empty() {
        out.push_str("## Full access\n\n| Scope | Description |\n|---|---|\n");
        let notes = &catalog.guidance().grant_notes;
        let defaults = api
            .global_wildcards
            .iter()
            .map(|w| (w, "Full access to all resources, including scopes added later"))
            .chain(
                api.superscopes
                    .iter()
                    .map(|s| (s, "Full access to all resources, including scopes added later")),
            );
        for (name, default) in defaults {
            let note = notes.get(name);
            let description = note.and_then(|n| n.description.as_deref()).unwrap_or(default);
            let advice = note.and_then(|n| n.advice.as_deref()).map_or(String::new(), advice);
            let _ = writeln!(out, "| `{name}` | {}{advice} |", cell(description));
        }
        out.push('\n');
    }

    hierarchy(&mut out, catalog);

    if !catalog.bundles().is_empty() {
        out.push_str("## Bundles\n\n| Bundle | Scopes | Description |\n|---|---|---|\n");
        for bundle in catalog.bundles() {
            let members: Vec<String> = bundle.members.iter().map(|m| format!("`{m}`")).collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | {}{} |",
                bundle.name,
                members.join(", "),
                bundle.description.as_deref().map_or(String::new(), cell),
                if bundle.illustrative { " *(illustrative)*" } else { "" }
            );
        }
        out.push('\n');
    }

    recipes(&mut out, catalog);

    if !catalog.routes().is_empty() {
        out.push_str("## Endpoints\n\n| Method | Path | Requires |\n|---|---|---|\n");
        for route in catalog.routes() {
            let methods: Vec<&str> = route.methods.iter().map(|m| m.as_str()).collect();
            let scopes: Vec<String> = route
                .scopes
                .iter()
                .map(|id| format!("`{}`", catalog.scope_name(*id)))
                .collect();
            let requires = if scopes.is_empty() {
                "a valid key".to_owned()
            } else {
                scopes.join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | `{}`{} | {} |",
                methods.join(", "),
                route.path,
                if route.illustrative { " *(illustrative)*" } else { "" },
                requires
            );
        }
        out.push('\n');
        out.push_str(match api.unknown_routes {
            UnknownRoutes::Deny => {
                "keyward refuses a request to any endpoint not listed here, whatever the key holds.\n"
            }
            UnknownRoutes::Allow => {
                "keyward lets a request to any other endpoint through with a valid key, whatever its scopes.\n"
            }
        });
        unrouted(&mut out, catalog);
    }
    missing_scope(&mut out, catalog);
    best_practices(&mut out, catalog);
    keys(&mut out);
    out
}

/// What grants what beyond itself: implications, resource wildcards, full
/// access.
fn hierarchy(out: &mut String, catalog: &Catalog) {
    out.push_str("## Scope hierarchy\n\n");
    if catalog.implies().is_empty() {
        out.push_str("No action implies another (`write` does not include `read`): grant each one a key needs.\n\n");
    } else {
        implications(out, catalog.implies());
    }
    for resource in catalog.resources() {
        let actions: Vec<String> = resource
            .actions
            .iter()
            .filter(|a| a.grantable)
            .map(|a| format!("`{}`", a.name))
            .collect();
        for (_, wildcard) in catalog.resource_wildcard_names(resource) {
            let _ = writeln!(
                out,
                "- `{wildcard}` grants every action of `{}` ({}), including actions added later.",
                resource.name,
                actions.join(", ")
            );
        }
    }
    let api = catalog.api();
    for name in api.global_wildcards.iter().chain(&api.superscopes) {
        let _ = writeln!(out, "- `{name}` grants every scope, including scopes added later.");
    }
    out.push('\n');
}

/// The product's own best practices.
fn best_practices(out: &mut String, catalog: &Catalog) {
    let advice = &catalog.api().advice;
    if advice.is_empty() {
        return;
    }
    out.push_str("\n## Best practices\n\n");
    for line in advice {
        let _ = writeln!(out, "- {}", cell(line));
    }
}

/// A resource's heading: its title, else its description, else its name.
fn heading(resource: &Resource) -> String {
    cell(
        resource
            .title
            .as_deref()
            .or(resource.description.as_deref())
            .unwrap_or(&resource.name),
    )
}

fn any_illustrative(catalog: &Catalog) -> bool {
    catalog.resources().iter().any(|r| r.illustrative)
        || catalog.bundles().iter().any(|b| b.illustrative)
        || catalog.routes().iter().any(|r| r.illustrative)
}

/// How clients send the key.
fn authentication(out: &mut String, catalog: &Catalog) {
    let api = catalog.api();
    let example = format!(
        "{}_{}_...",
        api.key_prefix,
        api.environments.first().map_or("live", String::as_str)
    );
    out.push_str("## Authentication\n\n");
    let _ = match api.key_header {
        Some(KeyHeader::ApiKey) => writeln!(
            out,
            "Send the key in the `X-API-Key` header of every request:\n\n```http\nX-API-Key: {example}\n```\n"
        ),
        Some(KeyHeader::Bearer) => writeln!(
            out,
            "Send the key as a Bearer token in the `Authorization` header of every request:\n\n```http\nAuthorization: Bearer {example}\n```\n"
        ),
        None => writeln!(
            out,
            "keyward accepts the key as a Bearer token (`Authorization: Bearer {example}`) or in the `X-API-Key` header.\n"
        ),
    };
}

/// The minimum grants per use case.
fn recipes(out: &mut String, catalog: &Catalog) {
    let recipes = &catalog.guidance().recipes;
    if recipes.is_empty() {
        return;
    }
    out.push_str("## Picking minimum scopes\n\n| Use case | Grant | Note |\n|---|---|---|\n");
    for recipe in recipes {
        let grants: Vec<String> = recipe.grants.iter().map(|g| format!("`{g}`")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&recipe.name),
            grants.join(", "),
            recipe.note.as_deref().map_or(String::new(), cell)
        );
    }
    out.push('\n');
}

/// Concrete scopes that no listed endpoint requires (said when other
/// endpoints are refused: such a scope allows nothing yet).
fn unrouted(out: &mut String, catalog: &Catalog) {
    if catalog.api().unknown_routes != UnknownRoutes::Deny {
        return;
    }
    let routed: std::collections::HashSet<u32> =
        catalog.routes().iter().flat_map(|r| r.scopes.iter().copied()).collect();
    let unrouted: Vec<String> = (0..catalog.scope_count() as u32)
        .filter(|id| !routed.contains(id) && catalog.is_grantable_scope(*id))
        .map(|id| format!("`{}`", catalog.scope_name(id)))
        .collect();
    if unrouted.is_empty() {
        return;
    }
    let full: Vec<String> = catalog
        .api()
        .global_wildcards
        .iter()
        .chain(&catalog.api().superscopes)
        .map(|g| format!("`{g}`"))
        .collect();
    let _ = writeln!(
        out,
        "\nNo endpoint listed here requires {}: until one is, {} no request (keyward refuses an endpoint not listed{}).",
        unrouted.join(", "),
        if unrouted.len() == 1 { "it allows" } else { "they allow" },
        if full.is_empty() {
            String::new()
        } else {
            format!(", even to {}", full.join(" or "))
        }
    );
}

/// The 403 answer, and the examples as keyward decides them.
fn missing_scope(out: &mut String, catalog: &Catalog) {
    out.push_str("\n## When a scope is missing\n\n");
    out.push_str(
        "keyward answers a request whose key lacks a scope the endpoint requires with `403 Forbidden` \
         and a body that names what was required, what the key holds and what is missing.\n",
    );
    for example in &catalog.guidance().examples {
        let grants = catalog.compile_grants(&example.grants);
        let decision = catalog.decide_route(&grants, &example.method, &example.path);
        let held: Vec<String> = example.grants.iter().map(|g| format!("`{g}`")).collect();
        let _ = write!(
            out,
            "\n{}A key granted {} calling `{} {}`",
            example
                .description
                .as_deref()
                .map_or(String::new(), |d| format!("**{}** ", cell(d))),
            held.join(", "),
            example.method,
            example.path
        );
        match decision.detail() {
            None => out.push_str(" is allowed: `200 OK` from your API.\n"),
            Some(detail) => {
                let body = serde_json::json!({
                    "detail": detail,
                    "required": decision.required(),
                    "granted": example.grants,
                    "missing": decision.missing(),
                });
                let _ = writeln!(
                    out,
                    " gets `403 Forbidden`:\n\n```json\n{}\n```",
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
            }
        }
    }
}

/// What every key of every catalog is: keyward's lifecycle.
fn keys(out: &mut String) {
    out.push_str(
        "\n## Keys, as keyward manages them\n\n\
         - A key has a name that says what uses it (for example \"Production Backend\" or \"CRM Integration\").\n\
         - A key may have an expiry date, after which it stops working; without one it works until revoked.\n\
         - A key holds at least one permission.\n\
         - The key is shown once, when it is created; only its first characters are kept for display.\n\
         - Revoking a key is permanent: it cannot be reactivated. Revoked and expired keys stay listed for audit.\n\
         - Each key shows how often it was used in the last 24 hours, 7 days and 30 days.\n",
    );
}

fn implications(out: &mut String, table: &indexmap::IndexMap<String, Vec<String>>) {
    for (from, to) in table {
        let to: Vec<String> = to.iter().map(|a| format!("`:{a}`")).collect();
        let _ = writeln!(out, "- `:{from}` implies {} on the same resource.", to.join(", "));
    }
}

/// A caution after a row's description, in italics (a `*` in it escaped).
fn advice(text: &str) -> String {
    format!(" — *{}*", cell(text).replace('*', "\\*"))
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
