//! The decision: may a key with these grants make this request?
//!
//! `decide` and `decide_route` do no I/O and no allocation for paths without
//! percent-encoding: a route lookup in the prebuilt matcher and one subset
//! test of the route's required set against the key's effective set. The
//! names (`required`, `missing`) are produced only when asked for.

use crate::bitset::{ScopeId, ScopeSet};
use crate::catalog::{Catalog, PathCase, Route, UnknownRoutes};
use crate::grant::{Grants, Requirement};
use crate::path::{self, PathRejection};
use crate::route::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    InsufficientScope,
    UnknownRoute,
}

impl Outcome {
    /// The `code` of a verification (docs/KEYS.md).
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Allowed => "VALID",
            Outcome::InsufficientScope => "INSUFFICIENT_SCOPE",
            Outcome::UnknownRoute => "UNKNOWN_ROUTE",
        }
    }
}

/// Why a request matched no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    /// The method is not one a route can list.
    UnknownMethod,
    /// The path is confusing; it matches nothing, whatever the catalog says.
    Rejected(PathRejection),
    /// Nothing in the catalog matches.
    NoMatch,
    /// The query string asks for another method (`_method`, read as the
    /// API's framework reads it: [`crate::query`]) and the catalog does not
    /// allow method overrides.
    MethodOverride,
    /// The query string asks for two different methods.
    ConflictingOverrides,
}

#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    outcome: Outcome,
    catalog: &'a Catalog,
    required: &'a ScopeSet,
    effective: &'a ScopeSet,
    route: Option<&'a Route>,
    no_route: Option<NoRoute>,
}

impl<'a> Decision<'a> {
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The catalog that decided, to name scopes by id.
    pub fn catalog(&self) -> &'a Catalog {
        self.catalog
    }

    /// The matched route, for route decisions.
    pub fn route(&self) -> Option<&'a Route> {
        self.route
    }

    /// Why no route matched, for `UNKNOWN_ROUTE` (or an allowed unknown
    /// route under `unknown_routes = "allow"`).
    pub fn no_route(&self) -> Option<NoRoute> {
        self.no_route
    }

    pub fn required_ids(&self) -> impl Iterator<Item = ScopeId> + 'a {
        self.required.iter()
    }

    /// Required scopes not covered, in catalog order.
    pub fn missing_ids(&self) -> impl Iterator<Item = ScopeId> + 'a {
        self.required.difference(self.effective)
    }

    pub fn required(&self) -> Vec<&'a str> {
        let catalog = self.catalog;
        self.required_ids().map(|id| catalog.scope_name(id)).collect()
    }

    pub fn missing(&self) -> Vec<&'a str> {
        let catalog = self.catalog;
        self.missing_ids().map(|id| catalog.scope_name(id)).collect()
    }

    /// Why the request is refused, as a 403 body's `detail` says it
    /// (docs/API.md); `None` when it is allowed.
    pub fn detail(&self) -> Option<String> {
        match (self.outcome, self.no_route) {
            (Outcome::Allowed, _) => None,
            (_, Some(NoRoute::Rejected(why))) => Some(format!("no route: {why}")),
            (_, Some(NoRoute::UnknownMethod)) => Some("no route: unknown method".to_owned()),
            (_, Some(NoRoute::MethodOverride)) => {
                Some("method override (`_method` in the query string) is not allowed".to_owned())
            }
            (_, Some(NoRoute::ConflictingOverrides)) => {
                Some("method overrides disagree (`_method` parameters in the query string)".to_owned())
            }
            (Outcome::UnknownRoute, _) => Some("no route matches this method and path".to_owned()),
            (Outcome::InsufficientScope, _) => Some(format!("Missing required scopes: {}", self.missing().join(", "))),
        }
    }
}

impl Catalog {
    /// The effective set of grants compiled against another catalog is
    /// treated as empty: fail closed.
    fn effective<'a>(&'a self, grants: &'a Grants) -> &'a ScopeSet {
        if grants.catalog == self.id {
            &grants.effective
        } else {
            &self.nothing
        }
    }

