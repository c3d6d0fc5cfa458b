//! Path confusion (docs/CATALOG.md and docs/SECURITY.md): request paths against
//! `keyward_scopes::path::normalize` and `Catalog::decide_route`.
//!
//! Input: one method selector byte, then the request target as sent. The
//! target is checked against
//! - the invariant of section 9: whenever `normalize` accepts a path, or a
//!   decision matched a route or allowed the request, the raw path (up to
//!   the first `?`) and the decoded path have no `.`/`..` segment, no empty
//!   segment except a final one, and none of `?`, `#`, `;`, `\`, NUL;
//! - a slow reference decoder written from the documented rules (docs/SECURITY.md; not from
//!   path.rs): `normalize` must accept exactly what it accepts, with the
//!   same decoded path;
//! - HEAD routes as GET (no catalog here lists HEAD);
//! - with `path_case = "insensitive"` and `trailing_slash = "ignore"`, a
//!   path is decided as its ASCII lower-case form and as itself plus `/`.
//!
//! Each rule broken panics with the rule's name and the path.

#![no_main]

use std::sync::LazyLock;

use keyward_scopes::{Catalog, Grants};
use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;

const ROUTES: &str = r#"
[resources.kb]
actions.read = "Read articles"
actions.write = "Write articles"

[resources.users]
actions.read = "Read users"

[resources.files]
actions.read = "Read files"
actions.purge = { description = "Never on a key", grantable = false }

[[routes]]
methods = ["GET"]
path = "/"
scopes = ["users:read"]

[[routes]]
methods = ["GET"]
path = "/api/v1/kb"
scopes = ["kb:read"]

[[routes]]
methods = ["GET"]
path = "/api/v1/kb/{*rest}"
scopes = ["kb:read"]

[[routes]]
methods = ["POST", "PUT", "PATCH", "DELETE"]
path = "/api/v1/kb/{*rest}"
scopes = ["kb:write"]

[[routes]]
methods = ["GET"]
path = "/api/v1/users"
scopes = ["users:read"]

[[routes]]
methods = ["GET"]
path = "/api/v1/users/me"
scopes = ["users:read"]

[[routes]]
methods = ["GET", "DELETE"]
path = "/api/v1/users/{id}"
scopes = ["users:read"]

[[routes]]
methods = ["GET"]
path = "/api/v1/users/{id}/files/{file}"
scopes = ["users:read", "files:read"]

[[routes]]
methods = ["GET"]
path = "/api/v1/files/"
scopes = ["files:read"]

[[routes]]
methods = ["DELETE"]
path = "/api/v1/files/{id}"
scopes = ["files:purge"]

[[routes]]
methods = ["GET"]
path = "/caf\u00e9/{name}"
scopes = ["kb:read"]

[[routes]]
methods = ["OPTIONS"]
path = "/api/{*rest}"
scopes = ["kb:read"]
"#;

struct Setup {
    catalog: Catalog,
    grants: Grants,
    /// `path_case = "insensitive"` and `trailing_slash = "ignore"`.
    loose: bool,
}

fn setup(api: &str) -> Option<Setup> {
    let source = format!("[api]\nname = \"Fuzz\"\nkey_prefix = \"fz\"\n{api}\n{ROUTES}");
    match Catalog::from_toml("fuzz", &source) {
        Ok(catalog) => {
            let grants = catalog.compile_grants(&["*"]);
            let loose = api.contains("path_case");
            Some(Setup { catalog, grants, loose })
        }
        Err(e) => {
            eprintln!("path_route: catalog variant skipped ({api:?}): {e}");
            None
        }
    }
}

