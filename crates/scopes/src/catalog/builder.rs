//! Building a catalog from its parsed TOML: every rule of docs/CATALOG.md
//! checked with its span, scopes and implications
//! closed, grantable names expanded. `api.rs`, `bundles.rs` and
//! `routes.rs` build their parts.

use std::collections::HashSet;

use rustc_hash::FxHashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;

use indexmap::IndexMap;
use toml::Spanned;

use crate::bitset::{ScopeId, ScopeSet};
use crate::error::Diagnostics;
use crate::name::{explain_bad_name, is_name};
use crate::raw::{ImpliesTable, Names, RawCatalog};
use crate::route::Router;
use crate::suggest::{closest, hint};

use super::{Action, Catalog, GrantTarget, Resource, Scope, NEXT_CATALOG_ID};

pub(super) struct Builder<'d, 's> {
    pub(super) diag: &'d mut Diagnostics<'s>,
    pub(super) source: &'s str,
}

impl Builder<'_, '_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diag.error(span, message);
    }

    pub(super) fn build(mut self, raw: RawCatalog) -> Catalog {
        let api_span = raw.api.span();
        let api = self.api(raw.api.get_ref());
        let mut resources = Vec::new();
        let mut scopes: Vec<Scope> = Vec::new();
        let mut scope_ids = FxHashMap::default();

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
                    advice: spec.advice.clone(),
                    scope: id,
                });
            }
            resources.push(Resource {
                name: name.get_ref().clone(),
                title: raw_resource.title.clone(),
                description: raw_resource.description.clone(),
                wildcard_description: raw_resource.wildcard_description.clone(),
                illustrative: raw_resource.illustrative,
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
            grant_targets: FxHashMap::default(),
            bundles: Vec::new(),
            implies,
            routes: Vec::new(),
            guidance: super::Guidance::default(),
            router: Router::default(),
            nothing: ScopeSet::empty(count),
            everything,
            warnings: Vec::new(),
        };
        self.grant_names(&raw, &mut catalog);
        self.bundles(&raw, &mut catalog);
        self.routes(&raw, &mut catalog);
        self.guidance(&raw, &mut catalog);
        catalog
    }

    /// Names from an optional list, checked for grammar and duplicates.
    pub(super) fn name_list(
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

    pub(super) fn implies_table(
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
    pub(super) fn grant_names(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
        let api_span = raw.api.span();
        let mut targets: FxHashMap<String, GrantTarget> = FxHashMap::default();
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
}

/// Every action name reachable from `start` through `table` (transitive),
/// not including `start` unless a cycle leads back to it.
pub(super) fn reachable<'a>(table: &'a IndexMap<String, Vec<String>>, start: &'a str) -> Vec<&'a str> {
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
