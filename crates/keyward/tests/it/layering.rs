//! What docs/ARCHITECTURE.md's "never" column says, where a test can see
//! it in the source: the HTTP layer never names the store, the verifier,
//! the key service and the store know nothing of HTTP, the scope engine
//! does no I/O and nothing async, and no account limit is an `Option`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect()
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {}", dir.display());
    out
}

/// Whether `word` occurs in `text` as a whole identifier.
fn names(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The files under `part` of the service crate that name any of `words`.
fn offenders(part: &str, words: &[&str]) -> Vec<String> {
    let dir = root().join("crates/keyward/src").join(part);
    sources(&dir)
        .into_iter()
        .flat_map(|(path, text)| {
            words
                .iter()
                .filter(|w| names(&text, w))
                .map(|w| format!("{} names `{w}`", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_http_layer_never_names_the_store() {
    let found = offenders("http", &["Store", "StoreError", "crate::store", "keyward::store"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_verifier_the_key_service_and_the_store_know_nothing_of_http() {
    for part in ["verify", "keys", "store", "usage"] {
        let found = offenders(part, &["axum", "hyper", "HeaderName", "HeaderValue", "StatusCode"]);
        assert!(found.is_empty(), "{found:#?}");
    }
}

#[test]
fn no_account_limit_is_an_option() {
    for part in ["keys", "store", "http", "cli"] {
        let found = offenders(part, &["account_limit"]);
        assert!(found.is_empty(), "{found:#?}");
    }
}

#[test]
fn the_scope_engine_does_no_io_and_nothing_async() {
    let manifest = std::fs::read_to_string(root().join("crates/scopes/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    let dependencies: Vec<&String> = manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().collect())
        .unwrap_or_default();
    let forbidden = [
        "tokio",
        "futures",
        "async-trait",
        "sqlx",
        "hyper",
        "axum",
        "reqwest",
        "mio",
        "moka",
        "tracing",
    ];
    let found: Vec<&&String> = dependencies
        .iter()
        .filter(|d| forbidden.contains(&d.as_str()))
        .collect();
    assert!(found.is_empty(), "the scope engine depends on {found:?}");
    for (path, text) in sources(&root().join("crates/scopes/src")) {
        for io in [
            "std::fs",
            "std::net",
            "std::process",
            "async fn",
            ".await",
            "SystemTime",
            "Instant",
        ] {
            assert!(!text.contains(io), "{} uses `{io}`", path.display());
        }
    }
}

/// The repository explains itself: no tracked file cites a document that
/// lives outside it (the rules the code relies on are in docs/). The
/// names are built from parts so that this file does not hold them.
///
/// Migrations already applied are the one exception: sqlx keeps each
/// applied migration's checksum and refuses to start when its text has
/// changed, so a comment in one can never be edited (0003's header names
/// the old contract's section for the pages: docs/PAGES.md).
#[test]
fn no_tracked_file_cites_a_document_outside_the_repository() {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .expect("this test lists the tracked files with git");
    assert!(
        out.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outside = [["DESIGN", ".md"].concat(), ["..", "/shared/"].concat()];
    let mut citing = Vec::new();
    let files: Vec<&[u8]> = out.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
    assert!(files.len() > 100, "git ls-files listed only {} files", files.len());
    for file in files {
        let file = String::from_utf8_lossy(file).into_owned();
        if file.starts_with("crates/keyward/migrations/") && file.contains("/0003_") {
            continue;
        }
        let Ok(bytes) = std::fs::read(root().join(&file)) else {
            continue; // deleted in the work tree
        };
        let text = String::from_utf8_lossy(&bytes);
        for name in &outside {
            if text.contains(name.as_str()) {
                citing.push(format!("{file} names {name}"));
            }
        }
    }
    assert!(
        citing.is_empty(),
        "files citing documents outside the repository:\n{}",
        citing.join("\n")
    );
}
