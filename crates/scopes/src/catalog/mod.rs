//! A validated catalog: the scopes, wildcards, bundles, implications and
//! routes of one API (docs/CATALOG.md).
//!
//! A `Catalog` that exists is valid. Building one checks every rule and
//! precomputes what decisions need, so that a decision never allocates:
//! each scope's implication closure, each grantable name's expansion, and
//! the route matcher.

use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use indexmap::IndexMap;

use crate::bitset::{ScopeId, ScopeSet};
use crate::error::{CatalogError, CatalogErrors, Diagnostics};
use crate::raw::RawCatalog;
use crate::route::{Method, RouteId, Router};

mod api;
mod builder;
mod bundles;
mod guidance;
mod routes;

use builder::Builder;

/// What to do with a request whose method and path match no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRoutes {
    Deny,
    Allow,
}

/// How the API behind keyward compares path letters (docs/CATALOG.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathCase {
    Sensitive,
    /// ASCII letters only.
    Insensitive,
}

/// Whether the API behind keyward treats `/x/` and `/x` as one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrailingSlash {
    Strict,
    Ignore,
}

/// How paths are matched: the way the API's own router matches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathMatching {
    pub case: PathCase,
    pub trailing_slash: TrailingSlash,
}

impl PathMatching {
    pub const STRICT: PathMatching = PathMatching {
        case: PathCase::Sensitive,
        trailing_slash: TrailingSlash::Strict,
    };

    /// The form a (normalized) path or a template's path is matched in:
    /// ASCII lower case if case does not matter, without a trailing slash
    /// (other than the root's) if that does not matter. Borrowed unless it
    /// changes.
    pub fn fold<'p>(self, path: Cow<'p, str>) -> Cow<'p, str> {
        let path = match self.trailing_slash {
            TrailingSlash::Ignore if path.len() > 1 && path.ends_with('/') => match path {
                Cow::Borrowed(p) => Cow::Borrowed(&p[..p.len() - 1]),
                Cow::Owned(mut p) => {
                    p.pop();
                    Cow::Owned(p)
                }
            },
            _ => path,
        };
        match self.case {
            PathCase::Insensitive if path.bytes().any(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(path.to_ascii_lowercase())
            }
            _ => path,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    pub name: String,
    pub description: Option<String>,
    pub key_prefix: String,
    /// The first is the default.
    pub environments: Vec<String>,
    pub resource_wildcards: Vec<String>,
    pub global_wildcards: Vec<String>,
    pub superscopes: Vec<String>,
    pub unknown_routes: UnknownRoutes,
    pub path_matching: PathMatching,
    pub method_override: bool,
    /// How the docs tell clients to send keys (keyward accepts both).
    pub key_header: Option<KeyHeader>,
    /// Best practices the docs list.
    pub advice: Vec<String>,
}

/// The header an API's clients send keys in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `X-API-Key: <key>`.
    ApiKey,
    /// `Authorization: Bearer <key>`.
    Bearer,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    /// The docs' heading, if not the description.
    pub title: Option<String>,
    pub description: Option<String>,
    /// The docs' text for the resource's wildcard rows.
    pub wildcard_description: Option<String>,
    /// The actions' descriptions are an example, not the product's words.
    pub illustrative: bool,
    pub actions: Vec<Action>,
    /// The resource's own `implies` table, replacing the catalog-wide one.
    pub implies: Option<IndexMap<String, Vec<String>>>,
    /// Every grantable action of the resource: what `resource:*` grants.
    all_actions: ScopeSet,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub description: String,
    pub grantable: bool,
    /// A caution the docs show with the scope (it stays grantable).
    pub advice: Option<String>,
    pub scope: ScopeId,
}

#[derive(Debug, Clone)]
pub struct Scope {
    /// `resource:action`.
    pub name: String,
    pub resource: usize,
    pub action: usize,
    /// This scope and everything it implies, grantable only (empty if the
    /// scope itself is not grantable).
    closure: ScopeSet,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub name: String,
    pub description: Option<String>,
    /// As written: scopes, resource wildcards and selectors.
    pub members: Vec<String>,
    /// The members are an example, not the product's.
    pub illustrative: bool,
    /// The members' scopes before implications.
    pub(crate) direct: ScopeSet,
    expansion: ScopeSet,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub methods: Vec<Method>,
    pub path: String,
    pub scopes: Vec<ScopeId>,
    pub description: Option<String>,
    /// An example of the API's shape, not the product's documentation.
    pub illustrative: bool,
    /// Line of the route in the catalog file, for explanations.
    pub line: usize,
    pub(crate) required: ScopeSet,
}

/// What the docs say beyond the rules: notes on full-access grants, the
/// minimum grants per use case, example requests. None of it changes a
/// decision.
#[derive(Debug, Clone, Default)]
pub struct Guidance {
    /// Global wildcards and superscopes, by name.
    pub grant_notes: IndexMap<String, GrantNote>,
    pub recipes: Vec<Recipe>,
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Default)]
pub struct GrantNote {
    pub description: Option<String>,
    pub advice: Option<String>,
}

/// The minimum grants for a use case.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: String,
    pub grants: Vec<String>,
    pub note: Option<String>,
}

/// A request the docs show with keyward's answer to it.
#[derive(Debug, Clone)]
pub struct Example {
    pub description: Option<String>,
    pub grants: Vec<String>,
    pub method: String,
    pub path: String,
}

