//! `keyward admin create-key|list-keys|revoke-key`: management keys, directly
//! on the database (also how a PostgreSQL deployment gets its first one);
//! `admin migrate` and `admin backup`: upgrades and copies of the store.

use std::path::Path;

use clap::Subcommand;

use super::context::{bad_input, cli_actor, finish, open_store, runtime, table, Failure, StoreArgs};
use crate::keys::management::{create_management_key, revoke_management_key};
use crate::keys::KeyError;
use crate::keys::{AccountId, KeyName};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a management key; prints it alone on stdout (shown this once).
    CreateKey {
        /// What the key is for (1-100 characters).
        #[arg(long)]
        name: String,
        /// Limit the key to one account.
        #[arg(long)]
        account: Option<String>,
    },
    /// List management keys.
    ListKeys {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a management key: permanent.
    RevokeKey {
        /// The management key's id (`mk_...`).
        id: String,
    },
    /// Apply the schema migrations this version needs, then exit (`serve`
    /// applies them too; nodes wait for each other).
    Migrate,
    /// Copy the embedded SQLite database to FILE while keyward serves
    /// (a consistent snapshot; PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; must not exist yet.
        file: std::path::PathBuf,
    },
}

/// Where a backup may go: a new file (not even a dangling link there), as
/// an absolute path (which SQLite cannot take for a `file:` URI).
fn backup_target(file: &Path) -> Result<String, Failure> {
    if std::fs::symlink_metadata(file).is_ok() {
        return Err(bad_input(format!("{} exists: choose a new file", file.display())));
    }
    let absolute = std::path::absolute(file).map_err(|e| bad_input(format!("{}: {e}", file.display())))?;
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| bad_input(format!("{}: the file name must be UTF-8", file.display())))
}

fn restrict_to_owner(path: &Path) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

pub fn run(command: AdminCommand, store: StoreArgs) -> std::process::ExitCode {
    let embedded = store.data_dir.join(crate::store::SQLITE_FILE);
    if matches!(command, AdminCommand::Backup { .. }) && store.database_url.is_none() && !embedded.is_file() {
        // Opening would create an empty database, and back that up.
        return finish(Err(bad_input(format!(
            "no keyward database in {} ({} not found)",
            store.data_dir.display(),
            crate::store::SQLITE_FILE
        ))));
    }
    finish(runtime().map_err(Failure::from).and_then(|rt| {
        rt.block_on(async {
            let store = open_store(&store).await?;
            let result = execute(&store, command).await;
            store.close().await;
            result
        })
    }))
}

async fn execute(store: &crate::store::Store, command: AdminCommand) -> Result<(), Failure> {
    let actor = cli_actor();
    match command {
        AdminCommand::CreateKey { name, account } => {
            let account = account.as_deref().map(AccountId::parse).transpose()?;
            let (_, secret) = create_management_key(store, KeyName::parse(&name)?, account, &actor).await?;
            println!("{}", secret.reveal());
        }
        AdminCommand::ListKeys { json } => {
            let keys = store.list_management_keys().await.map_err(KeyError::from)?;
            if json {
                match serde_json::to_string_pretty(&keys) {
                    Ok(text) => println!("{text}"),
                    Err(e) => return Err(Failure::from(format!("cannot print as JSON: {e}"))),
                }
            } else {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
                        vec![
                            k.id.clone(),
                            k.name.clone(),
                            k.account
                                .as_ref()
                                .map_or_else(|| "(all)".to_owned(), ToString::to_string),
                            status.to_owned(),
                            k.start.clone(),
                            k.created_at.to_rfc3339(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["ID", "NAME", "ACCOUNT", "STATUS", "START", "CREATED"], &rows)
                );
            }
        }
        AdminCommand::RevokeKey { id } => {
            let revoked = revoke_management_key(store, &id, &actor).await?;
            println!("revoked {} ({})", revoked.id, revoked.name);
        }
        AdminCommand::Migrate => {
            let version = store.schema_version().await.map_err(KeyError::from)?;
            println!("schema at version {version}");
        }
        AdminCommand::Backup { file } => {
            if !store.is_embedded() {
                return Err(bad_input(
                    "admin backup copies the embedded SQLite database; back PostgreSQL up with pg_dump",
                ));
            }
            let target = backup_target(&file)?;
            store.backup_sqlite(&target).await.map_err(KeyError::from)?;
            // The copy holds every key's digest and the audit trail.
            restrict_to_owner(Path::new(&target))?;
            println!("backed up to {}", file.display());
        }
    }
    Ok(())
}
