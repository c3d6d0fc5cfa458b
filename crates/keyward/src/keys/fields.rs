//! The fields of a key a caller gives, parsed once at the edge (the HTTP
//! API, the command line, the pages) into types the service takes: a value
//! of one of these types is valid (docs/KEYS.md).

use keyward_scopes::Catalog;
use serde_json::{Map, Value};

use super::error::{invalid, KeyError};
use crate::time::parse_duration;

pub const NAME_MAX_CHARS: usize = 100;
pub const METADATA_MAX_BYTES: usize = 4096;
pub const REASON_MAX_CHARS: usize = 500;
/// Different grants a key may hold.
pub const GRANTS_MAX: usize = 64;
/// The longest rotation grace (docs/KEYS.md): 30 days.
pub const ROTATION_GRACE_MAX_SECONDS: i64 = 30 * 86_400;

/// A key's name: 1-100 characters as given, not all white space, no
/// control characters; kept without surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(text: &str) -> Result<KeyName, KeyError> {
        let chars = text.chars().count();
        if chars > NAME_MAX_CHARS {
            return Err(invalid(
                "name",
                format!("is {chars} characters long; the limit is {NAME_MAX_CHARS}"),
            ));
        }
        if text.chars().any(|c| c.is_control() || is_invisible_format(c)) {
            return Err(invalid(
                "name",
                "must not contain control characters or invisible formatting (zero-width, bidirectional)",
            ));
        }
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        Ok(KeyName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Invisible characters that change how text around them reads: zero
/// width, bidirectional embeddings and isolates, the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A key's grants: names the catalog defines as grantable, deduplicated
/// (order kept), 1-64 of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    pub fn parse(scopes: Vec<String>, catalog: &Catalog) -> Result<Scopes, KeyError> {
        let mut unique: Vec<String> = Vec::with_capacity(scopes.len().min(GRANTS_MAX));
        for scope in scopes {
            if !unique.contains(&scope) {
                if unique.len() == GRANTS_MAX {
                    return Err(invalid(
                        "scopes",
                        format!("a key holds at most {GRANTS_MAX} different grants; use a bundle or a wildcard"),
                    ));
                }
                unique.push(scope);
            }
        }
        catalog.check_grants(&unique).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            invalid("scopes", messages.join("; "))
        })?;
        Ok(Scopes(unique))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// A key's metadata: a JSON object of at most 4 KiB (as compact JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    pub fn parse(value: Option<Value>) -> Result<Metadata, KeyError> {
        match value {
            None | Some(Value::Null) => Ok(Metadata::default()),
            Some(Value::Object(map)) => {
                let size = serde_json::to_string(&map).map_or(usize::MAX, |text| text.len());
                if size > METADATA_MAX_BYTES {
                    return Err(invalid(
                        "metadata",
                        format!("is {size} bytes as JSON; the limit is {METADATA_MAX_BYTES}"),
                    ));
                }
                Ok(Metadata(map))
            }
            Some(other) => Err(invalid("metadata", format!("must be a JSON object, not `{other}`"))),
        }
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Why a key was revoked: at most 500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeReason(String);

impl RevokeReason {
    pub fn parse(text: &str) -> Result<RevokeReason, KeyError> {
        let chars = text.chars().count();
        if chars > REASON_MAX_CHARS {
            return Err(invalid(
                "reason",
                format!("is {chars} characters long; the limit is {REASON_MAX_CHARS}"),
            ));
        }
        Ok(RevokeReason(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a rotated key keeps working: 0 to 30 days, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grace(i64);

impl Grace {
    pub fn seconds(seconds: i64) -> Result<Grace, KeyError> {
        if seconds < 0 {
            return Err(invalid("grace_period", format!("{seconds} must not be negative")));
        }
        if seconds > ROTATION_GRACE_MAX_SECONDS {
            return Err(invalid(
                "grace_period",
                format!("{seconds} seconds is more than the limit of 30 days ({ROTATION_GRACE_MAX_SECONDS} seconds)"),
            ));
        }
        Ok(Grace(seconds))
    }

    /// A duration like `90s`, `30m`, `1h`, `7d` or `2w`.
    pub fn parse(text: &str) -> Result<Grace, KeyError> {
        let seconds = parse_duration(text).ok_or_else(|| {
            invalid(
                "grace_period",
                format!("`{}` is neither seconds nor a duration like 1h", text.escape_debug()),
            )
        })?;
        Grace::seconds(seconds)
    }

    pub fn as_seconds(self) -> i64 {
        self.0
    }

    /// The longest grace there is: 30 days.
    pub fn longest() -> Grace {
        Grace(ROTATION_GRACE_MAX_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_given_and_kept_trimmed() {
        assert_eq!(KeyName::parse("  CRM sync ").unwrap().as_str(), "CRM sync");
        assert!(KeyName::parse(&"x".repeat(100)).is_ok());
        for bad in [
            "",
            "   ",
            "a\nb",
            "\u{7f}",
            "\u{feff}",
            "admin\u{202e}txt",
            &"x".repeat(101),
            &format!(" {}", "x".repeat(100)),
        ] {
            assert!(KeyName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grace_is_0_to_30_days() {
        assert_eq!(Grace::parse("1h").unwrap().as_seconds(), 3600);
        assert_eq!(Grace::parse("30d").unwrap().as_seconds(), ROTATION_GRACE_MAX_SECONDS);
        for bad in ["31d", "100000000d", "1y", "", "h"] {
            assert!(Grace::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Grace::seconds(-1).is_err());
    }

    #[test]
    fn metadata_is_an_object_of_at_most_4_kib() {
        assert!(Metadata::parse(Some(serde_json::json!({"team": "growth"}))).is_ok());
        assert!(Metadata::parse(Some(serde_json::json!([1]))).is_err());
        let big = "x".repeat(METADATA_MAX_BYTES);
        assert!(Metadata::parse(Some(serde_json::json!({ "k": big }))).is_err());
    }
}

/// A key's id as callers name it: `key_` and 20 letters or digits. Text
/// of any other shape names no key (404, like an unknown id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

pub const KEY_ID_PREFIX: &str = "key_";
const KEY_ID_RANDOM_CHARS: usize = 20;

impl KeyId {
    pub fn parse(text: &str) -> Result<KeyId, KeyError> {
        let well_formed = text
            .strip_prefix(KEY_ID_PREFIX)
            .is_some_and(|rest| rest.len() == KEY_ID_RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed {
            return Err(KeyError::NotFound(text.escape_debug().to_string()));
        }
        Ok(KeyId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn only_ids_keyward_could_have_made_parse() {
        assert!(KeyId::parse("key_AbCdEfGhIjKlMnOpQrSt").is_ok());
        for bad in [
            "",
            "key_",
            "key_short",
            "mk_AbCdEfGhIjKlMnOpQrSt",
            "key_AbCdEfGhIjKlMnOpQrS/",
            "key_AbCdEfGhIjKlMnOpQrStU",
        ] {
            assert!(matches!(KeyId::parse(bad), Err(KeyError::NotFound(_))), "{bad:?}");
        }
    }
}
