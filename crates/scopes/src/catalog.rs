//! A validated catalog: the scopes, wildcards, bundles, implications and
//! routes of one API (DESIGN.md sections 1, 2 and 8).
//!
//! A `Catalog` that exists is valid. Building one checks every rule and
//! precomputes what decisions need, so that a decision never allocates:
//! each scope's implication closure, each grantable name's expansion, and
//! the route matcher.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use indexmap::IndexMap;
use toml::Spanned;

use crate::bitset::{ScopeId, ScopeSet};
use crate::error::{CatalogError, CatalogErrors, Diagnostics};
use crate::name::{explain_bad_name, is_key_part, is_name, is_wildcard};
use crate::raw::{ImpliesTable, Names, RawApi, RawCatalog};
use crate::route::{Method, RouteId, Router, Template};
use crate::suggest::{closest, hint};

/// What to do with a request whose method and path match no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRoutes {
    Deny,
    Allow,
}

/// How the API behind keyward compares path letters (DESIGN.md section 2).
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
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub description: Option<String>,
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
    /// Line of the route in the catalog file, for explanations.
    pub line: usize,
    pub(crate) required: ScopeSet,
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
    scope_ids: HashMap<String, ScopeId>,
    pub(crate) grant_targets: HashMap<String, GrantTarget>,
    bundles: Vec<Bundle>,
    implies: IndexMap<String, Vec<String>>,
    routes: Vec<Route>,
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

struct Builder<'d, 's> {
    diag: &'d mut Diagnostics<'s>,
    source: &'s str,
}

