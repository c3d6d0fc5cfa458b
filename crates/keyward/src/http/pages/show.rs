//! How the pages show things: the frame around every page ([`Chrome`]),
//! times, key rows and usage windows.

use crate::keys::{KeyRecord, Status};
use crate::time::Millis;
use crate::usage::Windows;

/// The frame of a page: product, account, navigation, sign-out.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub product: String,
    /// The key pages' root (`/portal` or `/dashboard/accounts/<id>`).
    pub base: Option<String>,
    pub account: Option<String>,
    /// An operator (the catalog link).
    pub operator: bool,
    /// An operator who may pick any account.
    pub picker: bool,
    pub return_url: Option<String>,
    /// The sign-out form's action, when signed in.
    pub sign_out: Option<&'static str>,
    pub csrf: String,
}

impl Chrome {
    /// A page with no session (sign-in, errors).
    pub fn bare(product: &str) -> Chrome {
        Chrome {
            product: product.to_owned(),
            ..Chrome::default()
        }
    }
}

/// `2026-11-24 10:00 UTC`.
pub fn time(at: Millis) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => text,
    }
}

pub fn maybe_time(at: Option<Millis>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), time)
}

/// `YYYY-MM-DD`, as a date input holds it.
pub fn date(at: Option<Millis>) -> String {
    at.map(|m| m.to_rfc3339().chars().take(10).collect())
        .unwrap_or_default()
}

/// A key's state as a badge: its label and class.
pub fn status(key: &KeyRecord, now: Millis) -> (&'static str, &'static str) {
    let label = key.status_label(now);
    let class = match key.status(now) {
        Status::Active if key.rotated_to.is_some() => "grace",
        Status::Active => "active",
        Status::Expired => "expired",
        Status::Revoked => "revoked",
    };
    (label, class)
}

/// One row of the keys table.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub start: String,
    pub grants: Vec<String>,
    pub environment: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub day: String,
    pub week: String,
    pub month: String,
    pub status: &'static str,
    pub status_class: &'static str,
}

impl KeyRow {
    pub fn new(key: &KeyRecord, windows: &Windows, last_used: Option<Millis>, now: Millis) -> KeyRow {
        let (status, status_class) = status(key, now);
        let counts = |w: &crate::usage::Window| format!("{} / {}", w.allowed, w.denied);
        KeyRow {
            id: key.id.clone(),
            name: key.name.clone(),
            start: key.start.clone(),
            grants: key.scopes.clone(),
            environment: key.environment.clone(),
            created: time(key.created_at),
            expires: maybe_time(key.expires_at, "never"),
            last_used: maybe_time(last_used, "never"),
            day: counts(&windows.last_day),
            week: counts(&windows.last_week),
            month: counts(&windows.last_month),
            status,
            status_class,
        }
    }
}

/// A usage window as the key page shows it.
pub struct WindowCard {
    pub label: &'static str,
    pub allowed: u64,
    pub denied: u64,
}

pub fn window_cards(windows: &Windows) -> Vec<WindowCard> {
    [
        ("Last 24 hours", windows.last_day),
        ("Last 7 days", windows.last_week),
        ("Last 30 days", windows.last_month),
    ]
    .into_iter()
    .map(|(label, w)| WindowCard {
        label,
        allowed: w.allowed,
        denied: w.denied,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_minutes_and_dates() {
        let at = Millis::parse_rfc3339("2026-11-24T10:05:59Z").unwrap();
        assert_eq!(time(at), "2026-11-24 10:05 UTC");
        assert_eq!(date(Some(at)), "2026-11-24");
        assert_eq!(date(None), "");
    }
}
