//! Management authentication: `Authorization: Bearer kwm_...` only (never a
//! cookie, never a customer key). The check hands out a [`Manager`] holding
//! the key's [`AccountScope`]: the only way a handler gets one, and what
//! every account-sensitive call of the key service requires. A key limited
//! to one account reaches only it: other accounts' keys are 404, their
//! lists empty, creating there 403.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::credentials::{presented_key, Sources};
use super::problem::Problem;
use super::AppState;
use crate::keys::{AccountScope, ManagementKeyRecord};

pub struct Manager {
    /// The audit trail's name for this manager.
    pub actor: String,
    pub scope: AccountScope,
    /// The management key itself (portal links remember who asked).
    pub key: ManagementKeyRecord,
}

impl FromRequestParts<Arc<AppState>> for Manager {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let presented = presented_key(&parts.headers, Sources::Bearer)?
            .ok_or_else(|| Problem::unauthorized("a management key is required: Authorization: Bearer kwm_..."))?;
        match state.keys.authenticate_management(presented).await {
            Ok(Some(key)) => Ok(Manager {
                actor: format!("management_key:{}", key.id),
                scope: AccountScope::of_management_key(&key),
                key,
            }),
            Ok(None) => Err(Problem::unauthorized("unknown or revoked management key")),
            Err(e) => Err(e.into()),
        }
    }
}