    /// Whether `grants` cover the one scope `id` (from
    /// [`Catalog::scope_id`] or [`Catalog::requirement_id`], looked up
    /// once): a bit test, no lookup, no allocation.
    #[inline]
    pub fn allows(&self, grants: &Grants, id: ScopeId) -> bool {
        self.effective(grants).contains(id)
    }

    /// May a key holding `grants` do something that needs `required`? A
    /// requirement can be built once ([`Catalog::requirement`]) and asked
    /// about for every key.
    pub fn decide<'a>(&'a self, grants: &'a Grants, required: &'a Requirement) -> Decision<'a> {
        self.covered(&required.scopes, self.effective(grants), None)
    }

    /// The one way a decision with a requirement is made: allowed iff the
    /// required set is within the effective one.
    fn covered<'a>(
        &'a self,
        required: &'a ScopeSet,
        effective: &'a ScopeSet,
        route: Option<&'a Route>,
    ) -> Decision<'a> {
        let outcome = if required.is_subset_of(effective) {
            Outcome::Allowed
        } else {
            Outcome::InsufficientScope
        };
        Decision {
            outcome,
            catalog: self,
            required,
            effective,
            route,
            no_route: None,
        }
    }

    /// A request that matched no route: nothing is required, and it is
    /// allowed only where the catalog allows unknown routes and the path
    /// itself was not refused.
    fn unknown_route<'a>(&'a self, effective: &'a ScopeSet, why: NoRoute) -> Decision<'a> {
        let allow = self.api().unknown_routes == UnknownRoutes::Allow && why == NoRoute::NoMatch;
        Decision {
            no_route: Some(why),
            outcome: if allow { Outcome::Allowed } else { Outcome::UnknownRoute },
            ..self.covered(&self.nothing, effective, None)
        }
    }

    /// May a key holding `grants` make this request? `path` is the request
    /// target as sent (percent-encoded, query string allowed).
    ///
    /// A `_method` override in the query string ([`crate::query`]) is
    /// refused unless the catalog sets `method_override`; with it, the
    /// request must be allowed both as sent and as overridden (frameworks
    /// differ on which methods they let a parameter override), and the
    /// decision is the first refusal or the overridden one.
    pub fn decide_route<'a>(&'a self, grants: &'a Grants, method: &str, path: &str) -> Decision<'a> {
        match crate::query::method_override(path) {
            Ok(None) => self.decide_route_as(grants, method, path),
            Ok(Some(overriding)) if self.api().method_override => {
                let sent = self.decide_route_as(grants, method, path);
                if sent.allowed() {
                    self.decide_route_as(grants, &overriding, path)
                } else {
                    sent
                }
            }
            Ok(Some(_)) => self.unknown_route(self.effective(grants), NoRoute::MethodOverride),
            Err(_) => self.unknown_route(self.effective(grants), NoRoute::ConflictingOverrides),
        }
    }

    /// The decision for `method` itself, the query string ignored.
    fn decide_route_as<'a>(&'a self, grants: &'a Grants, method: &str, path: &str) -> Decision<'a> {
        let effective = self.effective(grants);
        let found = Method::parse(method).ok_or(NoRoute::UnknownMethod).and_then(|method| {
            let normalized = path::normalize(path).map_err(NoRoute::Rejected)?;
            let matching = self.api().path_matching;
            if matching.case == PathCase::Insensitive && path::has_case_confusable(&normalized) {
                return Err(NoRoute::Rejected(PathRejection::CaseConfusable));
            }
            let matched = if matching == crate::catalog::PathMatching::STRICT {
                normalized
            } else {
                matching.fold(normalized)
            };
            self.router.find(method, &matched).ok_or(NoRoute::NoMatch)
        });
        match found.map(|id| self.route(id)) {
            Ok(Some(route)) => self.covered(&route.required, effective, Some(route)),
            Ok(None) => self.unknown_route(effective, NoRoute::NoMatch),
            Err(why) => self.unknown_route(effective, why),
        }
    }
}
