//! Catalog exports for clients and docs: `keyward catalog export`.
//!
//! - JSON: the catalog as data (also what `GET /v1/catalog` serves).
//! - TypeScript: the scope enum for clients (seed 003's `integrations.ts`).
//! - Markdown: a docs page with the seeds' "Available Scopes" tables.
//! - OpenAPI: the API's routes with the scopes each requires.

mod json;
mod markdown;
mod openapi;
mod typescript;

pub use json::{to_json, CatalogDocument};
pub use markdown::to_markdown;
pub use openapi::to_openapi;
pub use typescript::to_typescript;
