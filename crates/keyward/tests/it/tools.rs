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

/// A package from the npm registry, installed once under
/// `target/test-tools/<dir>`: the `node_modules` directory to put on
/// `NODE_PATH`.
pub fn npm_package(dir: &str, spec: &str) -> std::path::PathBuf {
    let prefix = tools_dir().join(dir);
    let modules = prefix.join("node_modules");
    let name = spec.rsplit_once('@').map_or(spec, |(name, _)| name);
    if !modules.join(name).join("package.json").exists() {
        let status = std::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(spec)
            .status()
            .unwrap_or_else(|e| panic!("this test needs node and npm to install {spec}: {e}"));
        assert!(
            status.success(),
            "npm install {spec} failed: is the npm registry reachable?"
        );
    }
    modules
}

/// A package from PyPI, installed once under `target/test-tools/<dir>`
/// (into a fresh directory then renamed, so parallel tests cannot see half
/// an install). Returns the `PYTHONPATH` to run it with.
fn pypi(dir: &str, requirement: &str) -> std::path::PathBuf {
    let tools = tools_dir();
    let target = tools.join(dir);
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
            .arg(requirement)
            .status()
            .unwrap_or_else(|e| panic!("this test needs python3 with pip to install {requirement}: {e}"));
        assert!(status.success(), "pip install {requirement} failed: is PyPI reachable?");
        let _ = std::fs::rename(staging.keep(), &target); // another test may have won
    }
    target
}

/// `openapi-spec-validator` from PyPI.
pub fn openapi_spec_validator() -> std::path::PathBuf {
    pypi("openapi-spec-validator", "openapi-spec-validator==0.7.2")
}

/// schemathesis from PyPI (run as `python3 -m schemathesis.cli`).
pub fn schemathesis() -> std::path::PathBuf {
    pypi("schemathesis-4.32.5", "schemathesis==4.32.5")
}

/// Where tools keep state between runs (Hypothesis' example database).
pub fn state_dir(name: &str) -> std::path::PathBuf {
    let dir = tools_dir().join("state").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// Checks each of `answers` against the schema `name` of the OpenAPI
/// `document` (with jsonschema_rs, which schemathesis brings), for answers
/// a handler writes pre-rendered rather than from its schema's type.
pub fn assert_answers_match_schema(document: &serde_json::Value, name: &str, answers: &[serde_json::Value]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let schema = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": document["components"],
    });
    std::fs::write(
        &input,
        serde_json::json!({ "schema": schema, "answers": answers }).to_string(),
    )
    .unwrap();
    let script = "import json, sys, jsonschema_rs\n\
        data = json.load(open(sys.argv[1]))\n\
        validator = jsonschema_rs.validator_for(data['schema'])\n\
        bad = [(a, [str(e) for e in validator.iter_errors(a)]) for a in data['answers'] if not validator.is_valid(a)]\n\
        print(json.dumps(bad, indent=1))\n\
        sys.exit(1 if bad else 0)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&input)
        .env("PYTHONPATH", schemathesis())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "answers that do not match the documented `{name}`: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `promtool check metrics` (Debian's prometheus package, installed by
/// .ci/install-test-tools) accepts this exposition.
pub fn assert_promtool_accepts(metrics: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs promtool (apt install prometheus): run .ci/install-test-tools");
    child.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
