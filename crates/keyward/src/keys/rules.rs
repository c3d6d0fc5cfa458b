//! The rules of a key's life (docs/KEYS.md), decided by the service
//! on the key as the store holds it locked: what may change when.

use super::error::{invalid, KeyError};
use super::fields::Grace;
use super::record::{KeyRecord, Status};
use crate::time::Millis;

/// The lifecycle's one rule for changes: revoked and expired keys cannot
/// be changed (revocation is permanent; an expired key is renewed by
/// creating another).
pub fn changeable(key: &KeyRecord, now: Millis) -> Result<(), KeyError> {
    match key.status(now) {
        Status::Revoked => Err(KeyError::Conflict(format!(
            "key `{}` is revoked; revoked keys cannot be changed",
            key.id
        ))),
        Status::Expired => Err(KeyError::Conflict(format!(
            "key `{}` has expired; expired keys cannot be changed",
            key.id
        ))),
        Status::Active => Ok(()),
    }
}

pub fn check_expiry(expires_at: Millis, now: Millis) -> Result<(), KeyError> {
    if expires_at <= now {
        return Err(invalid(
            "expires_at",
            format!("`{}` is not in the future", expires_at.to_rfc3339()),
        ));
    }
    Ok(())
}

/// A key may be changed while active and not replaced: a rotated key's
/// life ends with its grace (a later expiry would keep it alive).
pub fn updatable(key: &KeyRecord, now: Millis) -> Result<(), KeyError> {
    changeable(key, now)?;
    match &key.rotated_to {
        Some(to) => Err(KeyError::Conflict(format!(
            "key `{}` was rotated to `{to}`; change its replacement instead",
            key.id
        ))),
        None => Ok(()),
    }
}

/// A key is rotated once: after that, its replacement is.
pub fn rotatable(key: &KeyRecord, now: Millis) -> Result<(), KeyError> {
    changeable(key, now)?;
    match key.rotated_to {
        Some(_) => Err(KeyError::Conflict(format!(
            "key `{}` was already rotated; rotate its replacement instead",
            key.id
        ))),
        None => Ok(()),
    }
}

/// A server may grant shorter graces than 30 days (`max_rotation_grace`).
pub fn within_grace_limit(grace: Grace, max: Grace) -> Result<(), KeyError> {
    if grace.as_seconds() > max.as_seconds() {
        return Err(invalid(
            "grace_period",
            format!(
                "{} seconds is more than this server's limit of {} seconds (max_rotation_grace)",
                grace.as_seconds(),
                max.as_seconds()
            ),
        ));
    }
    Ok(())
}
