//! `keyward catalog diff OLD NEW`: the report of [`crate::catalog::diff`],
//! as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use keyward_scopes::Catalog;
use serde_json::json;

use super::context::{open_store, runtime, StoreArgs};
use super::{load_catalog, EXIT_BAD_INPUT};
use crate::catalog::diff::{declarations, key_impact, AccountEffect, Change, Declarations, KeyImpact, StoredKey};
use crate::catalog::LiveCatalog;
use crate::keys::{AccountScope, Cursor, KeyRecord, Limit, StatusFilter};
use crate::services::Services;
use crate::store::Pooler;

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The catalog served now.
    old: PathBuf,
    /// The catalog about to replace it.
    new: PathBuf,
    /// Print one JSON object (`changed`, `catalog` by section, `keys`).
    #[arg(long)]
    json: bool,
    /// Check the keys of this PostgreSQL store.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Check the keys of the embedded SQLite database in this directory.
    #[arg(long, conflicts_with = "database_url")]
    data_dir: Option<PathBuf>,
    /// What stands in front of PostgreSQL (`none`, `transaction`).
    #[arg(long, env = "KEYWARD_DATABASE_POOLER", value_enum, default_value_t = Pooler::None)]
    database_pooler: Pooler,
}

/// Exit status when something changes.
const CHANGED: u8 = 1;

pub fn run(args: DiffArgs) -> ExitCode {
    let loaded = load_catalog(&args.old).and_then(|old| Ok((old, load_catalog(&args.new)?)));
    let (old, new) = match loaded {
        Ok(both) => both,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(dir) = &args.data_dir {
        // A mistyped directory would be an empty store: "no key affected".
        if !dir.join(crate::store::SQLITE_FILE).is_file() {
            eprintln!(
                "error: no keyward database in {} ({} not found)",
                dir.display(),
                crate::store::SQLITE_FILE
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    let store = match (&args.database_url, &args.data_dir) {
        (None, None) => None,
        (url, dir) => Some(StoreArgs {
            data_dir: dir.clone().unwrap_or_default(),
            database_url: url.clone(),
            database_pooler: args.database_pooler,
        }),
    };
    let impact = match &store {
        None => None,
        Some(store) => match active_keys(store, &new).map(|keys| {
            let stored: Vec<StoredKey<'_>> = keys
                .iter()
                .map(|k| StoredKey {
                    account: &k.account,
                    grants: &k.scopes,
                    environment: &k.environment,
                    start: &k.start,
                })
                .collect();
            key_impact(&old, &new, &stored)
        }) {
            Ok(impact) => Some(impact),
            Err(e) => {
                eprintln!("error: cannot read the keys: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
    };
    let declared = declarations(&old, &new);
    let changed = !declared.is_empty() || impact.as_ref().is_some_and(|i| !i.is_empty());
    if args.json {
        println!("{}", json!({ "changed": changed, "catalog": declared, "keys": impact }));
    } else {
        print_text(&args, &declared, impact.as_ref());
    }
    if changed {
        ExitCode::from(CHANGED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every active key of the store, a page at a time.
fn active_keys(store: &StoreArgs, catalog: &Catalog) -> Result<Vec<KeyRecord>, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let opened = open_store(store).await?;
        let services = Services::for_cli(&opened, LiveCatalog::fixed(catalog.clone()));
        let limit = Limit::new(crate::keys::paging::LIMIT_MAX).map_err(|e| e.to_string())?;
        let mut keys = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = services
                .keys
                .list(&AccountScope::operator(), None, StatusFilter::Active, limit, cursor)
                .await
                .map_err(|e| e.to_string())?;
            keys.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        opened.close().await;
        Ok(keys)
    })
}

fn print_text(args: &DiffArgs, declared: &Declarations, impact: Option<&KeyImpact>) {
    println!("{} -> {}", args.old.display(), args.new.display());
    if declared.is_empty() {
        println!("catalog: no change (comments and layout aside)");
    }
    for (section, changes) in declared.sections() {
        if changes.is_empty() {
            continue;
        }
        println!("{section}:");
        for change in changes {
            println!("  {} {}{}", change.kind(), change.name, shown(change));
        }
    }
    match impact {
        None => println!("keys: not checked (give --database-url or --data-dir)"),
        Some(impact) => {
            println!("keys: {} active checked", impact.checked);
            for (what, effects) in [
                ("gain access", &impact.gain),
                ("lose access", &impact.lose),
                ("hold grants that become stale", &impact.stale),
            ] {
                if effects.is_empty() {
                    continue;
                }
                let keys: usize = effects.iter().map(|e| e.keys).sum();
                println!("  {keys} key(s) in {} account(s) {what}:", effects.len());
                for AccountEffect { account, keys, scopes } in effects {
                    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                    println!("    {account}: {keys} key(s): {}", scopes.join(", "));
                }
            }
            if !impact.unusable.is_empty() {
                let keys: usize = impact.unusable.iter().map(|e| e.keys).sum();
                println!(
                    "  {keys} key(s) in {} account(s) become unusable (MALFORMED):",
                    impact.unusable.len()
                );
                for e in &impact.unusable {
                    let reasons: Vec<&str> = e.reasons.iter().map(String::as_str).collect();
                    println!("    {}: {} key(s): {}", e.account, e.keys, reasons.join("; "));
                }
            }
            if impact.is_empty() {
                println!("  no key gains or loses anything");
            }
        }
    }
}

/// What changed, briefly: an addition's description (or value), or each
/// differing field's old -> new.
fn shown(change: &Change) -> String {
    use serde_json::Value;
    let brief = |v: &Value| match v {
        Value::Bool(true) => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        other => other.to_string(),
    };
    match (&change.old, &change.new) {
        (None, Some(new)) if !brief(new).is_empty() => format!("  {}", brief(new)),
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
            fields.sort();
            fields.dedup();
            let differing: Vec<String> = fields
                .into_iter()
                .filter(|f| old.get(*f) != new.get(*f))
                .map(|f| {
                    let side = |v: Option<&Value>| v.map_or_else(|| "(none)".to_owned(), Value::to_string);
                    format!("{f}: {} -> {}", side(old.get(f)), side(new.get(f)))
                })
                .collect();
            format!("  {}", differing.join("; "))
        }
        (Some(old), Some(new)) => format!("  {old} -> {new}"),
        _ => String::new(),
    }
}
