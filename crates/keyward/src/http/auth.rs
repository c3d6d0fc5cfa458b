//! Management authentication: `Authorization: Bearer kwm_...` only (never a
//! cookie, never a customer key). A key limited to one account gets a
//! [`Manager`] whose every operation is confined to that account: other
//! accounts' keys are 404, their lists empty, creating there 403.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::credentials::{presented_key, Sources};
use super::problem::Problem;
use super::AppState;
use crate::keys::ManagementKeyRecord;

pub struct Manager {
    pub key: ManagementKeyRecord,
}

impl Manager {
    /// The account this manager is confined to, if any.
    pub fn account_limit(&self) -> Option<&str> {
        self.key.account.as_deref()
    }

    /// The audit trail's name for this manager.
    pub fn actor(&self) -> String {
        format!("management_key:{}", self.key.id)
    }

    /// The account filter of a listing: a confined manager only ever sees
    /// its own account (asking for another gives an empty list).
    pub fn list_scope<'a>(&'a self, requested: Option<&'a str>) -> Result<Option<&'a str>, ()> {
        match (self.account_limit(), requested) {
            (Some(mine), Some(asked)) if mine != asked => Err(()),
            (Some(mine), _) => Ok(Some(mine)),
            (None, asked) => Ok(asked),
        }
    }

    pub fn may_create_in(&self, account: &str) -> Result<(), Problem> {
        match self.account_limit() {
            Some(mine) if mine != account => Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("this management key is limited to another account than `{account}`"),
            )),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Manager {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let presented = presented_key(&parts.headers, Sources::Bearer)?
            .ok_or_else(|| Problem::unauthorized("a management key is required: Authorization: Bearer kwm_..."))?;
        match state.keys.authenticate_management(presented).await {
            Ok(Some(key)) => Ok(Manager { key }),
            Ok(None) => Err(Problem::unauthorized("unknown or revoked management key")),
            Err(e) => Err(e.into()),
        }
    }
}
