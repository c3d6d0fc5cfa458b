//! The audit events the service writes with each change: what an event
//! shows of a key (never a digest or secret), and new ids.

use serde_json::{json, Value};

use super::format;
use super::record::{AuditEvent, KeyRecord};
use crate::store::StoreError;
use crate::time::Millis;

/// The parts of a record an audit event shows.
pub fn audit_view(k: &KeyRecord) -> Value {
    json!({
        "name": k.name,
        "scopes": k.scopes,
        "expires_at": k.expires_at.map(Millis::to_rfc3339),
        "revoked_at": k.revoked_at.map(Millis::to_rfc3339),
        "rotated_to": k.rotated_to,
    })
}

/// `<prefix>_` and 20 random letters or digits.
pub fn new_id(prefix: &str) -> Result<String, StoreError> {
    let mut id = format!("{prefix}_");
    format::random_base62(&mut id, 20)?;
    Ok(id)
}

/// An event of `action` by `actor`, now; the caller fills in what it is
/// about.
pub fn event(actor: &str, action: &str) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: new_id("evt")?,
        at: Millis::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        account: None,
        key_id: None,
        before: None,
        after: None,
    })
}

/// An event about a key: its account and id, and the key before and after.
pub fn key_event(
    mut event: AuditEvent,
    key_id: &str,
    account: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> AuditEvent {
    event.account = Some(account.to_owned());
    event.key_id = Some(key_id.to_owned());
    event.before = before;
    event.after = after;
    event
}
