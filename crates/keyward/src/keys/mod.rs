//! The life of a key: its format ([`format`]), its record ([`record`]) and
//! the lifecycle rules ([`service`]): create, update, revoke, rotate, with an
//! audit event for every change.

pub mod format;
pub mod record;
pub mod service;

pub use format::{KeyHash, KeySecret, Malformed};
pub use record::{AuditEvent, KeyRecord, ManagementKeyRecord, Page, Status, StatusFilter};
pub use service::{KeyError, KeyService, NewKey, RotateOptions, Update};
