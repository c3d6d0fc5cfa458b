//! Bundles: named sets of grants (members and selectors), closed under
//! implication.

use toml::Spanned;

use crate::bitset::ScopeSet;
use crate::raw::RawCatalog;
use crate::suggest::{closest, hint};

use super::builder::Builder;
use super::{Bundle, Catalog, GrantTarget};

impl Builder<'_, '_> {
    pub(super) fn bundles(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
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
                illustrative: bundle.illustrative,
                expansion: catalog.close(&direct),
                direct,
            });
        }
        catalog.bundles = bundles;
    }

    pub(super) fn bundle_member(
        &mut self,
        catalog: &Catalog,
        bundle: &str,
        member: &Spanned<String>,
    ) -> Option<ScopeSet> {
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
}
