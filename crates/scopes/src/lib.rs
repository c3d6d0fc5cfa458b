//! keyward's scope engine: the catalog of an API's scopes, the validation
//! of grants and requirements against it, route matching, and the compiled
//! decision "may this key do this request?".
//!
//! Pure: no I/O, no async, no clock. It never sees a key, only grants.
//! Load a [`Catalog`] once, compile each key's grants once
//! ([`Catalog::compile_grants`]), then each request is
//! [`Catalog::decide_route`] or [`Catalog::decide`]: a route lookup and a
//! subset test, without allocation.

mod bitset;
mod catalog;
mod decision;
mod error;
pub mod export;
mod grant;
pub mod name;
pub mod path;
pub mod query;
mod raw;
pub mod route;
mod suggest;

pub use bitset::ScopeId;
pub use catalog::{
    Action, Api, Bundle, Catalog, Example, GrantNote, Guidance, KeyHeader, PathCase, PathMatching, Recipe, Resource,
    Route, Scope, TrailingSlash, UnknownRoutes,
};
pub use decision::{Decision, NoRoute, Outcome};
pub use error::{CatalogError, CatalogErrors, GrantError, RequirementError};
pub use grant::{Coverage, Grants, Requirement, Via};
pub use path::PathRejection;
pub use route::Method;
pub use suggest::closest;