/// What a grantable name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantTarget {
    GlobalWildcard,
    Superscope,
    ResourceWildcard(usize),
    Scope(ScopeId),
    Bundle(usize),
}

static NEXT_CATALOG_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) id: u64,
    api: Api,
    resources: Vec<Resource>,
    scopes: Vec<Scope>,
    /// Fx, not SipHash: the keys are the catalog's own names, fixed at
    /// load, so a request's strings cannot make the map grow or collide
    /// more; a lookup is a few nanoseconds on the hot path.
    scope_ids: FxHashMap<String, ScopeId>,
    pub(crate) grant_targets: FxHashMap<String, GrantTarget>,
    bundles: Vec<Bundle>,
    implies: IndexMap<String, Vec<String>>,
    routes: Vec<Route>,
    guidance: Guidance,
    pub(crate) router: Router,
    pub(crate) everything: ScopeSet,
    pub(crate) nothing: ScopeSet,
    warnings: Vec<CatalogError>,
}

impl Catalog {
    /// Parses and validates a catalog. `file` names it in error messages.
    pub fn from_toml(file: &str, source: &str) -> Result<Catalog, CatalogErrors> {
        let mut diag = Diagnostics::new(source);
        let raw: RawCatalog = match toml::from_str(source) {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                let message = match message.join("; ") {
                    m if m.is_empty() => "invalid TOML here (a stray carriage return or control character?)".to_owned(),
                    m => m,
                };
                diag.error(span, message);
                return Err(diag.into_errors(file));
            }
        };
        let mut catalog = Builder {
            diag: &mut diag,
            source,
        }
        .build(raw);
        if diag.is_empty() {
            catalog.warnings = diag.into_warnings();
            Ok(catalog)
        } else {
            Err(diag.into_errors(file))
        }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    /// What is valid but probably not meant (each with its position), to
    /// show when the catalog is loaded or validated.
    pub fn warnings(&self) -> &[CatalogError] {
        &self.warnings
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Every concrete scope, in catalog order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    pub fn scope_id(&self, name: &str) -> Option<ScopeId> {
        self.scope_ids.get(name).copied()
    }

    pub fn scope_name(&self, id: ScopeId) -> &str {
        self.scopes.get(id as usize).map_or("", |s| s.name.as_str())
    }

    pub fn is_grantable_scope(&self, id: ScopeId) -> bool {
        self.everything.contains(id)
    }

    pub fn bundles(&self) -> &[Bundle] {
        &self.bundles
    }

    /// The catalog-wide implication table.
    pub fn implies(&self) -> &IndexMap<String, Vec<String>> {
        &self.implies
    }

    /// Notes, recipes and examples for the docs.
    pub fn guidance(&self) -> &Guidance {
        &self.guidance
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn route(&self, id: RouteId) -> Option<&Route> {
        self.routes.get(id as usize)
    }

    pub(crate) fn closure(&self, id: ScopeId) -> &ScopeSet {
        self.scopes.get(id as usize).map_or(&self.nothing, |s| &s.closure)
    }

    /// A set with every implication applied.
    pub(crate) fn close(&self, set: &ScopeSet) -> ScopeSet {
        let mut closed = set.clone();
        for id in set.iter() {
            closed.union_with(self.closure(id));
        }
        closed
    }

    pub(crate) fn scope_names(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| s.name.as_str())
    }

    /// Every name a key can be granted: global wildcards, superscopes,
    /// bundles, then per resource its wildcards and grantable scopes.
    pub fn grantable_names(&self) -> Vec<String> {
        let api = &self.api;
        let mut names: Vec<String> = api.global_wildcards.iter().chain(&api.superscopes).cloned().collect();
        names.extend(self.bundles.iter().map(|b| b.name.clone()));
        for resource in &self.resources {
            names.extend(self.resource_wildcard_names(resource).map(|(_, full)| full));
            names.extend(
                resource
                    .actions
                    .iter()
                    .filter(|a| a.grantable)
                    .map(|a| self.scope_name(a.scope).to_owned()),
            );
        }
        names
    }

    /// `(suffix, "resource:suffix")` for each wildcard suffix.
    pub fn resource_wildcard_names<'a>(
        &'a self,
        resource: &'a Resource,
    ) -> impl Iterator<Item = (&'a str, String)> + 'a {
        self.api
            .resource_wildcards
            .iter()
            .map(move |w| (w.as_str(), format!("{}:{}", resource.name, w)))
    }

    /// What a grantable name expands to (implications included).
    pub(crate) fn expansion(&self, target: GrantTarget) -> &ScopeSet {
        match target {
            GrantTarget::GlobalWildcard | GrantTarget::Superscope => &self.everything,
            GrantTarget::ResourceWildcard(r) => self.resources.get(r).map_or(&self.nothing, |r| &r.all_actions),
            GrantTarget::Scope(id) => self.closure(id),
            GrantTarget::Bundle(b) => self.bundles.get(b).map_or(&self.nothing, |b| &b.expansion),
        }
    }

    /// The scopes a bundle stands for in this catalog, in catalog order.
    pub fn bundle_scopes<'a>(&'a self, bundle: &'a Bundle) -> impl Iterator<Item = &'a str> + 'a {
        bundle.expansion.iter().map(|id| self.scope_name(id))
    }
}
