//! What every answer about a key repeats, rendered once per cache entry
//! (attached to it, `CachedKey::attachment`) so the hot path copies bytes
//! instead of serializing: the JSON members of a verify answer (escaped by
//! serde_json) and the header values of an allowed forward-auth answer.

use std::borrow::Cow;

use axum::http::{HeaderName, HeaderValue};

use crate::keys::KeyRecord;
use crate::verify::CachedKey;

#[derive(Clone)]
pub struct Rendered {
    /// `"key_id":…,"account":…,"environment":…`
    pub json_identity: Box<str>,
    /// `[…]`: the grants as given.
    pub json_granted: Box<str>,
    /// The four `X-Keyward-*` headers of an allowed forward-auth answer,
    /// all or none: `None` if one of them cannot be a header value (only an
    /// account stored before account ids had a grammar could do that), and
    /// then forward-auth refuses rather than answer 200 without it.
    pub headers: Option<[(HeaderName, HeaderValue); 4]>,
}

/// The rendered parts of a cached key (made on its first answer).
pub fn rendered(key: &CachedKey) -> Cow<'_, Rendered> {
    match key.attachment(Rendered::of) {
        Some(parts) => Cow::Borrowed(parts),
        // Only if something else were attached: render for this answer.
        None => Cow::Owned(Rendered::of(&key.record)),
    }
}

impl Rendered {
    #[expect(
        clippy::expect_used,
        reason = "serializing strings and a list of strings to JSON cannot fail"
    )]
    pub fn of(record: &KeyRecord) -> Rendered {
        #[derive(serde::Serialize)]
        struct Identity<'a> {
            key_id: &'a str,
            account: &'a str,
            environment: &'a str,
        }
        let identity = serde_json::to_string(&Identity {
            key_id: &record.id,
            account: &record.account,
            environment: &record.environment,
        })
        .expect("strings serialize");
        // `{…}` without its braces: members to splice into an answer.
        let json_identity = identity[1..identity.len() - 1].into();
        let json_granted = serde_json::to_string(&record.scopes).expect("strings serialize").into();
        let header = |name: &'static str, value: String| {
            let value = HeaderValue::try_from(value).ok()?;
            Some((HeaderName::from_static(name), value))
        };
        let headers = (|| {
            Some([
                header("x-keyward-key-id", record.id.clone())?,
                header("x-keyward-account", record.account.clone())?,
                header("x-keyward-scopes", record.scopes.join(","))?,
                header("x-keyward-environment", record.environment.clone())?,
            ])
        })();
        Rendered {
            json_identity,
            json_granted,
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::context::DEMO_CATALOG;
    use keyward_scopes::Catalog;

    fn record(account: &str, scopes: &[&str]) -> KeyRecord {
        crate::keys::record::sample(account, scopes)
    }

    /// Identity headers are all or none: a value that cannot be a header
    /// value never becomes a 200 without its header (hole 5).
    #[test]
    fn authz_headers_are_all_or_none() {
        let catalog = crate::catalog::LiveCatalog::fixed(Catalog::from_toml("demo", DEMO_CATALOG).unwrap()).current();
        let rec = record("line\nbreak", &["campaigns:read"]);
        let key = CachedKey::new(rec.clone(), &catalog);
        assert!(Rendered::of(&key.record).headers.is_none());
        let rec = record("acme", &["campaigns:read", "leads:read"]);
        let key = CachedKey::new(rec.clone(), &catalog);
        let rendered = Rendered::of(&key.record);
        let headers = rendered.headers.as_ref().unwrap();
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-keyward-key-id",
                "x-keyward-account",
                "x-keyward-scopes",
                "x-keyward-environment"
            ]
        );
        assert_eq!(headers[2].1, "campaigns:read,leads:read");
    }
}
