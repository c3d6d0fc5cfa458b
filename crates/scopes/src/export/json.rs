use indexmap::IndexMap;
use serde::Serialize;

use crate::catalog::{Catalog, KeyHeader, PathCase, TrailingSlash, UnknownRoutes};

/// The catalog as data, for clients and `GET /v1/catalog`.
#[derive(Debug, Serialize)]
pub struct CatalogDocument<'a> {
    pub api: ApiDocument<'a>,
    pub resources: Vec<ResourceDocument<'a>>,
    pub implies: &'a IndexMap<String, Vec<String>>,
    pub bundles: Vec<BundleDocument<'a>>,
    pub routes: Vec<RouteDocument<'a>>,
    /// Every concrete scope, in catalog order.
    pub scopes: Vec<&'a str>,
    /// Every name a key can be granted.
    pub grantable: Vec<String>,
    /// Notes on full-access grants, by name.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub grants: IndexMap<&'a str, GrantNoteDocument<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<RecipeDocument<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ExampleDocument<'a>>,
}

#[derive(Debug, Serialize)]
pub struct GrantNoteDocument<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct RecipeDocument<'a> {
    pub name: &'a str,
    pub grants: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ExampleDocument<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub grants: &'a [String],
    pub method: &'a str,
    pub path: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ApiDocument<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub key_prefix: &'a str,
    pub environments: &'a [String],
    pub resource_wildcards: &'a [String],
    pub global_wildcards: &'a [String],
    pub superscopes: &'a [String],
    pub unknown_routes: UnknownRoutes,
    pub path_case: PathCase,
    pub trailing_slash: TrailingSlash,
    pub method_override: bool,
    /// `X-API-Key` or `Authorization`: how the docs tell clients to send
    /// keys (both are accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_header: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub advice: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct ResourceDocument<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard_description: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub illustrative: bool,
    pub actions: Vec<ActionDocument<'a>>,
    pub wildcards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implies: Option<&'a IndexMap<String, Vec<String>>>,
}

#[derive(Debug, Serialize)]
pub struct ActionDocument<'a> {
    pub name: &'a str,
    pub scope: &'a str,
    pub description: &'a str,
    pub grantable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct BundleDocument<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub members: &'a [String],
    /// What the bundle grants in this catalog, implications included.
    pub scopes: Vec<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub illustrative: bool,
}

#[derive(Debug, Serialize)]
pub struct RouteDocument<'a> {
    pub methods: Vec<&'static str>,
    pub path: &'a str,
    pub scopes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub illustrative: bool,
}

impl Catalog {
    pub fn document(&self) -> CatalogDocument<'_> {
        let api = self.api();
        CatalogDocument {
            api: ApiDocument {
                name: &api.name,
                description: api.description.as_deref(),
                key_prefix: &api.key_prefix,
                environments: &api.environments,
                resource_wildcards: &api.resource_wildcards,
                global_wildcards: &api.global_wildcards,
                superscopes: &api.superscopes,
                unknown_routes: api.unknown_routes,
                path_case: api.path_matching.case,
                trailing_slash: api.path_matching.trailing_slash,
                method_override: api.method_override,
                key_header: api.key_header.map(|h| match h {
                    KeyHeader::ApiKey => "X-API-Key",
                    KeyHeader::Bearer => "Authorization",
                }),
                advice: &api.advice,
            },
            resources: self
                .resources()
                .iter()
                .map(|r| ResourceDocument {
                    name: &r.name,
                    title: r.title.as_deref(),
                    description: r.description.as_deref(),
                    wildcard_description: r.wildcard_description.as_deref(),
                    illustrative: r.illustrative,
                    actions: r
                        .actions
                        .iter()
                        .map(|a| ActionDocument {
                            name: &a.name,
                            scope: self.scope_name(a.scope),
                            description: &a.description,
                            grantable: a.grantable,
                            advice: a.advice.as_deref(),
                        })
                        .collect(),
                    wildcards: self.resource_wildcard_names(r).map(|(_, full)| full).collect(),
                    implies: r.implies.as_ref(),
                })
                .collect(),
            implies: self.implies(),
            bundles: self
                .bundles()
                .iter()
                .map(|b| BundleDocument {
                    name: &b.name,
                    description: b.description.as_deref(),
                    members: &b.members,
                    scopes: self.bundle_scopes(b).collect(),
                    illustrative: b.illustrative,
                })
                .collect(),
            routes: self
                .routes()
                .iter()
                .map(|r| RouteDocument {
                    methods: r.methods.iter().map(|m| m.as_str()).collect(),
                    path: &r.path,
                    scopes: r.scopes.iter().map(|id| self.scope_name(*id)).collect(),
                    description: r.description.as_deref(),
                    illustrative: r.illustrative,
                })
                .collect(),
            scopes: self.scopes().iter().map(|s| s.name.as_str()).collect(),
            grantable: self.grantable_names(),
            grants: self
                .guidance()
                .grant_notes
                .iter()
                .map(|(name, note)| {
                    (
                        name.as_str(),
                        GrantNoteDocument {
                            description: note.description.as_deref(),
                            advice: note.advice.as_deref(),
                        },
                    )
                })
                .collect(),
            recipes: self
                .guidance()
                .recipes
                .iter()
                .map(|r| RecipeDocument {
                    name: &r.name,
                    grants: &r.grants,
                    note: r.note.as_deref(),
                })
                .collect(),
            examples: self
                .guidance()
                .examples
                .iter()
                .map(|e| ExampleDocument {
                    description: e.description.as_deref(),
                    grants: &e.grants,
                    method: &e.method,
                    path: &e.path,
                })
                .collect(),
        }
    }
}

/// Pretty-printed JSON of [`Catalog::document`].
pub fn to_json(catalog: &Catalog) -> String {
    #[expect(
        clippy::expect_used,
        reason = "a document of strings, numbers and maps always serializes"
    )]
    let text =
        serde_json::to_string_pretty(&catalog.document()).expect("a document of strings, numbers and maps serializes");
    text + "\n"
}
