//! Time as keyward stores it: Unix milliseconds, shown as RFC 3339.

use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Millis {
        Millis((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn plus_seconds(self, seconds: i64) -> Millis {
        Millis(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// An RFC 3339 time whose UTC year is at most 9999 (so that it can be
    /// shown as RFC 3339 again).
    pub fn parse_rfc3339(s: &str) -> Option<Millis> {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        // 9999-12-31T23:59:59Z (`to_offset` would panic past year 9999).
        const LAST_SECOND_OF_9999: i64 = 253_402_300_799;
        if t.unix_timestamp() > LAST_SECOND_OF_9999 {
            return None;
        }
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok().map(Millis)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// `30d`, `12h`, `45m`, `90s` or `2w`, in seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = s.split_at(unit_at);
    let n: i64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_millisecond_precision() {
        let t = Millis(1_795_000_000_123);
        assert_eq!(Millis::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Millis::parse_rfc3339("2026-11-23T10:00:00Z"),
            Some(Millis(1_795_428_000_000))
        );
        assert_eq!(Millis::parse_rfc3339("tomorrow"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("12h"), Some(12 * 3600));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("3x"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