impl Builder<'_, '_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diag.error(span, message);
    }

    fn build(mut self, raw: RawCatalog) -> Catalog {
        let api_span = raw.api.span();
        let api = self.api(raw.api.get_ref());
        let mut resources = Vec::new();
        let mut scopes: Vec<Scope> = Vec::new();
        let mut scope_ids = HashMap::new();

        if raw.resources.is_empty() {
            self.error(
                api_span.clone(),
                "the catalog defines no resources: add a `[resources.<name>]` table with actions",
            );
        }
        // Pass 1: resources and actions, so later checks know every name.
        for (name, resource) in &raw.resources {
            let span = name.span();
            if !is_name(name.get_ref()) {
                self.error(
                    span.clone(),
                    format!("resource `{}`: {}", name.get_ref(), explain_bad_name(name.get_ref())),
                );
            }
            let r_index = resources.len();
            let raw_resource = resource.get_ref();
            if raw_resource.actions.is_empty() {
                self.error(
                    resource.span(),
                    format!(
                        "resource `{}` has no actions: add `actions.read = \"...\"`",
                        name.get_ref()
                    ),
                );
            }
            let mut actions = Vec::new();
            for (action, spec) in &raw_resource.actions {
                let a = action.get_ref();
                if !is_name(a) {
                    self.error(action.span(), format!("action `{a}`: {}", explain_bad_name(a)));
                }
                if api.resource_wildcards.iter().any(|w| w == a) {
                    self.error(
                        action.span(),
                        format!("action `{a}` of `{}` has the name of a resource wildcard suffix: `{}:{a}` would be ambiguous", name.get_ref(), name.get_ref()),
                    );
                }
                let id = scopes.len() as ScopeId;
                let full = format!("{}:{}", name.get_ref(), a);
                scope_ids.insert(full.clone(), id);
                scopes.push(Scope {
                    name: full,
                    resource: r_index,
                    action: actions.len(),
                    closure: ScopeSet::default(),
                });
                let spec = spec.get_ref();
                actions.push(Action {
                    name: a.clone(),
                    description: spec.description.clone(),
                    grantable: spec.grantable,
                    scope: id,
                });
            }
            resources.push(Resource {
                name: name.get_ref().clone(),
                description: raw_resource.description.clone(),
                actions,
                implies: None,
                all_actions: ScopeSet::default(),
            });
        }
        let count = scopes.len();
        let mut everything = ScopeSet::empty(count);
        for resource in &mut resources {
            let mut all = ScopeSet::empty(count);
            for action in resource.actions.iter().filter(|a| a.grantable) {
                all.insert(action.scope);
                everything.insert(action.scope);
            }
            resource.all_actions = all;
        }

        // Implications.
        let action_names: Vec<String> = {
            let mut seen = HashSet::new();
            resources
                .iter()
                .flat_map(|r| r.actions.iter().map(|a| a.name.clone()))
                .filter(|n| seen.insert(n.clone()))
                .collect()
        };
        let implies = raw
            .implies
            .as_ref()
            .map(|t| self.implies_table(t, &action_names, "[implies]"))
            .unwrap_or_default();
        for ((_, raw_resource), resource) in raw.resources.iter().zip(resources.iter_mut()) {
            if let Some(own) = &raw_resource.get_ref().implies {
                let context = format!("implies of `{}`", resource.name);
                resource.implies = Some(self.implies_table(own, &action_names, &context));
            }
        }
        for resource in &resources {
            let table = resource.implies.as_ref().unwrap_or(&implies);
            for action in &resource.actions {
                let mut closure = ScopeSet::empty(count);
                if action.grantable {
                    for reached in reachable(table, &action.name) {
                        if let Some(target) = resource.actions.iter().find(|a| a.name == reached && a.grantable) {
                            closure.insert(target.scope);
                        }
                    }
                    closure.insert(action.scope);
                }
                scopes[action.scope as usize].closure = closure;
            }
        }

        let mut catalog = Catalog {
            id: NEXT_CATALOG_ID.fetch_add(1, Ordering::Relaxed),
            api,
            resources,
            scopes,
            scope_ids,
            grant_targets: HashMap::new(),
            bundles: Vec::new(),
            implies,
            routes: Vec::new(),
            router: Router::default(),
            nothing: ScopeSet::empty(count),
            everything,
            warnings: Vec::new(),
        };
        self.grant_names(&raw, &mut catalog);
        self.bundles(&raw, &mut catalog);
        self.routes(&raw, &mut catalog);
        catalog
    }

    fn api(&mut self, raw: &RawApi) -> Api {
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            self.error(raw.name.span(), "`api.name` cannot be empty");
        }
        let prefix = raw.key_prefix.get_ref();
        if !is_key_part(prefix) {
            self.error(
                raw.key_prefix.span(),
                format!("key_prefix `{prefix}` must be 1-16 lower-case letters and digits, starting with a letter (no `_`: it separates the parts of a key)"),
            );
        } else if prefix == "kwm" {
            self.error(
                raw.key_prefix.span(),
                "key_prefix `kwm` is reserved for keyward's management keys",
            );
        }
        let environments = self.name_list(
            raw.environments.as_ref(),
            "environments",
            &["live", "test"],
            is_key_part,
            "1-16 lower-case letters and digits, starting with a letter",
        );
        if environments.is_empty() {
            if let Some(list) = &raw.environments {
                self.error(
                    list.span(),
                    "`environments` needs at least one environment; the first is the default",
                );
            }
        }
        let resource_wildcards = self.name_list(
            raw.resource_wildcards.as_ref(),
            "resource_wildcards",
            &["*"],
            is_wildcard,
            "`*` or a lower-case name",
        );
        let global_wildcards = self.name_list(
            raw.global_wildcards.as_ref(),
            "global_wildcards",
            &["*"],
            is_wildcard,
            "`*` or a lower-case name",
        );
        let superscopes = self.name_list(
            raw.superscopes.as_ref(),
            "superscopes",
            &[],
            is_name,
            "a lower-case name",
        );
        use PathCase::{Insensitive, Sensitive};
        use TrailingSlash::{Ignore, Strict};
        let unknown_routes = self.choice(
            raw.unknown_routes.as_ref(),
            "unknown_routes",
            [("deny", UnknownRoutes::Deny), ("allow", UnknownRoutes::Allow)],
        );
        let case = self.choice(
            raw.path_case.as_ref(),
            "path_case",
            [("sensitive", Sensitive), ("insensitive", Insensitive)],
        );
        let trailing_slash = self.choice(
            raw.trailing_slash.as_ref(),
            "trailing_slash",
            [("strict", Strict), ("ignore", Ignore)],
        );
        let path_matching = PathMatching { case, trailing_slash };
        let mut strict = Vec::new();
        if case == PathCase::Sensitive {
            strict.push("`path_case = \"sensitive\"`");
        }
        if trailing_slash == TrailingSlash::Strict {
            strict.push("`trailing_slash = \"strict\"`");
        }
        if unknown_routes == UnknownRoutes::Allow && !strict.is_empty() {
            let span = raw.unknown_routes.as_ref().map_or(0..0, Spanned::span);
            self.diag.warning(
                span,
                format!(
                    "`unknown_routes = \"allow\"` with {}: a path your API matches loosely (other letter case, a trailing slash) but no route here matches reaches your API unchecked; set `path_case`/`trailing_slash` as your API's router matches",
                    strict.join(" and ")
                ),
            );
        }
        Api {
            name,
            description: raw.description.clone(),
            key_prefix: prefix.clone(),
            environments,
            resource_wildcards,
            global_wildcards,
            superscopes,
            unknown_routes,
            path_matching,
            method_override: raw.method_override,
        }
    }

    /// One of two spellings of a setting; the first when absent (or wrong,
    /// which is an error naming both).
    fn choice<T: Copy>(&mut self, value: Option<&Spanned<String>>, field: &str, options: [(&str, T); 2]) -> T {
        let [(first, default), (second, _)] = options;
        let Some(value) = value else { return default };
        match options.iter().find(|(name, _)| *name == value.get_ref().as_str()) {
            Some((_, chosen)) => *chosen,
            None => {
                self.error(
                    value.span(),
                    format!("{field} `{}` must be \"{first}\" or \"{second}\"", value.get_ref()),
                );
                default
            }
        }
    }

    /// Names from an optional list, checked for grammar and duplicates.
    fn name_list(
        &mut self,
        list: Option<&Names>,
        field: &str,
        default: &[&str],
        valid: fn(&str) -> bool,
        grammar: &str,
    ) -> Vec<String> {
        let Some(list) = list else {
            return default.iter().map(|s| (*s).to_owned()).collect();
        };
        let mut names: Vec<String> = Vec::new();
        for item in list.get_ref() {
            let value = item.get_ref();
            if !valid(value) {
                self.error(
                    item.span(),
                    format!("{field}: `{value}` is not valid here: expected {grammar}"),
                );
            } else if names.contains(value) {
                self.error(item.span(), format!("{field}: `{value}` is listed twice"));
            } else {
                names.push(value.clone());
            }
        }
        names
    }

    fn implies_table(
        &mut self,
        table: &ImpliesTable,
        actions: &[String],
        context: &str,
    ) -> IndexMap<String, Vec<String>> {
        let mut out = IndexMap::new();
        let check = |this: &mut Self, name: &Spanned<String>| {
            let n = name.get_ref();
            if actions.iter().any(|a| a == n) {
                return true;
            }
            let suggestion = closest(n, actions.iter().map(String::as_str));
            this.error(
                name.span(),
                format!("{context}: no resource has an action `{n}`{}", hint(suggestion)),
            );
            false
        };
        for (from, targets) in table.get_ref() {
            let mut ok = check(self, from);
            let mut to = Vec::new();
            for target in targets.get_ref() {
                ok &= check(self, target);
                to.push(target.get_ref().clone());
            }
            if ok {
                out.insert(from.get_ref().clone(), to);
            }
        }
        out
    }

    /// Global wildcards, superscopes, bundles and resource wildcards share
    /// one namespace of grants with the concrete scopes.
    fn grant_names(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
        let api_span = raw.api.span();
        let mut targets: HashMap<String, GrantTarget> = HashMap::new();
        let resource_names: HashSet<&str> = catalog.resources.iter().map(|r| r.name.as_str()).collect();
        let mut claim = |this: &mut Self, name: &str, target: GrantTarget, span: Range<usize>, what: &str| {
            if resource_names.contains(name) {
                this.error(
                    span,
                    format!("{what} `{name}` has the name of a resource; pick another name"),
                );
            } else if targets.contains_key(name) {
                this.error(
                    span,
                    format!("{what} `{name}` collides with another wildcard, superscope or bundle of the same name"),
                );
            } else {
                targets.insert(name.to_owned(), target);
            }
        };
        for w in &catalog.api.global_wildcards {
            claim(
                self,
                w,
                GrantTarget::GlobalWildcard,
                api_span.clone(),
                "global wildcard",
            );
        }
        for s in &catalog.api.superscopes {
            claim(self, s, GrantTarget::Superscope, api_span.clone(), "superscope");
        }
        for (i, (name, _)) in raw.bundles.iter().enumerate() {
            if !is_name(name.get_ref()) {
                self.error(
                    name.span(),
                    format!("bundle `{}`: {}", name.get_ref(), explain_bad_name(name.get_ref())),
                );
            }
            claim(self, name.get_ref(), GrantTarget::Bundle(i), name.span(), "bundle");
        }
        for (r, resource) in catalog.resources.iter().enumerate() {
            for w in &catalog.api.resource_wildcards {
                targets.insert(format!("{}:{}", resource.name, w), GrantTarget::ResourceWildcard(r));
            }
            for action in resource.actions.iter().filter(|a| a.grantable) {
                targets.insert(
                    format!("{}:{}", resource.name, action.name),
                    GrantTarget::Scope(action.scope),
                );
            }
        }
        catalog.grant_targets = targets;
    }

    fn bundles(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
        let count = catalog.scope_count();
        let mut bundles = Vec::new();
        for (name, bundle) in &raw.bundles {
            let bundle = bundle.get_ref();
            let mut direct = ScopeSet::empty(count);
            if bundle.scopes.get_ref().is_empty() {
                self.error(
                    bundle.scopes.span(),
                    format!("bundle `{}` has no scopes", name.get_ref()),
                );
            }
            for member in bundle.scopes.get_ref() {
                match self.bundle_member(catalog, name.get_ref(), member) {
                    Some(set) => direct.union_with(&set),
                    None => continue,
                }
            }
            bundles.push(Bundle {
                name: name.get_ref().clone(),
                description: bundle.description.clone(),
                members: bundle.scopes.get_ref().iter().map(|m| m.get_ref().clone()).collect(),
                expansion: catalog.close(&direct),
                direct,
            });
        }
        catalog.bundles = bundles;
    }

    fn bundle_member(&mut self, catalog: &Catalog, bundle: &str, member: &Spanned<String>) -> Option<ScopeSet> {
        let m = member.get_ref();
        let span = member.span();
        let count = catalog.scope_count();
        let Some((resource, action)) = m.split_once(':') else {
            let message = match catalog.grant_targets.get(m.as_str()) {
                Some(GrantTarget::Bundle(_)) => format!("bundle `{bundle}`: `{m}` is a bundle; bundles cannot contain bundles, list its scopes instead"),
                Some(_) => format!("bundle `{bundle}`: `{m}` grants everything; write the selector `*:*` to put every scope in a bundle"),
                None => format!("bundle `{bundle}`: unknown scope `{m}`{}", hint(closest(m, catalog.scope_names()))),
            };
            self.error(span, message);
            return None;
        };
        let is_all = |a: &str| a == "*" || catalog.api.resource_wildcards.iter().any(|w| w == a);
        if resource == "*" {
            if is_all(action) {
                return Some(catalog.everything.clone());
            }
            let mut set = ScopeSet::empty(count);
            let mut exists = false;
            for r in &catalog.resources {
                for a in r.actions.iter().filter(|a| a.name == action) {
                    exists = true;
                    if a.grantable {
                        set.insert(a.scope);
                    }
                }
            }
            if !exists {
                let names: Vec<&str> = catalog
                    .resources
                    .iter()
                    .flat_map(|r| r.actions.iter().map(|a| a.name.as_str()))
                    .collect();
                self.error(
                    span,
                    format!(
                        "bundle `{bundle}`: selector `{m}`: no resource has an action `{action}`{}",
                        hint(closest(action, names))
                    ),
                );
                return None;
            }
            if set.is_empty() {
                self.error(
                    span,
                    format!("bundle `{bundle}`: selector `{m}` selects no grantable scope"),
                );
                return None;
            }
            return Some(set);
        }
        let Some(r) = catalog.resources.iter().position(|r| r.name == resource) else {
            let names = catalog.resources.iter().map(|r| r.name.as_str());
            self.error(
                span,
                format!(
                    "bundle `{bundle}`: unknown resource `{resource}` in `{m}`{}",
                    hint(closest(resource, names))
                ),
            );
            return None;
        };
        if catalog.api.resource_wildcards.iter().any(|w| w == action) {
            return Some(catalog.resources[r].all_actions.clone());
        }
        match catalog.scope_id(m) {
            Some(id) if catalog.is_grantable_scope(id) => {
                let mut set = ScopeSet::empty(count);
                set.insert(id);
                Some(set)
            }
            Some(_) => {
                self.error(
                    span,
                    format!("bundle `{bundle}`: scope `{m}` cannot be granted to a key, so it cannot be in a bundle"),
                );
                None
            }
            None => {
                self.error(
                    span,
                    format!(
                        "bundle `{bundle}`: unknown scope `{m}`{}",
                        hint(closest(m, catalog.scope_names()))
                    ),
                );
                None
            }
        }
    }

    fn routes(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
        let count = catalog.scope_count();
        let mut router = Router::default();
        let mut routes: Vec<Route> = Vec::new();
        for raw_route in &raw.routes {
            let route_span = raw_route.span();
            let r = raw_route.get_ref();
            let mut methods = Vec::new();
            if r.methods.get_ref().is_empty() {
                self.error(r.methods.span(), "a route needs at least one method");
            }
            for m in r.methods.get_ref() {
                match Method::parse(m.get_ref()) {
                    Some(method) if methods.contains(&method) => {
                        self.error(m.span(), format!("method `{method}` is listed twice"))
                    }
                    Some(method) => methods.push(method),
                    None => {
                        let known = Method::ALL.map(Method::as_str);
                        let upper = m.get_ref().to_ascii_uppercase();
                        let suggestion = known
                            .iter()
                            .find(|k| **k == upper)
                            .copied()
                            .or_else(|| closest(&upper, known));
                        self.error(
                            m.span(),
                            format!(
                                "unknown HTTP method `{}`: expected one of {}{}",
                                m.get_ref(),
                                known.join(" "),
                                hint(suggestion)
                            ),
                        );
                    }
                }
            }
            let template = match Template::parse(r.path.get_ref()) {
                Ok(t) => Some(t),
                Err(why) => {
                    self.error(r.path.span(), why);
                    None
                }
            };
            let mut scopes = Vec::new();
            let mut required = ScopeSet::empty(count);
            for s in r.scopes.get_ref() {
                match catalog.requirement_id(s.get_ref()) {
                    Ok(id) => {
                        if !scopes.contains(&id) {
                            scopes.push(id);
                        }
                        required.insert(id);
                    }
                    Err(e) => self.error(s.span(), format!("route {}: {e}", r.path.get_ref())),
                }
            }
            let line = crate::error::line_column(self.source, route_span.start).0;
            let id = routes.len() as RouteId;
            // Inserted as the API's router matches: folded the same way as
            // request paths are.
            let matching = catalog.api.path_matching;
            let folded = template
                .as_ref()
                .and_then(|_| Template::parse(&matching.fold(Cow::Borrowed(r.path.get_ref()))).ok());
            if let Some(template) = &folded {
                if let Err(existing) = router.insert(template, &methods, id) {
                    let other = &routes[existing as usize];
                    self.error(
                        r.path.span(),
                        format!(
                            "duplicate route: `{}` and `{}` (line {}) have the same shape{} and share a method",
                            r.path.get_ref(),
                            other.path,
                            other.line,
                            if matching == PathMatching::STRICT {
                                ""
                            } else {
                                " (as `path_case`/`trailing_slash` match paths)"
                            }
                        ),
                    );
                }
            }
            routes.push(Route {
                methods,
                path: r.path.get_ref().clone(),
                scopes,
                description: r.description.clone(),
                line,
                required,
            });
        }
        router.finish();
        catalog.routes = routes;
        catalog.router = router;
    }
}

/// Every action name reachable from `start` through `table` (transitive),
/// not including `start` unless a cycle leads back to it.
fn reachable<'a>(table: &'a IndexMap<String, Vec<String>>, start: &'a str) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    let mut stack: Vec<&str> = vec![start];
    while let Some(from) = stack.pop() {
        for to in table.get(from).into_iter().flatten() {
            if !seen.contains(&to.as_str()) {
                seen.push(to);
                stack.push(to);
            }
        }
    }
    seen
}
