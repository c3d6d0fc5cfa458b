//! docs/CLI.md is the `--help` of every command, generated: this test
//! fails when the binary and the page disagree (`KEYWARD_BLESS=1`
//! rewrites it).

use std::process::Command;

/// The help of `keyward <path>`, with no `KEYWARD_*` variable set (their
/// values would show).
fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(path)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{path:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn document(path: Vec<String>, out: &mut String) {
    let text = help(&path);
    let title = std::iter::once("keyward".to_owned())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>();
    let level = if path.len() <= 1 { "##" } else { "###" };
    out.push_str(&format!("{level} `{}`\n\n```text\n{}```\n\n", title.join(" "), text));
    for sub in subcommands(&text) {
        let mut next = path.clone();
        next.push(sub);
        document(next, out);
    }
}

#[test]
fn the_command_line_reference_is_up_to_date() {
    let mut page = String::from(
        "# Command-line reference\n\n\
         Every command's `--help`, generated from the binary by\n\
         `crates/keyward/tests/it/cli_reference.rs` (which fails when this page is\n\
         out of date). Every flag that has a `KEYWARD_*` variable takes it too;\n\
         `serve`'s settings also come from the catalog file's `[server]` table\n\
         (docs/CONFIGURATION.md). Exit codes: 0 success, 1 failure (or, for\n\
         `check`, denied; for `catalog diff`, changed), 2 bad input.\n\n",
    );
    document(Vec::new(), &mut page);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CLI.md");
    if std::env::var_os("KEYWARD_BLESS").is_some() {
        std::fs::write(path, &page).unwrap();
    }
    let published = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        published == page,
        "docs/CLI.md is out of date: run `KEYWARD_BLESS=1 cargo test -p keyward --test it the_command_line_reference` and commit it"
    );
}
