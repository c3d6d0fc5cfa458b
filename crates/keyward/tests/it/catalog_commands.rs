//! `keyward catalog validate`, `keyward catalog export` and `keyward catalog diff`.

use super::{example, keyward, stderr, stdout, temp_catalog};

#[test]
fn every_example_catalog_validates() {
    for name in ["surveys", "coldsend", "voice-agents", "atender"] {
        let out = keyward(&["catalog", "validate", &example(name)]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains(": ok: "));
    }
}

#[test]
fn validate_prints_file_line_col_for_every_problem_and_fails() {
    let (_dir, path) = temp_catalog(
        "[api]\nname = \"x\"\nkey_prefix = \"kwm\"\n[resources.contacts]\nactions.read = \"r\"\n[bundles.b]\nscopes = [\"contacts:raed\"]\n",
    );
    let out = keyward(&["catalog", "validate", &path]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!("{path}:3:14: key_prefix `kwm` is reserved for keyward's management keys")
    );
    assert_eq!(
        lines[1],
        format!("{path}:7:11: bundle `b`: unknown scope `contacts:raed` (did you mean `contacts:read`?)")
    );
}

#[test]
fn validate_rejects_files_that_are_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[api]\nname = \"caf\xe9\"\n").unwrap();
    let out = keyward(&["catalog", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not UTF-8"));
}

#[test]
fn validate_takes_several_files_and_answers_json_for_ci() {
    let (_bad_dir, bad) = temp_catalog("[api]\nname = \"x\"\nkey_prefix = \"kwm\"\n");
    let good = example("coldsend");
    let out = keyward(&["catalog", "validate", &good, &bad, "/nonexistent/k.toml"]);
    assert_eq!(out.status.code(), Some(1), "one bad file fails the whole run");
    assert!(
        stdout(&out).contains(&format!("{good}: ok: 3 resources")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("{bad}:3:14: key_prefix `kwm`")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("/nonexistent/k.toml: cannot read the catalog"));
    let out = keyward(&["catalog", "validate", "--json", &good, &bad, "/nonexistent/k.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(reports[0]["file"], good);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["scopes"], 12);
    assert_eq!(reports[0]["errors"], serde_json::json!([]));
    assert_eq!(reports[1]["valid"], false);
    let reserved = reports[1]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("reserved"))
        .unwrap();
    assert_eq!(
        (reserved["line"].as_u64(), reserved["column"].as_u64()),
        (Some(3), Some(14))
    );
    assert_eq!(reports[2]["errors"][0]["line"], serde_json::Value::Null);
    let all_good = keyward(&["catalog", "validate", "--json", &good, &example("atender")]);
    assert_eq!(all_good.status.code(), Some(0));
    let missing = keyward(&["catalog", "validate"]);
    assert_eq!(missing.status.code(), Some(2), "no file is a usage error");
}

#[test]
fn export_json_typescript_and_markdown() {
    let atender = example("atender");
    let json = keyward(&["catalog", "export", &atender, "--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["api"]["name"], "Atender");
    assert_eq!(v["scopes"].as_array().unwrap().len(), 40);

    let ts = keyward(&["catalog", "export", &atender, "--format", "typescript"]);
    assert_eq!(ts.status.code(), Some(0));
    assert!(stdout(&ts).contains("export type Scope = (typeof SCOPES)[number];"));

    let md = keyward(&["catalog", "export", &atender, "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0));
    assert!(stdout(&md).contains(
        "### Knowledge Base\n\nUsed by doc-as-code pipelines and partner systems syncing content.\n\n| Scope | Description |"
    ));

    let openapi = keyward(&["catalog", "export", &atender, "--format", "openapi"]);
    assert_eq!(openapi.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&openapi.stdout).unwrap();
    assert_eq!(
        v["paths"]["/api/v1/kb"]["post"]["security"][0]["apiKey"],
        serde_json::json!(["knowledge:write"])
    );

    let bad = keyward(&["catalog", "export", &atender, "--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn openapi_exports_are_valid_openapi() {
    for name in ["surveys", "coldsend", "voice-agents", "atender"] {
        let out = keyward(&["catalog", "export", &example(name), "--format", "openapi"]);
        assert_eq!(out.status.code(), Some(0));
        crate::tools::assert_valid_openapi(&out.stdout);
    }
}

#[test]
fn the_typescript_export_type_checks_with_tsc() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["surveys", "coldsend", "voice-agents", "atender"] {
        let out = keyward(&["catalog", "export", &example(name), "--format", "typescript"]);
        std::fs::write(dir.path().join(format!("{}.ts", name.replace('-', "_"))), &out.stdout).unwrap();
    }
    // A client using the types: a wrong scope must not type-check.
    std::fs::write(
        dir.path().join("client.ts"),
        "import { Grant, Scope, BUNDLE_SCOPES } from './atender';\n\
         import { Grant as SurveyGrant } from './surveys';\n\
         const ok: Grant[] = ['basic', 'knowledge:write', 'analytics:write'];\n\
         const w: SurveyGrant[] = ['contacts:*', 'admin'];\n\
         const s: Scope = 'analytics:write';\n\
         const b: readonly Scope[] = BUNDLE_SCOPES.basic;\n\
         export { ok, w, s, b };\n",
    )
    .unwrap();
    // Read-only analytics on the voice-agent platform.
    std::fs::write(
        dir.path().join("wrong.ts"),
        "import { Grant } from './voice_agents';\nexport const g: Grant = 'analytics:write';\n",
    )
    .unwrap();
    let check = |files: &[&str]| {
        std::process::Command::new(crate::tools::tsc())
            .args(["--strict", "--noEmit", "--target", "es2020", "--module", "es2020"])
            .args(files)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let ok = check(&[
        "surveys.ts",
        "coldsend.ts",
        "voice_agents.ts",
        "atender.ts",
        "client.ts",
    ]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    let wrong = check(&["wrong.ts"]);
    assert!(!wrong.status.success(), "a non-grantable scope must not be a Grant");
    assert!(stdout(&wrong).contains("analytics:write"), "{}", stdout(&wrong));
}

/// docs/CONFIGURATION.md lists every flag `keyward serve` takes, with its
/// environment variable.
#[test]
fn the_configuration_docs_list_every_serve_setting() {
    let help = crate::stdout(&crate::keyward(&["serve", "--help"]));
    let docs_path: std::path::PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "docs", "CONFIGURATION.md"]
        .iter()
        .collect();
    let docs = std::fs::read_to_string(docs_path).unwrap();
    let mut checked = 0;
    for line in help.lines().map(str::trim) {
        if let Some(flag) = line.strip_prefix("--").and_then(|rest| rest.split([' ', '=']).next()) {
            if flag == "help" {
                continue;
            }
            assert!(
                docs.contains(&format!("`--{flag}`")),
                "docs/CONFIGURATION.md misses --{flag}"
            );
            let env = format!("KEYWARD_{}", flag.replace('-', "_").to_uppercase());
            assert!(docs.contains(&format!("`{env}`")), "docs/CONFIGURATION.md misses {env}");
            checked += 1;
        }
    }
    assert!(checked >= 17, "only {checked} flags found in serve --help:\n{help}");
}

/// docs/openapi.json is the HTTP API's reference for readers of the
/// repository: the document `keyward serve` answers at `/openapi.json` for
/// the demo catalog and default settings. This test fails when it is out of
/// date; `KEYWARD_BLESS=1` rewrites it.
#[test]
fn the_published_openapi_document_is_up_to_date() {
    let catalog = keyward_scopes::Catalog::from_toml("demo", keyward::cli::context::DEMO_CATALOG).unwrap();
    let config = keyward::config::ServerConfig::layered(
        keyward::config::ServerTable::default(),
        keyward::config::ServerFlags::default(),
    )
    .unwrap();
    let document: serde_json::Value =
        serde_json::from_str(&keyward::http::openapi::document(&catalog, &config)).unwrap();
    let rendered = serde_json::to_string_pretty(&document).unwrap() + "\n";
    let path: std::path::PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "docs", "openapi.json"]
        .iter()
        .collect();
    if std::env::var_os("KEYWARD_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == rendered,
        "docs/openapi.json is out of date: run `KEYWARD_BLESS=1 cargo test -p keyward --test it the_published_openapi` and commit it"
    );
}

/// Every error example of docs/CATALOG.md is the error `keyward catalog
/// validate` reports for it.
#[test]
fn the_catalog_docs_show_the_errors_keyward_reports() {
    let path: std::path::PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "docs", "CATALOG.md"]
        .iter()
        .collect();
    let docs = std::fs::read_to_string(path).unwrap();
    let block = |text: &str, fence: &str| -> Option<String> {
        let start = text.find(fence)? + fence.len();
        let end = start + text[start..].find("\n```")?;
        Some(text[start..end].trim_start_matches('\n').to_owned())
    };
    let mut checked = 0;
    for example in docs.split("<!-- catalog-error -->").skip(1) {
        let toml = block(example, "```toml").expect("a toml block after the marker");
        let expected = block(example, "```text").expect("a text block after the toml");
        let (_dir, file) = crate::temp_catalog(&toml);
        let out = crate::keyward(&["catalog", "validate", &file]);
        let said = crate::stderr(&out);
        assert!(!out.status.success(), "accepted:\n{toml}");
        assert!(
            said.contains(expected.trim()),
            "expected `{}`, got: {said}",
            expected.trim()
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} examples");
}

/// ColdSend changed three ways: a `widgets` resource added, `leads:delete`
/// and its route removed, a description reworded.
fn coldsend_changed() -> String {
    let original = std::fs::read_to_string(example("coldsend")).unwrap();
    let mut changed = original.replace(
        "[resources.campaigns]",
        "[resources.widgets]\ndescription = \"Widgets\"\nactions.read = \"View widgets\"\n\n[resources.campaigns]",
    );
    changed = changed.replace("actions.delete = \"Remove leads from campaigns (PENDING only)\"\n", "");
    changed = changed.replace("Modify campaign configuration", "Change campaign settings");
    let route = changed
        .find("path = \"/api/public/v1/campaigns/{id}/leads/{lead_id}\"")
        .unwrap();
    let start = changed[..route].rfind("[[routes]]").unwrap();
    let end = route + changed[route..].find("[[routes]]").unwrap_or(changed.len() - route);
    assert!(changed[start..end].contains("DELETE"), "{}", &changed[start..end]);
    changed.replace_range(start..end, "");
    changed
}

async fn a_catalog_diff_counts_the_keys_it_affects_per_account(t: &crate::support::TestStore) {
    use keyward::keys::{AccountScope, KeyId, NewKey};
    let service = t.service("coldsend");
    let catalog = service.catalog();
    for (account, scopes) in [
        ("acme", &["*"][..]),
        ("acme", &["leads:delete", "campaigns:read"][..]),
        ("beta", &["leads:all"][..]),
        ("gamma", &["campaigns:read"][..]),
    ] {
        let new = NewKey::parse(account, "k", scopes, &catalog).unwrap();
        service.create(new, "test", &AccountScope::operator()).await.unwrap();
    }
    // A revoked key is not affected by anything.
    let new = NewKey::parse("revoked", "k", &["leads:delete"], &catalog).unwrap();
    let (record, _) = service.create(new, "test", &AccountScope::operator()).await.unwrap();
    service
        .revoke(
            &KeyId::parse(&record.id).unwrap(),
            None,
            "test",
            &AccountScope::operator(),
        )
        .await
        .unwrap();

    let (_dir, changed) = temp_catalog(&coldsend_changed());
    let mut args = vec!["catalog", "diff", "--json"];
    let old = example("coldsend");
    args.extend([old.as_str(), changed.as_str()]);
    let store_args = t.cli_args();
    args.extend(store_args.iter().map(String::as_str));
    let out = keyward(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], true);
    let names = |section: &str| -> Vec<(String, String)> {
        report["catalog"][section]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let kind = match (c.get("old").is_some(), c.get("new").is_some()) {
                    (false, true) => "+",
                    (true, false) => "-",
                    _ => "~",
                };
                (kind.to_owned(), c["name"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let pair = |k: &str, n: &str| (k.to_owned(), n.to_owned());
    assert_eq!(
        names("scopes"),
        [
            pair("~", "campaigns:update"),
            pair("-", "leads:delete"),
            pair("+", "widgets:read")
        ]
    );
    assert_eq!(
        names("routes"),
        [pair("-", "DELETE /api/public/v1/campaigns/{id}/leads/{lead_id}")]
    );
    assert_eq!(names("resources"), [pair("+", "widgets")]);
    assert_eq!(
        names("grantable"),
        [
            pair("-", "leads:delete"),
            pair("+", "widgets:all"),
            pair("+", "widgets:read")
        ]
    );
    assert_eq!(names("api"), []);
    let keys = &report["keys"];
    assert_eq!(keys["checked"], 4, "the revoked key is not checked");
    assert_eq!(
        keys["gain"],
        serde_json::json!([{"account": "acme", "keys": 1, "scopes": ["widgets:read"]}]),
        "`*` reaches the new scope"
    );
    assert_eq!(
        keys["lose"],
        serde_json::json!([
            {"account": "acme", "keys": 2, "scopes": ["leads:delete"]},
            {"account": "beta", "keys": 1, "scopes": ["leads:delete"]},
        ]),
        "through `*`, a plain grant and `leads:all`"
    );
    assert_eq!(
        keys["stale"],
        serde_json::json!([{"account": "acme", "keys": 1, "scopes": ["leads:delete"]}])
    );

    // The text form says the same.
    let text_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let out = keyward(&text_args);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for line in [
        "  + widgets:read  View widgets",
        "  - leads:delete",
        "  ~ campaigns:update  description: \"Modify campaign configuration\" -> \"Change campaign settings\"",
        "keys: 4 active checked",
        "  1 key(s) in 1 account(s) gain access:",
        "    acme: 1 key(s): widgets:read",
        "  3 key(s) in 2 account(s) lose access:",
        "    beta: 1 key(s): leads:delete",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }

    // Dropping an environment makes its keys unusable; renaming a route
    // parameter changes the route, it does not replace it.
    let created = keyward(
        &[
            "keys",
            "create",
            "--account",
            "delta",
            "--name",
            "t",
            "--scope",
            "campaigns:read",
            "--environment",
            "test",
        ]
        .into_iter()
        .chain(store_args.iter().map(String::as_str))
        .collect::<Vec<_>>(),
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let original = std::fs::read_to_string(&old).unwrap();
    let (_dir3, live_only) = temp_catalog(
        &original
            .replace("environments = [\"live\", \"test\"]", "environments = [\"live\"]")
            .replace("/api/public/v1/leads/{id}", "/api/public/v1/leads/{lead_id}"),
    );
    let mut args = vec!["catalog", "diff", "--json", old.as_str(), live_only.as_str()];
    args.extend(store_args.iter().map(String::as_str));
    let out = keyward(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["keys"]["unusable"],
        serde_json::json!([{"account": "delta", "keys": 1, "reasons": ["environment `test` is gone"]}])
    );
    let routes: Vec<&str> = report["catalog"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        routes,
        ["GET /api/public/v1/leads/{lead_id}"],
        "one route changed: {report}"
    );

    // The same catalog, rewritten without a change of meaning: exit 0.
    let (_dir2, reworded) = temp_catalog(&format!("# a comment\n\n{original}\n\n# another\n"));
    let mut args = vec!["catalog", "diff", old.as_str(), reworded.as_str()];
    args.extend(store_args.iter().map(String::as_str));
    let out = keyward(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no key gains or loses anything"));

    // A mistyped directory is not an empty store.
    let out = keyward(&[
        "catalog",
        "diff",
        old.as_str(),
        old.as_str(),
        "--data-dir",
        "/nonexistent/keyward",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no keyward database"), "{}", stderr(&out));
}

crate::support::on_both_stores!(a_catalog_diff_counts_the_keys_it_affects_per_account);

#[test]
fn a_catalog_diff_of_a_bad_catalog_exits_2_and_says_where() {
    let (_dir, bad) = temp_catalog("[api]\nname = 3\n");
    let out = keyward(&["catalog", "diff", &example("coldsend"), &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("{bad}:2:")), "{}", stderr(&out));
    // Without a store, the catalog alone.
    let (_dir, changed) = temp_catalog(&coldsend_changed());
    let out = keyward(&["catalog", "diff", &example("coldsend"), &changed]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("keys: not checked"), "{}", stdout(&out));
}

/// A command whose reader goes away (`| head`) ends quietly, without a
/// panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        // Larger than a pipe's buffer (64 KiB): the write must meet the closed end.
        .args(["catalog", "export", "--format", "openapi", &example("atender")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let mut said = String::new();
    child.stderr.take().unwrap().read_to_string(&mut said).unwrap();
    child.wait().unwrap();
    assert!(!said.contains("panicked"), "{said}");
}
