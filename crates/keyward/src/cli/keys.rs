//! `keyward keys create|list|show|revoke|rotate|audit`: the lifecycle from a
//! terminal, directly on the database. A new key is printed alone on
//! stdout (or, with `--json`, the record with it).

use clap::Subcommand;
use serde_json::json;

use super::context::{bad_input, cli_actor, finish, runtime, service, table, CatalogArgs, Failure, StoreArgs};
use crate::keys::{KeyRecord, KeySecret, KeyService, NewKey, RotateOptions, StatusFilter};
use crate::time::{parse_duration, Millis};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it alone on stdout (shown this once).
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// A grant: scope, wildcard, superscope or bundle. Repeat or separate with commas.
        #[arg(long = "scope", required = true, num_args = 1.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// `30d`, `12h`... from now, or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        environment: Option<String>,
        /// A JSON object kept with the key (at most 4 KiB).
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys, newest first.
    List {
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value = "active")]
        status: String,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One key (never its secret).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: permanent.
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace a key; prints the new key alone on stdout.
    Rotate {
        id: String,
        /// How long the old key keeps working (`1h`, `7d`); default: it stops at once.
        #[arg(long)]
        grace: Option<String>,
        /// The new key's expiry; default: the old key's.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Usage of a key: 24 h / 7 d / 30 d, scopes used, least-privilege
    /// suggestion (counts flushed by servers; a server's last second may be
    /// missing).
    Usage {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The audit trail, newest first.
    Audit {
        #[arg(long)]
        account: Option<String>,
        #[arg(long = "key")]
        key_id: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: KeysCommand, store: StoreArgs, catalog: CatalogArgs) -> std::process::ExitCode {
    finish(runtime().map_err(Failure::from).and_then(|rt| {
        rt.block_on(async {
            let svc = service(&store, &catalog).await?;
            let result = execute(&svc, command).await;
            svc.store().close().await;
            result
        })
    }))
}

/// `30d` from now or an RFC 3339 time.
pub fn parse_expiry(field: &str, value: &str) -> Result<Millis, Failure> {
    if let Some(seconds) = parse_duration(value) {
        return Ok(Millis::now().plus_seconds(seconds));
    }
    Millis::parse_rfc3339(value).ok_or_else(|| {
        bad_input(format!(
            "{field}: `{value}` is neither a duration (30d, 12h) nor an RFC 3339 time"
        ))
    })
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_new_key(svc: &KeyService, record: &KeyRecord, secret: &KeySecret, as_json: bool) {
    if as_json {
        let mut v = svc.view(record);
        v["key"] = json!(secret.reveal());
        print_json(&v);
    } else {
        println!("{}", secret.reveal());
    }
}

fn show(svc: &KeyService, k: &KeyRecord) -> String {
    let when = |m: Option<Millis>| m.map_or_else(|| "-".to_owned(), Millis::to_rfc3339);
    let stale = svc.stale_scopes(k);
    let mut rows = vec![
        ("id", k.id.clone()),
        ("name", k.name.clone()),
        ("account", k.account.clone()),
        ("status", k.status(Millis::now()).as_str().to_owned()),
        ("environment", k.environment.clone()),
        ("scopes", k.scopes.join(", ")),
        ("start", k.start.clone()),
        ("created", format!("{} by {}", k.created_at.to_rfc3339(), k.created_by)),
        ("expires", when(k.expires_at)),
        ("last used", when(k.last_used_at)),
    ];
    if !stale.is_empty() {
        rows.push((
            "stale scopes",
            format!("{} (not in the loaded catalog: they grant nothing)", stale.join(", ")),
        ));
    }
    if let Some(at) = k.revoked_at {
        let by = k.revoked_by.as_deref().unwrap_or("?");
        let reason = k.revoke_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        rows.push(("revoked", format!("{} by {by}{reason}", at.to_rfc3339())));
    }
    if let Some(to) = &k.rotated_to {
        rows.push(("rotated to", to.clone()));
    }
    rows.iter()
        .map(|(label, value)| format!("{label:<13} {value}\n"))
        .collect()
}

async fn execute(svc: &KeyService, command: KeysCommand) -> Result<(), Failure> {
    let actor = cli_actor();
    match command {
        KeysCommand::Create {
            account,
            name,
            scopes,
            expires,
            environment,
            metadata,
            json,
        } => {
            let metadata = metadata
                .map(|m| serde_json::from_str(&m).map_err(|e| bad_input(format!("metadata: `{m}` is not JSON: {e}"))))
                .transpose()?;
            let expires_at = expires.map(|e| parse_expiry("expires", &e)).transpose()?;
            let new = NewKey {
                account,
                name,
                scopes,
                expires_at,
                environment,
                metadata,
            };
            let (record, secret) = svc.create(new, &actor).await?;
            print_new_key(svc, &record, &secret, json);
        }
        KeysCommand::List {
            account,
            status,
            limit,
            cursor,
            json,
        } => {
            let status: StatusFilter = status.parse().map_err(bad_input)?;
            let page = svc.list(account.as_deref(), status, limit, cursor.as_deref()).await?;
            if json {
                let items: Vec<_> = page.items.iter().map(|k| svc.view(k)).collect();
                print_json(&json!({ "items": items, "next_cursor": page.next_cursor }));
            } else {
                let now = Millis::now();
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.name.clone(),
                            k.account.clone(),
                            k.status(now).as_str().to_owned(),
                            k.scopes.join(","),
                            k.start.clone(),
                            k.created_at.to_rfc3339(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["ID", "NAME", "ACCOUNT", "STATUS", "SCOPES", "START", "CREATED"],
                        &rows
                    )
                );
                if let Some(c) = page.next_cursor {
                    println!("more: --cursor {c}");
                }
            }
        }
        KeysCommand::Show { id, json } => {
            let k = svc.get(&id, None).await?;
            if json {
                print_json(&svc.view(&k));
            } else {
                print!("{}", show(svc, &k));
            }
        }
        KeysCommand::Revoke { id, reason, json } => {
            let k = svc.revoke(&id, reason.as_deref(), &actor, None).await?;
            if json {
                print_json(&svc.view(&k));
            } else {
                print!("{}", show(svc, &k));
            }
        }
        KeysCommand::Rotate {
            id,
            grace,
            expires,
            json,
        } => {
            let grace_period = grace
                .map(|g| {
                    parse_duration(&g).ok_or_else(|| bad_input(format!("grace: `{g}` is not a duration (30m, 1h, 7d)")))
                })
                .transpose()?;
            let expires_at = expires.map(|e| parse_expiry("expires", &e)).transpose()?;
            let (_, new, secret) = svc
                .rotate(
                    &id,
                    RotateOptions {
                        grace_period,
                        expires_at,
                    },
                    &actor,
                    None,
                )
                .await?;
            print_new_key(svc, &new, &secret, json);
        }
        KeysCommand::Usage { id, json } => {
            let key = svc.get(&id, None).await?;
            let recorder = crate::usage::Recorder::new(false);
            let usage = crate::usage::usage(&recorder, svc.store(), svc.catalog(), &key, Millis::now())
                .await
                .map_err(|e| Failure::from(crate::keys::KeyError::from(e)))?;
            if json {
                print_json(&serde_json::to_value(&usage).unwrap_or_default());
            } else {
                let rows: Vec<Vec<String>> = usage
                    .windows
                    .iter()
                    .map(|(label, w)| vec![(*label).to_owned(), w.allowed.to_string(), w.denied.to_string()])
                    .collect();
                print!("{}", table(&["WINDOW", "ALLOWED", "DENIED"], &rows));
                let used: Vec<String> = usage.scopes_used.iter().map(|(s, n)| format!("{s} ({n})")).collect();
                println!(
                    "scopes used:      {}",
                    if used.is_empty() {
                        "-".to_owned()
                    } else {
                        used.join(", ")
                    }
                );
                println!("unused grants:    {}", usage.unused_scopes.join(", "));
                println!("least privilege:  {}", usage.suggested_scopes.join(", "));
            }
        }
        KeysCommand::Audit {
            account,
            key_id,
            limit,
            json,
        } => {
            let page = svc.audit(account.as_deref(), key_id.as_deref(), limit, None).await?;
            if json {
                print_json(&serde_json::to_value(&page).unwrap_or_default());
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.at.to_rfc3339(),
                            e.action.clone(),
                            e.actor.clone(),
                            e.account.clone().unwrap_or_default(),
                            e.key_id.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["AT", "ACTION", "ACTOR", "ACCOUNT", "KEY"], &rows));
            }
        }
    }
    Ok(())
}
