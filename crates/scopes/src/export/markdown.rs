use std::fmt::Write;

use crate::catalog::{Catalog, UnknownRoutes};

/// A docs page shaped like the seeds' "Available Scopes" sections: a table
/// per resource, then wildcards, implications, bundles and the route table.
pub fn to_markdown(catalog: &Catalog) -> String {
    let api = catalog.api();
    let mut out = String::new();
    let _ = writeln!(out, "# {} API scopes\n", api.name);
    if let Some(d) = &api.description {
        let _ = writeln!(out, "{}\n", cell(d));
    }
    out.push_str("Scopes define what an API key can do. Each scope is `resource:action`; ");
    out.push_str("a key holds one or more of them, and a request without the scopes it needs gets 403.\n\n");
    let _ = writeln!(
        out,
        "Keys look like `{}_{}_...`{}.\n",
        api.key_prefix,
        api.environments.first().map_or("live", String::as_str),
        if api.environments.len() > 1 {
            format!(
                " (environments: {})",
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

    out.push_str("## Available Scopes\n\n");
    for resource in catalog.resources() {
        let _ = writeln!(
            out,
            "### {}\n",
            resource.description.as_deref().unwrap_or(&resource.name)
        );
        out.push_str("| Scope | Description |\n|---|---|\n");
        for action in &resource.actions {
            let note = if action.grantable {
                ""
            } else {
                " (cannot be granted to a key)"
            };
            let _ = writeln!(
                out,
                "| `{}` | {}{} |",
                catalog.scope_name(action.scope),
                cell(&action.description),
                note
            );
        }
        for (_, wildcard) in catalog.resource_wildcard_names(resource) {
            let label = resource.description.as_deref().unwrap_or(&resource.name).to_lowercase();
            let _ = writeln!(
                out,
                "| `{wildcard}` | All {} permissions, including ones added later |",
                cell(&label)
            );
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
        for w in &api.global_wildcards {
            let _ = writeln!(
                out,
                "| `{w}` | Full access to all resources, including scopes added later |"
            );
        }
        for s in &api.superscopes {
            let _ = writeln!(out, "| `{s}` | Full access to all resources (use sparingly) |");
        }
        out.push('\n');
    }

    out.push_str("## Scope hierarchy\n\n");
    if catalog.implies().is_empty() {
        out.push_str("No scope implies another: grant each one a key needs.\n\n");
    } else {
        implications(&mut out, catalog.implies());
        out.push('\n');
    }

    if !catalog.bundles().is_empty() {
        out.push_str("## Bundles\n\n| Bundle | Scopes | Description |\n|---|---|---|\n");
        for bundle in catalog.bundles() {
            let members: Vec<String> = bundle.members.iter().map(|m| format!("`{m}`")).collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                bundle.name,
                members.join(", "),
                bundle.description.as_deref().map_or(String::new(), cell)
            );
        }
        out.push('\n');
    }

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
            let _ = writeln!(out, "| {} | `{}` | {} |", methods.join(", "), route.path, requires);
        }
        out.push('\n');
        out.push_str(match api.unknown_routes {
            UnknownRoutes::Deny => "A request to any other endpoint is refused.\n",
            UnknownRoutes::Allow => "Any other endpoint needs a valid key and no particular scope.\n",
        });
    }
    out
}

fn implications(out: &mut String, table: &indexmap::IndexMap<String, Vec<String>>) {
    for (from, to) in table {
        let to: Vec<String> = to.iter().map(|a| format!("`:{a}`")).collect();
        let _ = writeln!(out, "- `:{from}` implies {} on the same resource.", to.join(", "));
    }
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
