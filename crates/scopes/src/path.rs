//! Request paths as the route matcher sees them.
//!
//! A path that could mean two things to the API behind keyward is rejected,
//! never guessed (DESIGN.md sections 1 and 9): `.`/`..` segments (also
//! encoded), encoded `/` or `\`, a raw `\`, `;`, empty segments, `%25`
//! (double encoding), NUL and other control characters, invalid
//! percent-encoding, bytes that are not UTF-8 once decoded, and anything not
//! starting with `/`. Other percent-encoding is decoded before matching. The
//! query string is ignored.
//!
//! Paths without `%` are checked in place, without allocating.

use std::borrow::Cow;

/// Why a path matches no route, whatever the catalog says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRejection {
    NotAbsolute,
    DotSegment,
    EmptySegment,
    Backslash,
    Semicolon,
    EncodedSlash,
    DoubleEncoding,
    InvalidEncoding,
    NotUtf8,
    ControlCharacter,
    Fragment,
}

impl PathRejection {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAbsolute => "the path does not start with `/`",
            Self::DotSegment => "the path has a `.` or `..` segment",
            Self::EmptySegment => "the path has an empty segment (`//`)",
            Self::Backslash => "the path has a `\\`",
            Self::Semicolon => "the path has a `;`",
            Self::EncodedSlash => "the path has a percent-encoded `/` or `\\`",
            Self::DoubleEncoding => "the path has a `%25` (double encoding)",
            Self::InvalidEncoding => "the path has invalid percent-encoding",
            Self::NotUtf8 => "the path is not UTF-8 once decoded",
            Self::ControlCharacter => "the path has a NUL or control character",
            Self::Fragment => "the path has a `#`",
        }
    }
}

impl std::fmt::Display for PathRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The decoded path, query string removed, or why it matches nothing.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathRejection> {
    let path = raw.split_once('?').map_or(raw, |(path, _query)| path);
    if !path.starts_with('/') {
        return Err(PathRejection::NotAbsolute);
    }
    check_raw_bytes(path.as_bytes())?;
    let decoded = if path.as_bytes().contains(&b'%') {
        Cow::Owned(percent_decode(path)?)
    } else {
        Cow::Borrowed(path)
    };
    check_segments(&decoded)?;
    Ok(decoded)
}

fn check_raw_bytes(path: &[u8]) -> Result<(), PathRejection> {
    for &b in path {
        match b {
            b'\\' => return Err(PathRejection::Backslash),
            b';' => return Err(PathRejection::Semicolon),
            b'#' => return Err(PathRejection::Fragment),
            0..=0x1f | 0x7f => return Err(PathRejection::ControlCharacter),
            _ => {}
        }
    }
    Ok(())
}

fn percent_decode(path: &str) -> Result<String, PathRejection> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
        let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(PathRejection::InvalidEncoding);
        };
        let decoded = hi << 4 | lo;
        match decoded {
            b'/' | b'\\' => return Err(PathRejection::EncodedSlash),
            b'%' => return Err(PathRejection::DoubleEncoding),
            b';' => return Err(PathRejection::Semicolon),
            b'#' => return Err(PathRejection::Fragment),
            0..=0x1f | 0x7f => return Err(PathRejection::ControlCharacter),
            _ => out.push(decoded),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| PathRejection::NotUtf8)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Segments after the leading `/`. Only the last may be empty: that is a
/// trailing slash (or the root `/`), which is significant.
fn check_segments(path: &str) -> Result<(), PathRejection> {
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "." | ".." => return Err(PathRejection::DotSegment),
            "" if segments.peek().is_some() => return Err(PathRejection::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// The segments of a normalized path, for the matcher.
pub fn segments(normalized: &str) -> std::str::Split<'_, char> {
    normalized[1..].split('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathRejection::*;

    #[test]
    fn plain_paths_are_borrowed_and_queries_dropped() {
        assert!(matches!(
            normalize("/api/v1/contacts"),
            Ok(Cow::Borrowed("/api/v1/contacts"))
        ));
        assert_eq!(normalize("/a/b?x=1/../../c").unwrap(), "/a/b");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/a/").unwrap(), "/a/");
    }

    #[test]
    fn ordinary_percent_encoding_is_decoded() {
        assert_eq!(normalize("/kb/caf%C3%A9").unwrap(), "/kb/café");
        assert_eq!(normalize("/a%20b").unwrap(), "/a b");
        assert_eq!(normalize("/%61pi").unwrap(), "/api");
    }

    #[test]
    fn confusing_paths_are_rejected_with_their_reason() {
        let cases = [
            ("api/v1", NotAbsolute),
            ("", NotAbsolute),
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/..", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/%2E/b", DotSegment),
            ("/a/.%2e/b", DotSegment),
            ("/a//b", EmptySegment),
            ("//a", EmptySegment),
            ("/a\\b", Backslash),
            ("/a;b=c", Semicolon),
            ("/a/b%3bc", Semicolon),
            ("/a%2fb", EncodedSlash),
            ("/a%2Fb", EncodedSlash),
            ("/a%5cb", EncodedSlash),
            ("/a%252fb", DoubleEncoding),
            ("/a%zz", InvalidEncoding),
            ("/a%2", InvalidEncoding),
            ("/a%", InvalidEncoding),
            ("/a%ff", NotUtf8),
            ("/a%00", ControlCharacter),
            ("/a\0", ControlCharacter),
            ("/a\nb", ControlCharacter),
            ("/a#b", Fragment),
        ];
        for (path, reason) in cases {
            assert_eq!(normalize(path), Err(reason), "{path:?}");
        }
    }

    #[test]
    fn dots_inside_a_segment_are_fine() {
        assert_eq!(normalize("/files/report.v2.pdf").unwrap(), "/files/report.v2.pdf");
        assert_eq!(normalize("/a/...").unwrap(), "/a/...");
    }
}
