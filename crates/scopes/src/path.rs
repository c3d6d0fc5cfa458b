//! Request paths as the route matcher sees them.
//!
//! A path that could mean two things to the API behind keyward is rejected,
//! never guessed (docs/CATALOG.md and docs/SECURITY.md): `.`/`..` segments (also
//! encoded), encoded `/` or `\`, a raw `\`, `;`, empty segments, `%25`
//! (double encoding), NUL and other control characters, invalid
//! percent-encoding, bytes that are not UTF-8 once decoded, raw characters
//! that are not valid in a URI, a `#`, an encoded `?` or `#`, and anything
//! not starting with `/`. Other percent-encoding is decoded before matching.
//! The query string (from the first raw `?`) is ignored.
//!
//! The invariant, checked by the fuzzer against a slow reference: a path
//! that is accepted has, raw and decoded, no `.`/`..` segment, no empty
//! segment except a final one, and none of `?`, `#`, `;`, `\`, NUL. The
//! decoded form is checked by the same scanner as the raw one, in a mode
//! where a `?` is refused instead of starting a query.
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
    /// `%3F`: once decoded, some servers would read a query there.
    EncodedQuery,
    /// A raw character that is not valid in a URI (space, `<`, `>`, `"`,
    /// `{`, `}`, `|`, `^`, backquote).
    InvalidCharacter,
    /// A letter that some routers fold to ASCII when they ignore case
    /// (`İ` to `i`, `ı` to `I`, `ſ` to `S`, the Kelvin sign to `k`),
    /// refused where `path_case = "insensitive"`.
    CaseConfusable,
    /// A character whose compatibility form (NFKC) holds a `.`, `/` or
    /// `\`, or that Windows' best-fit conversion turns into one (`．`,
    /// `‥`, `∕`, `／`, `＼`, `¥`...): a backend that maps it to ASCII sees
    /// `..` or another segment ([`LOOK_ALIKES`]).
    LookAlike,
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
            Self::Fragment => "the path has a `#` (raw or percent-encoded)",
            Self::EncodedQuery => "the path has a percent-encoded `?`",
            Self::InvalidCharacter => {
                "the path has a character that is not valid in a URI (space, `<>\"{}|^` or backquote)"
            }
            Self::CaseConfusable => {
                "the path has a letter some routers fold to ASCII when ignoring case (`İ`, `ı`, `ſ`, `K`)"
            }
            Self::LookAlike => {
                "the path has a character that some servers turn into `.`, `/` or `\\` (a full-width or compatibility form such as `．`, `‥`, `∕`, `／`, `＼`)"
            }
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
    if !raw.starts_with('/') {
        return Err(PathRejection::NotAbsolute);
    }
    let scan = check(raw.as_bytes(), Form::Raw)?;
    // `?` is ASCII, so `scan.len` is a character boundary.
    let path = raw.get(..scan.len).unwrap_or(raw);
    let (path, non_ascii) = if scan.encoded {
        let decoded = percent_decode(path)?;
        let again = check(decoded.as_bytes(), Form::Decoded)?;
        (Cow::Owned(decoded), again.non_ascii)
    } else {
        (Cow::Borrowed(path), scan.non_ascii)
    };
    // Non-ASCII control characters (C1, line and paragraph separators...)
    // and look-alikes of `.`, `/` and `\`: checked only when the scan saw
    // non-ASCII at all.
    if non_ascii {
        for c in path.chars().filter(|c| !c.is_ascii()) {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                return Err(PathRejection::ControlCharacter);
            }
            if is_look_alike(c) {
                return Err(PathRejection::LookAlike);
            }
        }
    }
    Ok(path)
}

