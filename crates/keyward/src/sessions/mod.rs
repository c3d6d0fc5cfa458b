//! Sessions of the pages (docs/PAGES.md). Operators sign in with a
//! management key; the API's customers arrive through a portal link that a
//! host application asked for, server to server, and that works once,
//! within five minutes. Either way the browser holds only a random session
//! id; the store holds its digest, the reach ([`AccountScope`]) and the
//! digest of the form token. The form token is derived from the session id
//! (a SHA-256 digest of it under a label of its own), so a page can carry it while the store holds
//! neither in plain text: a copy of the database opens no session and
//! forges no form. A session ends when unused for the idle timeout, at its
//! absolute lifetime, at sign-out, or (operators) when its management key
//! is revoked.

mod return_url;

use std::time::Duration;

use sha2::{Digest, Sha256};

pub use return_url::ReturnUrl;

use crate::config::PageSettings;
use crate::keys::format::random_base62;
use crate::keys::{AccountId, AccountScope, KeyError, ManagementKeyRecord};
use crate::store::{NewPortalToken, SessionRow, Store, StoreError};
use crate::time::Millis;

/// How long a portal link works.
pub const PORTAL_LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A session id or a portal token as the browser holds it: never printed,
/// never stored (the store sees its digest).
pub struct Secret(String);

impl Secret {
    /// 43 random letters and digits (256 bits).
    pub fn random() -> Result<Secret, KeyError> {
        Ok(Self::generate()?)
    }

    fn generate() -> Result<Secret, StoreError> {
        let mut text = String::with_capacity(43);
        random_base62(&mut text, 43)?;
        Ok(Secret(text))
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The form token of the session whose id is `session_id`: a digest of the
/// id under a label of its own, so it reveals nothing of the id.
fn csrf_token(session_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"keyward form token\0");
    hasher.update(session_id.as_bytes());
    hex(&hasher.finalize())
}

/// What the store keeps of a form token.
fn csrf_digest(token: &str) -> String {
    hex(&digest(token))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a session was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// An operator, signed in with this management key.
    Operator { management_key_id: String },
    /// A customer, through a portal link that the management key `issuer`
    /// asked for; `return_url` leads back to the host application.
    Portal { return_url: Option<String>, issuer: String },
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub via: Via,
    /// The audit trail's name for whoever uses it.
    pub actor: String,
    pub scope: AccountScope,
    /// The value every form of this session carries as `csrf_token`.
    pub csrf_token: String,
}

impl Session {
    pub fn is_portal(&self) -> bool {
        matches!(self.via, Via::Portal { .. })
    }
}

/// A portal link to hand to a host application.
pub struct PortalLink {
    pub token: Secret,
    pub expires_at: Millis,
}

#[derive(Clone)]
pub struct SessionService {
    store: Store,
    idle: Duration,
    lifetime: Duration,
}

const OPERATOR: &str = "operator";
const PORTAL: &str = "portal";

impl SessionService {
    pub fn new(store: Store, settings: &PageSettings) -> SessionService {
        SessionService {
            store,
            idle: settings.session_idle,
            lifetime: settings.session_lifetime,
        }
    }

    /// Opens an operator session for an authenticated management key.
    pub async fn sign_in(&self, key: &ManagementKeyRecord) -> Result<(Secret, Session), KeyError> {
        let via = Via::Operator {
            management_key_id: key.id.clone(),
        };
        let actor = format!("management_key:{}", key.id);
        self.open(via, actor, AccountScope::of_management_key(key), key.account.as_ref())
            .await
    }

