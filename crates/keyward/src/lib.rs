//! keyward: the service around the scope engine (`keyward-scopes`).
//!
//! - `keys/`: the key format and lifecycle (never stores a plaintext);
//! - `store/`: SQLite and PostgreSQL behind one interface;
//! - `cli/`: the `keyward` command line.

pub mod cli;
pub mod keys;
pub mod store;
pub mod time;
