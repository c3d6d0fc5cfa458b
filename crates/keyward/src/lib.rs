//! keyward: the service around the scope engine (`keyward-scopes`).
//!
//! - `cli/`: the `keyward` command line.

pub mod cli;