    /// A single-use link to the pages of `account`, asked for by the
    /// management key `issuer` (whose reach must include the account; its
    /// revocation ends the link and the sessions it opened).
    pub async fn portal_link(
        &self,
        account: &AccountId,
        return_url: Option<&ReturnUrl>,
        issuer: &ManagementKeyRecord,
    ) -> Result<PortalLink, KeyError> {
        let actor = format!("management_key:{}", issuer.id);
        if !AccountScope::of_management_key(issuer).reaches(account.as_str()) {
            return Err(KeyError::OutOfScope(account.to_string()));
        }
        let token = Secret::generate()?;
        let now = Millis::now();
        let expires_at = Millis(now.0 + PORTAL_LINK_LIFETIME.as_millis() as i64);
        self.store
            .insert_portal_token(&NewPortalToken {
                token_hash: &digest(token.reveal()),
                account: account.as_str(),
                return_url: return_url.map(ReturnUrl::as_str),
                management_key_id: &issuer.id,
                created_by: &actor,
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(account = %account, actor, "portal link issued");
        Ok(PortalLink { token, expires_at })
    }

    /// Trades a portal link's token for a session of its account, once.
    /// `None` if the token is unknown, used or expired.
    pub async fn open_portal(&self, token: &str) -> Result<Option<(Secret, Session)>, KeyError> {
        let Some(link) = self.store.redeem_portal_token(&digest(token), Millis::now()).await? else {
            return Ok(None);
        };
        if !self.active_management_key(&link.management_key_id).await? {
            return Ok(None);
        }
        let account = AccountId::stored(link.account);
        let via = Via::Portal {
            return_url: link.return_url,
            issuer: link.management_key_id,
        };
        let actor = format!("portal:{account}");
        let scope = AccountScope::of_portal_session(account.clone());
        Ok(Some(self.open(via, actor, scope, Some(&account)).await?))
    }

    async fn open(
        &self,
        via: Via,
        actor: String,
        scope: AccountScope,
        account: Option<&AccountId>,
    ) -> Result<(Secret, Session), KeyError> {
        let now = Millis::now();
        // Sessions and links past use are forgotten as new ones open.
        self.store
            .delete_expired_sessions(now, Millis(now.0 - self.idle.as_millis() as i64))
            .await?;
        let secret = Secret::generate()?;
        let session = Session {
            via,
            actor,
            scope,
            csrf_token: csrf_token(secret.reveal()),
        };
        let (kind, management_key_id, return_url) = match &session.via {
            Via::Operator { management_key_id } => (OPERATOR, management_key_id.clone(), None),
            Via::Portal { return_url, issuer } => (PORTAL, issuer.clone(), return_url.clone()),
        };
        let row = SessionRow {
            kind: kind.to_owned(),
            actor: session.actor.clone(),
            management_key_id,
            account: account.map(|a| a.as_str().to_owned()),
            return_url,
            csrf_digest: csrf_digest(&session.csrf_token),
            created_at: now.0,
            last_seen_at: now.0,
            expires_at: now.0 + self.lifetime.as_millis() as i64,
        };
        self.store.insert_session(&digest(secret.reveal()), &row).await?;
        Ok((secret, session))
    }

    /// The live session whose id the browser presented, if it is one of
    /// `portal` sessions (else operator ones); it counts as a use.
    pub async fn find(&self, id: &str, portal: bool) -> Result<Option<Session>, KeyError> {
        let hash = digest(id);
        let now = Millis::now();
        let Some(row) = self.store.find_session(&hash, now).await? else {
            return Ok(None);
        };
        let idle_ms = self.idle.as_millis() as i64;
        let csrf_token = csrf_token(id);
        // A row whose token digest is not this id's (one written before
        // tokens were stored as digests) is a session that has ended.
        if now.0 - row.last_seen_at >= idle_ms || row.csrf_digest != csrf_digest(&csrf_token) {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        let account = row.account.map(AccountId::stored);
        // The management key's record, read now: a revoked key's sessions
        // end with it (an operator's, and the portal sessions of links it
        // asked for), and an operator's reach is what the key's is today.
        let key = match self.store.get_management_key(&row.management_key_id).await? {
            Some(key) if key.revoked_at.is_none() => key,
            _ => return Ok(None),
        };
        let via_scope = match (row.kind.as_str(), portal, account) {
            (PORTAL, true, Some(account)) => Some((
                Via::Portal {
                    return_url: row.return_url,
                    issuer: key.id,
                },
                AccountScope::of_portal_session(account),
            )),
            (OPERATOR, false, _) => Some((
                Via::Operator {
                    management_key_id: key.id.clone(),
                },
                AccountScope::of_management_key(&key),
            )),
            _ => None,
        };
        let Some((via, scope)) = via_scope else {
            return Ok(None);
        };
        // Uses are written at most every tenth of the idle timeout (and at
        // least once a minute), not on every page.
        if now.0 - row.last_seen_at >= (idle_ms / 10).min(60_000) {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Session {
            via,
            actor: row.actor,
            scope,
            csrf_token,
        }))
    }

    async fn active_management_key(&self, id: &str) -> Result<bool, KeyError> {
        let key = self.store.get_management_key(id).await?;
        Ok(key.is_some_and(|k| k.revoked_at.is_none()))
    }

    /// Ends the session with this id (whatever it is).
    pub async fn sign_out(&self, id: &str) -> Result<(), KeyError> {
        Ok(self.store.delete_session(&digest(id)).await?)
    }
}
