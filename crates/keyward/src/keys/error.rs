//! What the key service answers when it cannot do what was asked: each
//! variant one thing a caller can act on; the HTTP layer maps them to
//! statuses in one place (`http/problem.rs`).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Bad input: names the field and the value.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("no key `{0}`")]
    NotFound(String),
    /// The change is not allowed in the key's state (revoked, expired,
    /// already rotated).
    #[error("{0}")]
    Conflict(String),
    /// The caller's [`super::AccountScope`] does not reach this account
    /// (only for creating: elsewhere another account's keys are simply not
    /// found).
    #[error("this caller is limited to another account than `{0}`")]
    OutOfScope(String),
    /// Storage cannot answer now: try again (503).
    #[error(transparent)]
    Unavailable(StoreError),
    /// Storage refused or garbled what keyward wrote or read: a bug in
    /// keyward, not in the request (500).
    #[error(transparent)]
    Internal(StoreError),
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> KeyError {
        if e.is_transient() {
            KeyError::Unavailable(e)
        } else {
            KeyError::Internal(e)
        }
    }
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        field,
        message: message.into(),
    }
}
