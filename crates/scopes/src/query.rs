//! Query strings as the API's framework reads them: method overrides.
//!
//! A `_method` parameter in the query string makes a framework run another
//! method than the one sent (Laravel and Symfony, Express's
//! `method-override`, Spring's `HiddenHttpMethodFilter`, gorilla's
//! `HTTPMethodOverrideHandler`). Frameworks decode a parameter's name
//! before they look it up, and each parser decodes differently, so a name
//! is read as `_method` when any of the readings below gives `_method`
//! (docs/SECURITY.md says which parser does what; the differential test
//! runs the real parsers):
//!
//! - pairs are split at `&` and at `;` (Rack 2, older Python and Go); the
//!   name ends at the first `=`; a raw `#` ends nothing (an API behind a
//!   proxy gets everything after the `?`);
//! - `+` is a space; `%XX` (either case) and `%uXXXX` are decoded, again
//!   while the result still holds a `%` or `+` (a proxy or framework that
//!   decodes twice), up to [`MAX_DECODINGS`] times;
//! - the name is cut at the first NUL (PHP);
//! - leading spaces, `[`, `]` and `?` are dropped (PHP, Rack, qs's
//!   `ignoreQueryPrefix`, `URLSearchParams`);
//! - the name ends at the first `[` or `]` (array forms: PHP, qs, Rack);
//! - `.` and a space read as `_` (PHP), or leading dots dropped and the
//!   name ended at the next `.` (qs with `allowDots`: `._method` is
//!   `[_method]`, `_method.x` is `_method[x]`);
//! - the query decoded as a whole, again up to [`MAX_DECODINGS`] times,
//!   and its pairs read again: an encoded `&`, `;` or `=` (`%26`, `%3B`,
//!   `%3D`) makes pairs for a proxy that decodes before the API parses;
//! - letters compare without case (ASP.NET's collections ignore it).
//!
//! So keyward refuses every name a tested parser reads as `_method`, and
//! some that none of them does (`_METHOD`, `%255Fmethod`, `%u005Fmethod`,
//! `_method[`): a name whose meaning depends on the parser is refused, not
//! guessed. Names shorter than `_method` are never decoded (decoding only
//! shortens), and a name without `%` or `+` is read in place: an ordinary
//! query costs one pass and no allocation.

use std::borrow::Cow;

use crate::path::hex_value;

/// How many times a name is decoded at most.
pub const MAX_DECODINGS: usize = 4;

const OVERRIDE: &[u8; 7] = b"_method";

/// Two `_method` parameters with different values: the framework would
/// run one of them, and which one depends on the parser (PHP takes the
/// last, Node's `querystring` gives both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictingOverrides {
    pub first: String,
    pub second: String,
}

impl std::fmt::Display for ConflictingOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`_method` parameters in the query string disagree ({:?} and {:?})",
            self.first, self.second
        )
    }
}

/// The query string of a request target: everything after the first `?`
/// (a `#` included: a client can send one, and the API's framework may
/// read past it).
pub fn query_of(target: &str) -> Option<&str> {
    target.split_once('?').map(|(_, query)| query)
}

/// The method a `_method` parameter of `target`'s query string asks for,
/// its value decoded; `None` without one.
pub fn method_override(target: &str) -> Result<Option<Cow<'_, str>>, ConflictingOverrides> {
    let Some(query) = query_of(target) else {
        return Ok(None);
    };
    let mut found: Option<Cow<'_, str>> = None;
    read_pairs(query, &mut found)?;
    // Decoded as a whole (a proxy that decodes the query before the API
    // parses it), an encoded `&`, `;`, `=`, `+` or `%` would make other
    // pairs: read those too. Only a `%2x`, `%3x` or `%u` escape can.
    if may_hide_separators(query) {
        let mut decoded = query.as_bytes().to_vec();
        for _ in 0..MAX_DECODINGS {
            let again = decode(&decoded);
            if again == decoded {
                break;
            }
            decoded = again;
            let text = String::from_utf8_lossy(&decoded).into_owned();
            let mut hidden: Option<Cow<'_, str>> = None;
            read_pairs(&text, &mut hidden)?;
            if let Some(value) = hidden {
                merge(&mut found, Cow::Owned(value.into_owned()))?;
            }
        }
    }
    Ok(found)
}

fn read_pairs<'q>(query: &'q str, found: &mut Option<Cow<'q, str>>) -> Result<(), ConflictingOverrides> {
    for pair in query.split(['&', ';']) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if is_override_name(name.as_bytes()) {
            merge(found, decode_value(value))?;
        }
    }
    Ok(())
}

fn merge<'q>(found: &mut Option<Cow<'q, str>>, value: Cow<'q, str>) -> Result<(), ConflictingOverrides> {
    match found {
        Some(seen) if *seen != value => Err(ConflictingOverrides {
            first: seen.clone().into_owned(),
            second: value.into_owned(),
        }),
        Some(_) => Ok(()),
        None => {
            *found = Some(value);
            Ok(())
        }
    }
}

fn may_hide_separators(query: &str) -> bool {
    query
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'%' && matches!(w[1], b'2' | b'3' | b'u' | b'U'))
}

/// Whether any reading of the module's list makes this raw parameter name
/// `_method`.
pub fn is_override_name(raw: &[u8]) -> bool {
    if raw.len() < OVERRIDE.len() {
        return false;
    }
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return reads_as_override(raw);
    }
    let mut name = decode(raw);
    for round in 1..=MAX_DECODINGS {
        if round > 1 {
            name = decode(&name);
        }
        if reads_as_override(&name) {
            return true;
        }
        if name.len() < OVERRIDE.len() || !name.iter().any(|&b| b == b'%' || b == b'+') {
            return false;
        }
    }
    false
}

