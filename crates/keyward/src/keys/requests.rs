//! What a caller asks the key service for, parsed: a key to create, a
//! change, a rotation; and who is told of every change written.

use keyward_scopes::Catalog;

use super::error::KeyError;
use super::fields::{Grace, KeyName, Metadata, Scopes};
use super::format::KeyHash;
use super::AccountId;
use crate::time::Millis;

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub account: AccountId,
    pub name: KeyName,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
    /// Default: the catalog's first environment.
    pub environment: Option<String>,
    pub metadata: Metadata,
}

impl NewKey {
    /// A key of `account` named `name` with these grants, parsed; no
    /// expiry, the default environment, no metadata.
    pub fn parse(account: &str, name: &str, scopes: &[&str], catalog: &Catalog) -> Result<NewKey, KeyError> {
        Ok(NewKey {
            account: AccountId::parse(account)?,
            name: KeyName::parse(name)?,
            scopes: Scopes::parse(scopes.iter().map(|s| (*s).to_owned()).collect(), catalog)?,
            expires_at: None,
            environment: None,
            metadata: Metadata::default(),
        })
    }
}

/// A PATCH: each `Some` field is changed; at least one must be.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub name: Option<KeyName>,
    pub scopes: Option<Scopes>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Millis>>,
}

#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// How long the old key keeps working; default 0 (it expires at once).
    pub grace: Grace,
    /// The new key's expiry; default: the old key's.
    pub expires_at: Option<Millis>,
}

/// Told of every key change the service wrote, right after the write:
/// how the verification cache of this node forgets a changed key before the
/// change's answer leaves (docs/ARCHITECTURE.md). Other nodes learn it from
/// the change feed.
pub trait KeyChangeListener: Send + Sync {
    /// The key with this digest changed (created, updated, revoked,
    /// rotated).
    fn key_changed(&self, hash: &KeyHash);
    /// A write failed after it may have committed: which key changed is
    /// unknown, so everything must be forgotten.
    fn changes_unknown(&self);
}
