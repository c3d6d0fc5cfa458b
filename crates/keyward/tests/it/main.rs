//! keyward's integration tests: one binary, a module per concern. They run
//! the real `keyward` executable.

// Test helpers may fail loudly: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catalog_commands;
mod check;
mod cli_reference;
mod contract;
mod deployment;
mod hostile;
mod http_api;
mod keys_commands;
mod layering;
mod lifecycle;
mod nodes;
mod pages;
mod parsers;
mod pgbouncer;
mod proxies;
mod race;
mod reload;
mod seed_facts;
mod server;
mod service_calls;
mod slow_clients;
mod support;
mod tools;
mod usage_retention;

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward")
}

pub fn example(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "examples",
        "catalogs",
        &format!("{name}.toml"),
    ]
    .iter()
    .collect();
    path.to_string_lossy().into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A catalog file in a fresh temporary directory (kept alive by the guard).
pub fn temp_catalog(contents: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, contents).unwrap();
    (dir, path.to_string_lossy().into_owned())
}
