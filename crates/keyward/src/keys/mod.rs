//! The life of a key: its format ([`format`]), its record ([`record`]) and
//! the lifecycle rules ([`service`]): create, update, revoke, rotate, with an
//! audit event for every change.

pub mod account;
pub mod audit;
mod error;
pub mod fields;
pub mod format;
pub mod management;
pub mod paging;
pub mod record;
pub mod requests;
mod rules;
pub mod service;
pub mod view;

/// An account that has keys (the dashboard's account picker).
pub use crate::store::AccountRow;
pub use account::{AccountId, AccountScope};
pub use error::KeyError;
pub use fields::{Grace, KeyId, KeyName, Metadata, RevokeReason, Scopes};
pub use format::{KeyHash, KeySecret, Malformed};
pub use paging::{Cursor, Limit, Page};
pub use record::{AuditEvent, KeyRecord, ManagementKeyRecord, Status, StatusFilter};
pub use requests::{KeyChangeListener, NewKey, RotateOptions, Update};
pub use service::KeyService;
pub use view::{KeyView, UsageTotals};