/// Characters that become a `.`, `/` or `\` on the way to some backends,
/// sorted:
/// - every character whose NFKC form holds one (Unicode's compatibility
///   mappings: `．` U+FF0E, `․` U+2024, `‥` U+2025, `…` U+2026, `﹒` U+FE52,
///   `／` U+FF0F, `＼` U+FF3C, `﹨` U+FE68, `⒈` U+2488..., `℀` U+2100...;
///   a test checks the list against the Unicode tables);
/// - Windows' best-fit conversion to a code page (`WideCharToMultiByte`
///   without `WC_NO_BEST_FIT_CHARS`, the "WorstFit" research): `∕` U+2215
///   and `⁄` U+2044 to `/` (code page 1252), `¥` U+00A5 to `\` (932),
///   `₩` U+20A9 to `\` (949);
/// - other slashes and reverse slashes a mapping could take to ASCII:
///   `∖` U+2216, `⧵` U+29F5, `⧸` U+29F8, `⧹` U+29F9.
pub const LOOK_ALIKES: [char; 46] = [
    '\u{A5}',
    '\u{2024}',
    '\u{2025}',
    '\u{2026}',
    '\u{2044}',
    '\u{20A9}',
    '\u{2100}',
    '\u{2101}',
    '\u{2105}',
    '\u{2106}',
    '\u{2215}',
    '\u{2216}',
    '\u{2488}',
    '\u{2489}',
    '\u{248A}',
    '\u{248B}',
    '\u{248C}',
    '\u{248D}',
    '\u{248E}',
    '\u{248F}',
    '\u{2490}',
    '\u{2491}',
    '\u{2492}',
    '\u{2493}',
    '\u{2494}',
    '\u{2495}',
    '\u{2496}',
    '\u{2497}',
    '\u{2498}',
    '\u{2499}',
    '\u{249A}',
    '\u{249B}',
    '\u{29F5}',
    '\u{29F8}',
    '\u{29F9}',
    '\u{33C2}',
    '\u{33C7}',
    '\u{33D8}',
    '\u{FE19}',
    '\u{FE30}',
    '\u{FE52}',
    '\u{FE68}',
    '\u{FF0E}',
    '\u{FF0F}',
    '\u{FF3C}',
    '\u{1F100}',
];

fn is_look_alike(c: char) -> bool {
    LOOK_ALIKES.binary_search(&c).is_ok()
}

/// Whether a (normalized) path has a letter that Unicode case mapping
/// turns into an ASCII one: a case-insensitive router (Java's
/// `equalsIgnoreCase`, for one) may match it to an ASCII route that an
/// ASCII-only fold would not.
pub fn has_case_confusable(path: &str) -> bool {
    !path.is_ascii()
        && path
            .chars()
            .any(|c| matches!(c, '\u{130}' | '\u{131}' | '\u{17F}' | '\u{212A}'))
}

const ORDINARY: u8 = 0;
const SLASH: u8 = 1;
const PERCENT: u8 = 2;
const BACKSLASH: u8 = 3;
const SEMICOLON: u8 = 4;
const HASH: u8 = 5;
const CONTROL: u8 = 6;
const QUERY: u8 = 7;
const NOT_URI: u8 = 8;
const NON_ASCII: u8 = 9;

/// The class of every byte, so that the common case (an ordinary byte)
/// costs one load and one well-predicted branch.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [ORDINARY; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = CONTROL;
        b += 1;
    }
    table[0x7f] = CONTROL;
    let mut b = 0x80;
    while b < 0x100 {
        table[b] = NON_ASCII;
        b += 1;
    }
    table[b'/' as usize] = SLASH;
    table[b'%' as usize] = PERCENT;
    table[b'\\' as usize] = BACKSLASH;
    table[b';' as usize] = SEMICOLON;
    table[b'#' as usize] = HASH;
    table[b'?' as usize] = QUERY;
    let not_uri = b" <>\"{}|^`";
    let mut i = 0;
    while i < not_uri.len() {
        table[not_uri[i] as usize] = NOT_URI;
        i += 1;
    }
    table
};

/// Which form of the path is scanned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As sent: a `?` starts the query string, which is not checked.
    Raw,
    /// After percent-decoding: a `?` came from `%3F` and is refused, and
    /// characters that could not be sent raw (a space from `%20`) are fine.
    Decoded,
}

struct Scan {
    /// Length of the path before any query string.
    len: usize,
    /// Whether it has percent-encoding to decode (and check again).
    encoded: bool,
    /// Whether it has bytes outside ASCII (to check as characters).
    non_ascii: bool,
}

