//! The scope engine's integration tests: one binary, a module per concern.

// Test helpers may fail loudly: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod decisions;
mod exports;
mod look_alikes;
mod properties;
mod seeds;
mod validation;

use keyward_scopes::Catalog;

/// A catalog that must be valid.
pub fn catalog(source: &str) -> Catalog {
    match Catalog::from_toml("test.toml", source) {
        Ok(c) => c,
        Err(e) => panic!("catalog should be valid:\n{e}"),
    }
}

/// The `file:line:col: message` lines of a catalog that must be invalid.
pub fn errors(source: &str) -> Vec<String> {
    match Catalog::from_toml("test.toml", source) {
        Ok(_) => panic!("catalog should be invalid:\n{source}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

pub fn seed(name: &str) -> Catalog {
    let path = format!("{}/../../examples/catalogs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    Catalog::from_toml(&path, &source).unwrap()
}

pub const API: &str = "[api]\nname = \"Test\"\nkey_prefix = \"tt\"\n";
