use indexmap::IndexMap;
use serde::Serialize;

use crate::catalog::{Catalog, PathCase, TrailingSlash, UnknownRoutes};

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
}

#[derive(Debug, Serialize)]
pub struct ResourceDocument<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
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
}

#[derive(Debug, Serialize)]
pub struct BundleDocument<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub members: &'a [String],
    /// What the bundle grants in this catalog, implications included.
    pub scopes: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct RouteDocument<'a> {
    pub methods: Vec<&'static str>,
    pub path: &'a str,
    pub scopes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
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
            },
            resources: self
                .resources()
                .iter()
                .map(|r| ResourceDocument {
                    name: &r.name,
                    description: r.description.as_deref(),
                    actions: r
                        .actions
                        .iter()
                        .map(|a| ActionDocument {
                            name: &a.name,
                            scope: self.scope_name(a.scope),
                            description: &a.description,
                            grantable: a.grantable,
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
                })
                .collect(),
            scopes: self.scopes().iter().map(|s| s.name.as_str()).collect(),
            grantable: self.grantable_names(),
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
