//! `/openapi.json` is the truth (the contract issue): schemathesis, from
//! PyPI, runs every operation of the real server's own document with every
//! check (status codes, content types, response schemas, negative and
//! positive data, auth, stateful links from a created key to reading,
//! changing, rotating and revoking it), on SQLite and on PostgreSQL, and
//! finds nothing. The exceptions are in `contract/schemathesis.toml`.
//! `KEYWARD_SCHEMATHESIS_EXAMPLES` sets the examples per operation.

use crate::server::{Options, Server};
use crate::support::{on_both_stores, TestStore};
use crate::tools;

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/contract/schemathesis.toml");

async fn schemathesis_finds_nothing(t: &TestStore) {
    let s = Server::start(t, Options::default()).await;
    let examples = std::env::var("KEYWARD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "50".to_owned());
    let work = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("python3");
    command
        .current_dir(work.path())
        .env("PYTHONPATH", tools::schemathesis())
        .env("HYPOTHESIS_STORAGE_DIRECTORY", tools::state_dir("hypothesis"))
        .env("KEYWARD_MANAGEMENT_KEY", &s.management_key)
        .args(["-m", "schemathesis.cli", "--config-file", CONFIG, "run"])
        .arg(format!("{}/openapi.json", s.url))
        .args(["--max-examples", &examples, "--seed", "20261123", "--no-color"]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("No operations"),
        "schemathesis tested nothing:\n{stdout}"
    );
    drop(s);
}

on_both_stores!(schemathesis_finds_nothing);