/// A decoded name, read with the steps after decoding.
fn reads_as_override(name: &[u8]) -> bool {
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let rest = trim_start(name, b" []?");
    // PHP, Rack, qs: arrays end the name; PHP reads `.` and space as `_`.
    if base_is_override(rest, b"[]", true) {
        return true;
    }
    // qs with `allowDots`: a dot opens a bracket group (`._method` is
    // `[_method]`, `_method.x` is `_method[x]`).
    base_is_override(trim_start(rest, b" []?."), b"[].", false)
}

fn trim_start<'n>(name: &'n [u8], drop: &[u8]) -> &'n [u8] {
    let start = name.iter().position(|b| !drop.contains(b)).unwrap_or(name.len());
    name.get(start..).unwrap_or_default()
}

fn base_is_override(name: &[u8], ends: &[u8], dots_as_underscores: bool) -> bool {
    let end = name.iter().position(|b| ends.contains(b)).unwrap_or(name.len());
    let base = name.get(..end).unwrap_or_default();
    base.len() == OVERRIDE.len()
        && base.iter().zip(OVERRIDE).all(|(&b, &want)| {
            let b = match b {
                b' ' => b'_',
                b'.' if dots_as_underscores => b'_',
                b => b.to_ascii_lowercase(),
            };
            b == want
        })
}

/// One round of decoding: `+` to a space, `%XX` and `%uXXXX`; a `%` that
/// starts neither stays as it is (PHP, Node and Python keep it).
fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                if let Some(byte) = hex_pair(bytes.get(i + 1..i + 3)) {
                    out.push(byte);
                    i += 3;
                } else if let Some(c) = percent_u(bytes.get(i + 1..i + 6)) {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// An override's value, decoded once (`+`, `%XX`, `%uXXXX`), as the method
/// the framework would run.
fn decode_value(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(value);
    }
    match String::from_utf8(decode(value.as_bytes())) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    match pair? {
        [hi, lo] => Some(hex_value(*hi)? << 4 | hex_value(*lo)?),
        _ => None,
    }
}

/// `uXXXX`, the escape of IIS and of JavaScript's `unescape`.
fn percent_u(escape: Option<&[u8]>) -> Option<char> {
    let [u, digits @ ..] = escape? else { return None };
    if !u.eq_ignore_ascii_case(&b'u') || digits.len() != 4 {
        return None;
    }
    let code = digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc << 4 | u32::from(hex_value(d)?)))?;
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(query: &str) -> Option<String> {
        method_override(&format!("/x?{query}")).unwrap().map(Cow::into_owned)
    }

    #[test]
    fn every_spelling_a_framework_decodes_is_an_override() {
        for query in [
            "_method=DELETE",
            "_m%65thod=DELETE",
            "%5F%6D%65%74%68%6F%64=DELETE",
            "%5f%6d%65%74%68%6f%64=DELETE",
            ".method=DELETE",
            "_method%00=DELETE",
            "_method%00x=DELETE",
            "+_method=DELETE",
            "%20_method=DELETE",
            "a=1& _method=DELETE",
            "_method[]=DELETE",
            "_method%5B%5D=DELETE",
            "_method[x]=DELETE",
            "[_method]=DELETE",
            "]_method=DELETE",
            "_method]=DELETE",
            "[[_method]]=DELETE",
            "a=1;_method=DELETE",
            "a=1#&_method=DELETE",
            "_METHOD=DELETE",
            "%255Fmethod=DELETE",
            "%25255Fmethod=DELETE",
            "%u005Fmethod=DELETE",
            "%2B_method=DELETE",
            "._method=DELETE",
            "%2E_method=DELETE",
            "._method.=DELETE",
            "_method.x=DELETE",
            "?_method=DELETE",
            "x=%26_method%3DDELETE",
            "x%26_method=DELETE",
        ] {
            assert_eq!(reads(query).as_deref(), Some("DELETE"), "{query}");
        }
    }

    #[test]
    fn a_name_without_a_value_is_an_override_too() {
        assert_eq!(reads("_method").as_deref(), Some(""));
        assert_eq!(reads("a=1&_method&b=2").as_deref(), Some(""));
    }

    #[test]
    fn ordinary_names_are_not_overrides() {
        for query in [
            "method=DELETE",
            "x_method=DELETE",
            "_methods=DELETE",
            "_method_=DELETE",
            "_method%20=DELETE",
            "__method=DELETE",
            "_m.ethod=DELETE",
            "%00_method=DELETE",
            "%09_method=DELETE",
            "_method%0a=DELETE",
            "_method%=DELETE",
            "next=%2Fx%3F_method%3DDELETE",
            "q=_method",
            "",
            "a",
        ] {
            assert_eq!(reads(query), None, "{query}");
        }
        assert_eq!(method_override("/x"), Ok(None));
        assert_eq!(method_override("/x/_method=DELETE"), Ok(None));
    }

    #[test]
    fn values_are_decoded_and_must_agree() {
        assert_eq!(reads("_method=DEL%45TE").as_deref(), Some("DELETE"));
        assert_eq!(reads("_method=DELETE&%5Fmethod=DELETE").as_deref(), Some("DELETE"));
        assert_eq!(reads("_method=a+b").as_deref(), Some("a b"));
        assert_eq!(
            method_override("/x?_method=GET&_m%65thod=DELETE"),
            Err(ConflictingOverrides {
                first: "GET".into(),
                second: "DELETE".into()
            })
        );
    }

    #[test]
    fn plain_names_are_read_in_place() {
        assert!(matches!(
            method_override("/x?_method=DELETE"),
            Ok(Some(Cow::Borrowed("DELETE")))
        ));
    }
}
