//! The permission matrix of the create and edit forms, generated from the
//! catalog: a row per resource, a column per action, a box only where the
//! action is grantable, the resource wildcards where the catalog has them,
//! and the bundles and global wildcards as choices with their
//! descriptions.

use keyward_scopes::Catalog;

/// One box: the grant it adds and how it is read out.
pub struct Cell {
    pub grant: String,
    pub id: String,
    /// `contacts: read`, the box's accessible name.
    pub label: String,
    pub description: String,
}

pub struct Row {
    pub resource: String,
    pub description: Option<String>,
    /// One per column; `None` where the resource has no grantable action
    /// of that name.
    pub cells: Vec<Option<Cell>>,
    pub wildcards: Vec<Cell>,
}

/// A bundle, superscope or global wildcard.
pub struct Choice {
    pub grant: String,
    pub id: String,
    pub description: String,
}

pub struct Matrix {
    pub columns: Vec<String>,
    pub wildcard_columns: Vec<String>,
    pub rows: Vec<Row>,
    pub choices: Vec<Choice>,
}

impl Matrix {
    pub fn of(catalog: &Catalog) -> Matrix {
        let mut columns: Vec<String> = Vec::new();
        for resource in catalog.resources() {
            for action in resource.actions.iter().filter(|a| a.grantable) {
                if !columns.contains(&action.name) {
                    columns.push(action.name.clone());
                }
            }
        }
        let rows = catalog
            .resources()
            .iter()
            .enumerate()
            .map(|(r, resource)| Row {
                resource: resource.name.clone(),
                description: resource.description.clone(),
                cells: columns
                    .iter()
                    .enumerate()
                    .map(|(c, column)| {
                        resource
                            .actions
                            .iter()
                            .find(|a| a.grantable && &a.name == column)
                            .map(|action| Cell {
                                grant: catalog.scope_name(action.scope).to_owned(),
                                id: format!("grant-{r}-{c}"),
                                label: format!("{}: {}", resource.name, action.name),
                                description: match &action.advice {
                                    Some(advice) => format!("{} ({advice})", action.description),
                                    None => action.description.clone(),
                                },
                            })
                    })
                    .collect(),
                wildcards: catalog
                    .resource_wildcard_names(resource)
                    .enumerate()
                    .map(|(w, (_, grant))| Cell {
                        id: format!("grant-{r}-w{w}"),
                        label: format!("{}: all actions", resource.name),
                        description: resource.wildcard_description.clone().unwrap_or_else(|| {
                            format!("Every {} permission, including ones added later", resource.name)
                        }),
                        grant,
                    })
                    .collect(),
            })
            .collect();
        let api = catalog.api();
        let mut choices: Vec<Choice> = api
            .global_wildcards
            .iter()
            .chain(&api.superscopes)
            .map(|name| {
                let note = catalog.guidance().grant_notes.get(name);
                let text = note
                    .and_then(|n| n.description.clone())
                    .unwrap_or_else(|| "Every permission, including ones added later.".to_owned());
                let advice = note
                    .and_then(|n| n.advice.clone())
                    .unwrap_or_else(|| "Only for administrative tools.".to_owned());
                Choice {
                    grant: name.clone(),
                    id: String::new(),
                    description: format!("{text} {advice}"),
                }
            })
            .collect();
        choices.extend(catalog.bundles().iter().map(|bundle| {
            let covers: Vec<&str> = catalog.bundle_scopes(bundle).collect();
            Choice {
                grant: bundle.name.clone(),
                id: String::new(),
                description: match &bundle.description {
                    Some(d) => format!("{d} ({})", covers.join(", ")),
                    None => covers.join(", "),
                },
            }
        }));
        for (i, choice) in choices.iter_mut().enumerate() {
            choice.id = format!("choice-{i}");
        }
        Matrix {
            columns,
            wildcard_columns: api.resource_wildcards.clone(),
            rows,
            choices,
        }
    }

    /// Whether `grant` is one the matrix offers.
    pub fn offers(&self, grant: &str) -> bool {
        self.choices.iter().any(|c| c.grant == grant)
            || self.rows.iter().any(|row| {
                row.cells.iter().flatten().any(|c| c.grant == grant) || row.wildcards.iter().any(|c| c.grant == grant)
            })
    }
}

/// The grants ticked in a form.
#[derive(Default)]
pub struct Selection(pub Vec<String>);

impl Selection {
    pub fn has(&self, grant: &str) -> bool {
        self.0.iter().any(|g| g == grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_toml(
            "t.toml",
            r#"
[api]
name = "T"
key_prefix = "t"
resource_wildcards = ["*"]
global_wildcards = ["*"]
[resources.contacts]
description = "People"
actions = { read = "Read contacts", write = "Change contacts" }
[resources.analytics]
actions = { read = "Read analytics", write = { description = "Rare", grantable = false } }
[bundles.read_all]
description = "Read everything"
scopes = ["*:read"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn a_box_only_where_the_action_is_grantable() {
        let m = Matrix::of(&catalog());
        assert_eq!(m.columns, ["read", "write"]);
        let analytics = m.rows.iter().find(|r| r.resource == "analytics").unwrap();
        assert!(analytics.cells[0].is_some() && analytics.cells[1].is_none());
        assert_eq!(analytics.wildcards[0].grant, "analytics:*");
        assert!(m.offers("contacts:write") && m.offers("read_all") && m.offers("*"));
        assert!(!m.offers("analytics:write"));
        let bundle = m.choices.iter().find(|c| c.grant == "read_all").unwrap();
        assert_eq!(bundle.description, "Read everything (contacts:read, analytics:read)");
    }
}