/// The strict default, `unknown_routes = "allow"` (the path checks must
/// hold whatever it says), and routing as loose as Express's. The last needs
/// `path_case` and `trailing_slash` (docs/CATALOG.md); a build without
/// them says so once on stderr and fuzzes the other two.
static CATALOGS: LazyLock<Vec<Setup>> = LazyLock::new(|| {
    let strict = setup("unknown_routes = \"deny\"");
    let allow = setup("unknown_routes = \"allow\"");
    // The first two must exist: they use nothing new.
    assert!(strict.is_some() && allow.is_some(), "the fixed catalogs must load");
    let loose = setup("unknown_routes = \"allow\"\npath_case = \"insensitive\"\ntrailing_slash = \"ignore\"");
    [strict, allow, loose].into_iter().flatten().collect()
});

const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "TRACE", "",
];

/// Readable seeds: `G/path` is a GET, `H` HEAD, `P` POST, `U` PUT, `A`
/// PATCH, `D` DELETE, `O` OPTIONS; any other byte picks by its value.
fn method(selector: u8) -> &'static str {
    match selector {
        b'G' => "GET",
        b'H' => "HEAD",
        b'P' => "POST",
        b'U' => "PUT",
        b'A' => "PATCH",
        b'D' => "DELETE",
        b'O' => "OPTIONS",
        other => METHODS[usize::from(other) % METHODS.len()],
    }
}

// ---------------------------------------------------------------------
// The invariant of section 9.

/// Why `path` (raw up to the first `?`, or decoded) breaks the invariant.
fn invariant_broken(path: &str, decoded: bool) -> Option<&'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some("does not start with `/`");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "." || *segment == ".." {
            return Some("has a `.` or `..` segment");
        }
        if segment.is_empty() && i != last {
            return Some("has an empty segment that is not the last");
        }
    }
    if decoded && path.contains('?') {
        return Some("has a `?` once decoded");
    }
    match path.chars().find(|c| matches!(c, '#' | ';' | '\\' | '\0')) {
        Some('#') => Some("has a `#`"),
        Some(';') => Some("has a `;`"),
        Some('\\') => Some("has a `\\`"),
        Some(_) => Some("has a NUL"),
        None => None,
    }
}

fn assert_invariant(raw: &str, decoded: &str, what: &str) {
    let raw_path = raw.split('?').next().unwrap_or(raw);
    if let Some(why) = invariant_broken(raw_path, false) {
        panic!("section 9 invariant: {what} {raw:?} although the raw path {why}");
    }
    if let Some(why) = invariant_broken(decoded, true) {
        panic!("section 9 invariant: {what} {raw:?} although the decoded path {decoded:?} {why}");
    }
}

// ---------------------------------------------------------------------
// The slow reference: docs/CATALOG.md and docs/SECURITY.md, one rule at a time.

/// Raw characters that are not valid anywhere in a URI (section 8).
const NOT_IN_URI: &[char] = &[' ', '<', '>', '"', '{', '}', '|', '^', '`'];

fn is_ascii_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn segments_ok(path: &str) -> Result<(), &'static str> {
    let rest = path.strip_prefix('/').ok_or("not absolute")?;
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "." || *segment == ".." {
            return Err("dot segment");
        }
        if segment.is_empty() && i + 1 != segments.len() {
            return Err("empty segment");
        }
    }
    Ok(())
}

