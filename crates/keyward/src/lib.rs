//! keyward: the service around the scope engine (`keyward-scopes`).
//!
//! - `keys/`: the key format and lifecycle (never stores a plaintext);
//! - `store/`: SQLite and PostgreSQL behind one interface;
//! - `verify/`: the hot path (cache, decision) and `changes`, which keeps
//!   the cache in step with the store;
//! - `usage/`: usage counting;
//! - `sessions/`: the pages' sessions and portal links;
//! - `http/`: the API (verification, management, operations);
//! - `cli/`: the `keyward` command line.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod http;
pub mod keys;
pub mod readiness;
pub mod services;
pub mod sessions;
pub mod store;
pub mod time;
pub mod usage;
pub mod verify;
