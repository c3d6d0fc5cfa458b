//! What the docs say beyond the rules (`[grants.*]`, `[[recipes]]`,
//! `[[examples]]`): checked like the rest, so a recipe never names a grant
//! the catalog lacks and an example's answer is the engine's own.

use crate::path::normalize;
use crate::raw::{Names, RawCatalog};
use crate::route::Method;

use super::builder::Builder;
use super::{Catalog, Example, GrantNote, Guidance, Recipe};

impl Builder<'_, '_> {
    pub(super) fn guidance(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
        let mut guidance = Guidance::default();
        for (name, note) in &raw.grants {
            let n = name.get_ref();
            let api = catalog.api();
            if !api.global_wildcards.contains(n) && !api.superscopes.contains(n) {
                self.error(
                    name.span(),
                    format!("[grants.\"{n}\"]: `{n}` is not a global wildcard or superscope of this catalog (notes on other grants go in their own descriptions)"),
                );
                continue;
            }
            guidance.grant_notes.insert(
                n.clone(),
                GrantNote {
                    description: note.description.clone(),
                    advice: note.advice.clone(),
                },
            );
        }
        for recipe in &raw.recipes {
            let r = recipe.get_ref();
            let grants = self.grants_of(catalog, &r.grants, &format!("recipe `{}`", r.name));
            guidance.recipes.push(Recipe {
                name: r.name.clone(),
                grants,
                note: r.note.clone(),
            });
        }
        for example in &raw.examples {
            let e = example.get_ref();
            let grants = self.grants_of(catalog, &e.grants, "example");
            let method = e.method.get_ref();
            if Method::parse(method).is_none() {
                self.error(e.method.span(), format!("example: `{method}` is not an HTTP method"));
            }
            if let Err(why) = normalize(e.path.get_ref()) {
                self.error(
                    e.path.span(),
                    format!("example: path `{}`: {}", e.path.get_ref(), why.describe()),
                );
            }
            guidance.examples.push(Example {
                description: e.description.clone(),
                grants,
                method: method.clone(),
                path: e.path.get_ref().clone(),
            });
        }
        catalog.guidance = guidance;
    }

    /// Grants as a key would hold them: each one defined and grantable.
    fn grants_of(&mut self, catalog: &Catalog, grants: &Names, context: &str) -> Vec<String> {
        let names: Vec<String> = grants.get_ref().iter().map(|g| g.get_ref().clone()).collect();
        if let Err(errors) = catalog.check_grants(&names) {
            for e in errors {
                self.error(grants.span(), format!("{context}: {e}"));
            }
        }
        names
    }
}
