//! Tools the tests run that come from a package registry (npm, PyPI),
//! installed once under `target/test-tools` by the first test that needs
//! them.

/// `target/test-tools`.
fn tools_dir() -> std::path::PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "target", "test-tools"]
        .iter()
        .collect()
}

/// `tsc` from the npm registry, installed once under `target/`.
pub fn tsc() -> std::path::PathBuf {
    let prefix = tools_dir().join("typescript");
    let bin = prefix.join("node_modules/.bin/tsc");
    if !bin.exists() {
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("typescript@5")
            .status()
            .expect("this test needs node and npm to install TypeScript (apt install nodejs npm)");
        assert!(
            status.success(),
            "npm install typescript@5 failed: is the npm registry reachable?"
        );
    }
    bin
}

/// `openapi-spec-validator` from PyPI, installed once under `target/`
/// (into a fresh directory then renamed, so parallel tests cannot see half
/// an install). Returns the `PYTHONPATH` to run it with.
pub fn openapi_spec_validator() -> std::path::PathBuf {
    let tools = tools_dir();
    let target = tools.join("openapi-spec-validator");
    if !target.exists() {
        std::fs::create_dir_all(&tools).unwrap();
        let staging = tempfile::tempdir_in(&tools).unwrap();
        let status = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(staging.path())
            .arg("openapi-spec-validator==0.7.2")
            .status()
            .expect("this test needs python3 with pip to install openapi-spec-validator");
        assert!(
            status.success(),
            "pip install openapi-spec-validator failed: is PyPI reachable?"
        );
        let _ = std::fs::rename(staging.keep(), &target); // another test may have won
    }
    target
}

/// Validates an OpenAPI document against the OpenAPI 3 schema.
pub fn assert_valid_openapi(document: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, document).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .env("PYTHONPATH", openapi_spec_validator())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not a valid OpenAPI document: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
