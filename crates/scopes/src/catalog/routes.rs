//! Routes: each method and path template with the scopes it requires,
//! checked for duplicates after the catalog's path folding, in the
//! segment trie.

use std::borrow::Cow;

use crate::bitset::ScopeSet;
use crate::raw::RawCatalog;
use crate::route::{Method, RouteId, Router, Template};
use crate::suggest::{closest, hint};

use super::builder::Builder;
use super::{Catalog, PathMatching, Route};

impl Builder<'_, '_> {
    pub(super) fn routes(&mut self, raw: &RawCatalog, catalog: &mut Catalog) {
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
                illustrative: r.illustrative,
                line,
                required,
            });
        }
        router.finish();
        catalog.routes = routes;
        catalog.router = router;
    }
}
