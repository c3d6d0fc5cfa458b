//! Paging of listings, one rule for keys and the audit trail: a [`Limit`]
//! of 1-1000 items and an opaque [`Cursor`] that keyward gave (anything
//! else is refused, never read as "the first page").

use std::fmt;

use serde::Serialize;

use super::error::KeyError;

pub const LIMIT_MAX: u32 = 1000;
pub const LIMIT_DEFAULT: u32 = 100;

/// How many items a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub fn new(n: u32) -> Result<Limit, KeyError> {
        if n == 0 || n > LIMIT_MAX {
            return Err(KeyError::Invalid {
                field: "limit",
                message: format!("{n} must be between 1 and {LIMIT_MAX}"),
            });
        }
        Ok(Limit(n))
    }

    pub fn parse(text: &str) -> Result<Limit, KeyError> {
        let n = text.parse::<u32>().map_err(|_| KeyError::Invalid {
            field: "limit",
            message: format!("`{}` is not a number between 1 and {LIMIT_MAX}", text.escape_debug()),
        })?;
        Limit::new(n)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Limit {
        Limit(LIMIT_DEFAULT)
    }
}

/// Where the next page starts: after the item with this position (the
/// store's insertion sequence), so items added meanwhile never shift a
/// later page. Shown as `c<position>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

impl Cursor {
    pub(crate) fn after(position: i64) -> Cursor {
        Cursor(position)
    }

    pub(crate) fn position(self) -> i64 {
        self.0
    }

    /// `c` and 1-18 digits, not starting with 0 (as the API's schema
    /// says: `^c[1-9][0-9]{0,17}$`).
    pub fn parse(text: &str) -> Result<Cursor, KeyError> {
        text.strip_prefix('c')
            .filter(|digits| {
                (1..=18).contains(&digits.len())
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|digits| digits.parse::<i64>().ok())
            .filter(|&p| p > 0)
            .map(Cursor)
            .ok_or_else(|| KeyError::Invalid {
                field: "cursor",
                message: format!("`{}` is not a cursor keyward gave", text.escape_debug()),
            })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A page of a listing, newest first, with the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `cursor` for the next page; `null` on the last.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// No items, no next page.
    pub fn empty() -> Page<T> {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let c = Cursor::after(42);
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        for bad in [
            "",
            "c",
            "c0",
            "c01",
            "c-1",
            "c+1",
            "42",
            "garbage",
            "c1x",
            "c1234567890123456789",
            "C1",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_1_to_1000() {
        assert_eq!(Limit::parse("1").unwrap().get(), 1);
        assert_eq!(Limit::parse("1000").unwrap().get(), 1000);
        for bad in ["0", "1001", "-1", "abc", ""] {
            assert!(Limit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Limit::default().get(), 100);
    }
}
