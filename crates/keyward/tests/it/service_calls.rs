//! The key service called as its front ends call it: raw inputs parsed at
//! the edge first (`AccountId`, `KeyName`, `Scopes`, ...), an account limit
//! turned into the [`AccountScope`] authentication would hand out. The
//! lifecycle tests speak in raw inputs, so one test covers the parsing and
//! the service together.

use keyward::keys::format::KeySecret;
use keyward::keys::{
    AccountId, AccountScope, AuditEvent, Cursor, Grace, KeyError, KeyId, KeyName, KeyRecord, KeyService, Limit,
    ManagementKeyRecord, Metadata, Page, RevokeReason, Scopes, StatusFilter,
};
use keyward::store::Store;
use keyward::time::Millis;

/// A key to create, as a caller gives it.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub account: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<Millis>,
    pub environment: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Update {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<Option<Millis>>,
}

#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    pub grace_period: Option<i64>,
    pub expires_at: Option<Millis>,
}

/// The scope a management key limited to `account` (or to none) gets.
pub fn scope(account_limit: Option<&str>) -> AccountScope {
    match account_limit {
        None => AccountScope::operator(),
        Some(account) => AccountScope::of_management_key(&ManagementKeyRecord {
            id: "mk_test".into(),
            name: "test".into(),
            account: Some(AccountId::parse(account).unwrap()),
            start: "kwm_test".into(),
            created_at: Millis(0),
            created_by: "test".into(),
            revoked_at: None,
            revoked_by: None,
            last_used_at: None,
        }),
    }
}

#[derive(Clone)]
pub struct Calls(pub KeyService);

fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<(Limit, Option<Cursor>), KeyError> {
    Ok((
        limit.map(Limit::new).transpose()?.unwrap_or_default(),
        cursor.map(Cursor::parse).transpose()?,
    ))
}

fn account(text: Option<&str>) -> Result<Option<AccountId>, KeyError> {
    text.map(AccountId::parse).transpose()
}

impl Calls {
    pub fn stale_scopes<'k>(&self, k: &'k KeyRecord) -> Vec<&'k str> {
        self.0.stale_scopes(k)
    }

    pub async fn create(&self, new: NewKey, actor: &str) -> Result<(KeyRecord, KeySecret), KeyError> {
        self.create_within(new, actor, None).await
    }

    pub async fn create_within(
        &self,
        new: NewKey,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<(KeyRecord, KeySecret), KeyError> {
        let new = keyward::keys::NewKey {
            account: AccountId::parse(&new.account)?,
            name: KeyName::parse(&new.name)?,
            scopes: Scopes::parse(new.scopes, &self.0.catalog())?,
            expires_at: new.expires_at,
            environment: new.environment,
            metadata: Metadata::parse(new.metadata)?,
        };
        self.0.create(new, actor, &scope(account_limit)).await
    }

    pub async fn get(&self, id: &str, account_limit: Option<&str>) -> Result<KeyRecord, KeyError> {
        self.0.get(&KeyId::parse(id)?, &scope(account_limit)).await
    }

    pub async fn list(
        &self,
        account_filter: Option<&str>,
        status: StatusFilter,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<KeyRecord>, KeyError> {
        self.list_within(None, account_filter, status, limit, cursor).await
    }

    pub async fn list_within(
        &self,
        account_limit: Option<&str>,
        account_filter: Option<&str>,
        status: StatusFilter,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<KeyRecord>, KeyError> {
        let (limit, cursor) = paging(limit, cursor)?;
        let filter = account(account_filter)?;
        self.0
            .list(&scope(account_limit), filter.as_ref(), status, limit, cursor)
            .await
    }

    pub async fn update(
        &self,
        id: &str,
        update: Update,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let update = keyward::keys::Update {
            name: update.name.as_deref().map(KeyName::parse).transpose()?,
            scopes: update.scopes.map(|s| Scopes::parse(s, &self.0.catalog())).transpose()?,
            expires_at: update.expires_at,
        };
        self.0
            .update(&KeyId::parse(id)?, update, actor, &scope(account_limit))
            .await
    }

    pub async fn revoke(
        &self,
        id: &str,
        reason: Option<&str>,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let reason = reason.map(RevokeReason::parse).transpose()?;
        self.0
            .revoke(&KeyId::parse(id)?, reason, actor, &scope(account_limit))
            .await
    }

    pub async fn rotate(
        &self,
        id: &str,
        options: RotateOptions,
        actor: &str,
        account_limit: Option<&str>,
    ) -> Result<(KeyRecord, KeyRecord, KeySecret), KeyError> {
        let options = keyward::keys::RotateOptions {
            grace: options
                .grace_period
                .map(Grace::seconds)
                .transpose()?
                .unwrap_or_default(),
            expires_at: options.expires_at,
        };
        self.0
            .rotate(&KeyId::parse(id)?, options, actor, &scope(account_limit))
            .await
    }

    pub async fn audit(
        &self,
        account_filter: Option<&str>,
        key_id: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEvent>, KeyError> {
        let (limit, cursor) = paging(limit, cursor)?;
        let filter = account(account_filter)?;
        let key_id = key_id.map(KeyId::parse).transpose()?;
        self.0
            .audit(
                &AccountScope::operator(),
                filter.as_ref(),
                key_id.as_ref(),
                limit,
                cursor,
            )
            .await
    }

    pub async fn authenticate_management(&self, presented: &str) -> Result<Option<ManagementKeyRecord>, KeyError> {
        self.0.authenticate_management(presented).await
    }

    pub async fn create_management_key(
        &self,
        store: &Store,
        name: &str,
        account_limit: Option<&str>,
        actor: &str,
    ) -> Result<(ManagementKeyRecord, KeySecret), KeyError> {
        keyward::keys::management::create_management_key(store, KeyName::parse(name)?, account(account_limit)?, actor)
            .await
    }

    pub async fn revoke_management_key(
        &self,
        store: &Store,
        id: &str,
        actor: &str,
    ) -> Result<ManagementKeyRecord, KeyError> {
        keyward::keys::management::revoke_management_key(store, id, actor).await
    }
}
