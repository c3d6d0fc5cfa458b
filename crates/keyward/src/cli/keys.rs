//! `keyward keys create|list|show|revoke|rotate|audit`: the lifecycle from a
//! terminal, directly on the database. A new key is printed alone on
//! stdout (or, with `--json`, the record with it).

use clap::Subcommand;
use serde::Serialize;

use super::context::{bad_input, cli_actor, finish, runtime, services, table, CatalogArgs, Failure, StoreArgs};
use crate::keys::{
    AccountId, AccountScope, Cursor, Grace, KeyId, KeyName, KeyRecord, KeySecret, KeyService, Limit, Metadata, NewKey,
    Page, RevokeReason, RotateOptions, Scopes, StatusFilter,
};
use crate::services::Services;
use crate::time::{parse_duration, Millis};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it alone on stdout (shown this once).
    Create {
        /// The customer the key belongs to: 1-128 of A-Z a-z 0-9 . _ : @ + -, starting with a letter or digit.
        #[arg(long)]
        account: String,
        /// What the key is for, as its owner will recognise it (1-100 characters).
        #[arg(long)]
        name: String,
        /// A grant: scope, wildcard, superscope or bundle. Repeat or separate with commas.
        #[arg(long = "scope", required = true, num_args = 1.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// `30d`, `12h`... from now, or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        /// One of the catalog's environments (default: its first).
        #[arg(long)]
        environment: Option<String>,
        /// A JSON object kept with the key (at most 4 KiB).
        #[arg(long)]
        metadata: Option<String>,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys, newest first.
    List {
        /// Only this account's keys.
        #[arg(long)]
        account: Option<String>,
        /// Which keys: active, expired, revoked or all.
        #[arg(long, default_value = "active", value_parser = ["active", "expired", "revoked", "all"])]
        status: String,
        /// Keys per page, 1-1000 (default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// The page after this cursor (printed under a full page).
        #[arg(long)]
        cursor: Option<String>,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One key (never its secret).
    Show {
        /// The key's id (`key_...`).
        id: String,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: permanent.
    Revoke {
        /// The key's id (`key_...`).
        id: String,
        /// Why, kept in the audit trail (at most 500 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace a key; prints the new key alone on stdout.
    Rotate {
        /// The key's id (`key_...`).
        id: String,
        /// How long the old key keeps working (`1h`, `7d`); default: it stops at once.
        #[arg(long)]
        grace: Option<String>,
        /// The new key's expiry; default: the old key's.
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Usage of a key: 24 h / 7 d / 30 d, scopes used, least-privilege
    /// suggestion (counts flushed by servers: a server's last second, up to
    /// its usage_flush_max_ms under heavy load, may be missing).
    Usage {
        /// The key's id (`key_...`).
        id: String,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail, newest first.
    Audit {
        /// Only this account's events.
        #[arg(long)]
        account: Option<String>,
        /// Only this key's events (`key_...`).
        #[arg(long = "key")]
        key_id: Option<String>,
        /// Events per page, 1-1000 (default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// The page after this cursor (printed under a full page).
        #[arg(long)]
        cursor: Option<String>,
        /// Print JSON (the record, as the API answers) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: KeysCommand, store: StoreArgs, catalog: CatalogArgs) -> std::process::ExitCode {
    finish(runtime().map_err(Failure::from).and_then(|rt| {
        rt.block_on(async {
            let (services, store) = services(&store, &catalog).await?;
            let result = execute(&services, command).await;
            store.close().await;
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

fn print_json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print as JSON: {e}"),
    }
}

fn print_new_key(svc: &KeyService, record: &KeyRecord, secret: &KeySecret, as_json: bool) {
    if as_json {
        let mut v = svc.view(record);
        v.key = Some(secret.reveal().to_owned());
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
        ("status", k.status_label(Millis::now()).to_owned()),
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

fn limit(n: Option<u32>) -> Result<Limit, Failure> {
    Ok(n.map(Limit::new).transpose()?.unwrap_or_default())
}

async fn execute(services: &Services, command: KeysCommand) -> Result<(), Failure> {
    let svc = &services.keys;
    // The command line runs with the database's own credentials: every
    // account.
    let scope = &AccountScope::operator();
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
                account: AccountId::parse(&account)?,
                name: KeyName::parse(&name)?,
                scopes: Scopes::parse(scopes, &svc.catalog())?,
                expires_at,
                environment,
                metadata: Metadata::parse(metadata)?,
            };
            let (record, secret) = svc.create(new, &actor, scope).await?;
            print_new_key(svc, &record, &secret, json);
        }
        KeysCommand::List {
            account,
            status,
            limit: limit_arg,
            cursor,
            json,
        } => {
            let status: StatusFilter = status.parse().map_err(bad_input)?;
            let account = account.as_deref().map(AccountId::parse).transpose()?;
            let cursor = cursor.as_deref().map(Cursor::parse).transpose()?;
            let page = svc
                .list(scope, account.as_ref(), status, limit(limit_arg)?, cursor)
                .await?;
            if json {
                print_json(&Page {
                    items: page.items.iter().map(|k| svc.view(k)).collect(),
                    next_cursor: page.next_cursor,
                });
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
                            k.status_label(now).to_owned(),
                            k.scopes.join(","),
                            k.start.clone(),
                            k.created_at.to_rfc3339(),
                            k.expires_at.map_or_else(|| "-".to_owned(), Millis::to_rfc3339),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["ID", "NAME", "ACCOUNT", "STATUS", "SCOPES", "START", "CREATED", "EXPIRES"],
                        &rows
                    )
                );
                if let Some(c) = page.next_cursor {
                    println!("more: --cursor {c}");
                }
            }
        }
        KeysCommand::Show { id, json } => {
            let k = svc.get(&KeyId::parse(&id)?, scope).await?;
            if json {
                print_json(&svc.view(&k));
            } else {
                print!("{}", show(svc, &k));
            }
        }
        KeysCommand::Revoke { id, reason, json } => {
            let reason = reason.as_deref().map(RevokeReason::parse).transpose()?;
            let id = KeyId::parse(&id)?;
            let before = svc.get(&id, scope).await?;
            let k = svc.revoke(&id, reason, &actor, scope).await?;
            if let (Some(at), false) = (before.revoked_at, json) {
                eprintln!(
                    "already revoked at {} by {}: nothing changed",
                    at.to_rfc3339(),
                    before.revoked_by.as_deref().unwrap_or("?")
                );
            }
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
            let grace = grace.as_deref().map(Grace::parse).transpose()?.unwrap_or_default();
            let expires_at = expires.map(|e| parse_expiry("expires", &e)).transpose()?;
            let (_, new, secret) = svc
                .rotate(&KeyId::parse(&id)?, RotateOptions { grace, expires_at }, &actor, scope)
                .await?;
            print_new_key(svc, &new, &secret, json);
        }
        KeysCommand::Usage { id, json } => {
            let key = svc.get(&KeyId::parse(&id)?, scope).await?;
            let usage = services.usage.of(&key, Millis::now()).await?;
            if json {
                print_json(&usage);
            } else {
                let w = &usage.windows;
                let rows: Vec<Vec<String>> = [("24h", w.last_day), ("7d", w.last_week), ("30d", w.last_month)]
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
                let unused = if usage.unused_scopes.is_empty() {
                    "-".to_owned()
                } else {
                    usage.unused_scopes.join(", ")
                };
                println!("unused grants:    {unused}");
                println!("least privilege:  {}", usage.suggested_scopes.join(", "));
            }
        }
        KeysCommand::Audit {
            account,
            key_id,
            limit: limit_arg,
            cursor,
            json,
        } => {
            let account = account.as_deref().map(AccountId::parse).transpose()?;
            let key_id = key_id.as_deref().map(KeyId::parse).transpose()?;
            let cursor = cursor.as_deref().map(Cursor::parse).transpose()?;
            let page = svc
                .audit(scope, account.as_ref(), key_id.as_ref(), limit(limit_arg)?, cursor)
                .await?;
            if json {
                print_json(&page);
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
                if let Some(c) = page.next_cursor {
                    println!("more: --cursor {c}");
                }
            }
        }
    }
    Ok(())
}