/// The decoded path, or the rule that refuses it.
fn reference(raw: &str) -> Result<String, &'static str> {
    if !raw.starts_with('/') {
        return Err("not absolute");
    }
    // The query string starts at the first raw `?` and is never looked at.
    let path = raw.split('?').next().unwrap_or(raw);
    for c in path.chars() {
        match c {
            '\\' => return Err("raw backslash"),
            ';' => return Err("raw semicolon"),
            '#' => return Err("raw fragment"),
            c if c.is_ascii_control() => return Err("raw control character"),
            c if NOT_IN_URI.contains(&c) => return Err("raw character not valid in a URI"),
            _ => {}
        }
    }
    segments_ok(path)?;
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err("invalid percent-encoding");
        };
        let b = hi * 16 + lo;
        match b {
            b'/' | b'\\' => return Err("encoded slash or backslash"),
            b'%' => return Err("double encoding (%25)"),
            b'?' => return Err("encoded `?`"),
            b'#' => return Err("encoded `#`"),
            b';' => return Err("encoded semicolon"),
            b if is_ascii_control(b) => return Err("encoded control character"),
            _ => decoded.push(b),
        }
        i += 3;
    }
    let decoded = String::from_utf8(decoded).map_err(|_| "not UTF-8 once decoded")?;
    // Dot segments in any encoding (`%2e`, `.%2E`, ...) show up here.
    segments_ok(&decoded)?;
    // Controls beyond ASCII (C1, raw or encoded), and the line and
    // paragraph separators that some parsers end a line at.
    if decoded
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err("non-ASCII control character");
    }
    // Look-alikes of `.`, `/` and `\`: a character whose NFKC form holds
    // one (computed here from Unicode's tables, not from path.rs's list),
    // or one that Windows' best-fit conversion or a slash-like form maps
    // to one.
    const BEST_FIT: [char; 8] = ['\u{A5}', '\u{2044}', '\u{20A9}', '\u{2215}', '\u{2216}', '\u{29F5}', '\u{29F8}', '\u{29F9}'];
    if decoded.chars().filter(|c| !c.is_ascii()).any(|c| {
        BEST_FIT.contains(&c) || std::iter::once(c).nfkc().any(|d| matches!(d, '.' | '/' | '\\'))
    }) {
        return Err("look-alike of `.`, `/` or `\\`");
    }
    Ok(decoded)
}

// ---------------------------------------------------------------------

fuzz_target!(|data: &[u8]| {
    let Some((&selector, path)) = data.split_first() else {
        return;
    };
    let raw = String::from_utf8_lossy(path);
    let raw: &str = &raw;

    let normalized = keyward_scopes::path::normalize(raw);
    let expected = reference(raw);
    if let Ok(decoded) = &normalized {
        assert_invariant(raw, decoded, "normalize accepted");
    }
    match (&normalized, &expected) {
        (Ok(got), Ok(want)) => assert_eq!(
            got.as_ref(),
            want.as_str(),
            "normalize and the reference decode {raw:?} differently"
        ),
        (Ok(got), Err(rule)) => {
            panic!("normalize accepted {raw:?} as {got:?}; the documented rules refuse it ({rule})")
        }
        (Err(rejection), Ok(want)) => {
            panic!("normalize refused {raw:?} ({rejection:?}); the documented rules accept it as {want:?}")
        }
        (Err(_), Err(_)) => {}
    }

    let method = method(selector);
    for setup in CATALOGS.iter() {
        let decision = setup.catalog.decide_route(&setup.grants, method, raw);
        if decision.route().is_some() || decision.allowed() {
            let what = if decision.allowed() {
                "decide_route allowed"
            } else {
                "decide_route matched a route for"
            };
            let Ok(decoded) = &normalized else {
                panic!("{what} {raw:?} ({method}) although normalize refuses it: {normalized:?}");
            };
            assert_invariant(raw, decoded, what);
        }
        if method == "GET" {
            let head = setup.catalog.decide_route(&setup.grants, "HEAD", raw);
            assert_eq!(
                (head.outcome(), head.route().map(|r| r.line)),
                (decision.outcome(), decision.route().map(|r| r.line)),
                "HEAD {raw:?} is not decided as GET (section 8)"
            );
        }
        if setup.loose {
            let decided = |path: &str| {
                let d = setup.catalog.decide_route(&setup.grants, method, path);
                (d.outcome(), d.route().map(|r| r.line))
            };
            let lower = raw.to_ascii_lowercase();
            assert_eq!(
                decided(&lower),
                decided(raw),
                "path_case = insensitive: {lower:?} is not decided as {raw:?} (section 8: ASCII folding)"
            );
            let (path, query) = raw.split_at(raw.find('?').unwrap_or(raw.len()));
            if !path.is_empty() && !path.ends_with('/') {
                let slashed = format!("{path}/{query}");
                assert_eq!(
                    decided(&slashed),
                    decided(raw),
                    "trailing_slash = ignore: {slashed:?} is not decided as {raw:?}"
                );
            }
        }
    }
});
