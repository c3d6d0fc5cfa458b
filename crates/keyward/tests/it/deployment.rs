//! The deployment examples are real: the systemd unit passes
//! `systemd-analyze verify` (with its `ExecStart` pointed at the binary
//! under test), with no warning.

#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let unit: std::path::PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "examples",
        "systemd",
        "keyward.service",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/keyward serve"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("keyward.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/keyward", env!("CARGO_BIN_EXE_keyward")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("this test needs systemd-analyze (apt install systemd): run .ci/install-test-tools");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.trim().is_empty(), "systemd-analyze warns: {said}");
}