/// One pass over the bytes up to the query string: forbidden bytes and
/// segment rules. Ordinary bytes (most of a path) cost one table load and
/// one well-predicted branch each; only the others are looked at further.
fn check(path: &[u8], form: Form) -> Result<Scan, PathRejection> {
    let mut encoded = false;
    let mut non_ascii = false;
    let mut len = path.len();
    // Start of the current segment (after its leading `/`).
    let mut segment_start = 1;
    let mut i = 1;
    while let Some(&b) = path.get(i) {
        let class = BYTE_CLASS[b as usize];
        if class == ORDINARY {
            i += 1;
            continue;
        }
        match class {
            SLASH => {
                check_segment(path.get(segment_start..i).unwrap_or_default(), false)?;
                segment_start = i + 1;
            }
            QUERY if form == Form::Raw => {
                len = i;
                break;
            }
            QUERY => return Err(PathRejection::EncodedQuery),
            NOT_URI if form == Form::Raw => return Err(PathRejection::InvalidCharacter),
            NOT_URI => {}
            PERCENT => encoded = true,
            NON_ASCII => non_ascii = true,
            BACKSLASH => return Err(PathRejection::Backslash),
            SEMICOLON => return Err(PathRejection::Semicolon),
            HASH => return Err(PathRejection::Fragment),
            _ => return Err(PathRejection::ControlCharacter),
        }
        i += 1;
    }
    check_segment(path.get(segment_start..len).unwrap_or_default(), true)?;
    Ok(Scan {
        len,
        encoded,
        non_ascii,
    })
}

/// Only the last segment may be empty: that is a trailing slash (or the
/// root `/`), which is significant.
#[inline]
fn check_segment(segment: &[u8], is_last: bool) -> Result<(), PathRejection> {
    if segment.len() > 2 {
        return Ok(());
    }
    match segment {
        b"." | b".." => Err(PathRejection::DotSegment),
        b"" if !is_last => Err(PathRejection::EmptySegment),
        _ => Ok(()),
    }
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
            b'?' => return Err(PathRejection::EncodedQuery),
            0..=0x1f | 0x7f => return Err(PathRejection::ControlCharacter),
            _ => out.push(decoded),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| PathRejection::NotUtf8)
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
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
        assert_eq!(normalize("/a%7Bb%7D").unwrap(), "/a{b}", "encoded, they are data");
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
            ("/a%23b", Fragment),
            // An encoded `?` ends the path for some servers only: the
            // Atender hole (`/kb/x%3F/../../users` was allowed).
            ("/kb/x%3F/%2e%2e/%2e%2e/users", EncodedQuery),
            ("/kb/x%3f", EncodedQuery),
            ("/a b", InvalidCharacter),
            ("/a<b", InvalidCharacter),
            ("/a>b", InvalidCharacter),
            ("/a\"b", InvalidCharacter),
            ("/a{b}", InvalidCharacter),
            ("/a|b", InvalidCharacter),
            ("/a^b", InvalidCharacter),
            ("/a`b", InvalidCharacter),
            ("/a%C2%85b", ControlCharacter),
            ("/a\u{85}b", ControlCharacter),
            ("/a%E2%80%A8b", ControlCharacter),
        ];
        for (path, reason) in cases {
            assert_eq!(normalize(path), Err(reason), "{path:?}");
        }
    }

    #[test]
    fn look_alikes_of_dot_and_slashes_are_refused_raw_and_encoded() {
        for c in LOOK_ALIKES {
            let mut utf8 = [0; 4];
            let encoded: String = c.encode_utf8(&mut utf8).bytes().map(|b| format!("%{b:02X}")).collect();
            for path in [
                format!("/things/{c}{c}"),
                format!("/things/x{c}y"),
                format!("/things/x{encoded}y"),
            ] {
                assert_eq!(normalize(&path), Err(LookAlike), "U+{:04X} in {path}", c as u32);
            }
        }
        assert_eq!(
            normalize("/kb/caf%C3%A9").unwrap(),
            "/kb/café",
            "other non-ASCII is fine"
        );
        assert_eq!(normalize("/kb/日本語").unwrap(), "/kb/日本語");
    }

    #[test]
    fn the_look_alikes_are_sorted_for_the_binary_search() {
        assert!(LOOK_ALIKES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn dots_inside_a_segment_are_fine() {
        assert_eq!(normalize("/files/report.v2.pdf").unwrap(), "/files/report.v2.pdf");
        assert_eq!(normalize("/a/...").unwrap(), "/a/...");
    }

    #[test]
    fn the_query_string_is_not_checked_but_an_encoded_one_is_refused() {
        assert_eq!(normalize("/a?b c<>{}|^`#").unwrap(), "/a");
        assert_eq!(normalize("/a%41?x=%2e%2e/").unwrap(), "/aA");
    }
}
