//! Models, in plain Rust, of how widely used query-string parsers read a
//! parameter's name, and of keyward's own rule (docs/SECURITY.md), written
//! slowly and straight from the documented steps, not from
//! `keyward_scopes::query`.
//!
//! `parsers.rs` checks each parser's model against the real parser on a
//! generated table; the `query_override` fuzz target includes this file
//! and checks, on any input, that keyward refuses exactly what the
//! reference rule reads, and that the reference reads whatever a parser's
//! model reads. Each model answers one question: does the parser give the
//! application a top-level parameter named `_method`?
//!
//! Written for PHP 8.2's `parse_str` (and `$_GET`), Node 20's
//! `querystring.parse`, `qs` 6.17 with its defaults and with `allowDots`, Rack 2.2's
//! `parse_nested_query` and Python 3.11's `parse_qsl` with
//! `keep_blank_values`.

// The fuzz target uses the models, not the classification.
#![allow(dead_code)]

const OVERRIDE: &[u8] = b"_method";

fn is_override(name: &[u8], fold: bool) -> bool {
    if fold {
        name.eq_ignore_ascii_case(OVERRIDE)
    } else {
        name == OVERRIDE
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `+` to a space and every `%` with two hex digits decoded; any other
/// `%` kept. What PHP's `urldecode`, Python's `unquote` and Node's
/// fallback decoder do.
fn lenient_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Whether every `%` starts two hex digits (else `decodeURIComponent` and
/// Ruby's `decode_www_form_component` fail).
fn escapes_are_valid(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().filter(|(_, &b)| b == b'%').all(|(i, _)| {
        matches!(
            (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex)
            ),
            (Some(_), Some(_))
        )
    })
}

/// PHP: pairs at `&`; the name decoded, leading spaces dropped, cut at
/// NUL; `.` and space read as `_` up to the first `[`; with a `]` after
/// it the name is what comes before (an array), without one the `[`
/// reads as `_`; an empty name is dropped.
pub fn php(query: &[u8], fold: bool) -> bool {
    query.split(|&b| b == b'&').filter(|t| !t.is_empty()).any(|token| {
        let raw = token.splitn(2, |&b| b == b'=').next().unwrap_or_default();
        let decoded = lenient_decode(raw);
        let start = decoded.iter().position(|&b| b != b' ').unwrap_or(decoded.len());
        let name = &decoded[start..];
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        let mut base = Vec::new();
        let mut bracket = None;
        for (i, &b) in name.iter().enumerate() {
            match b {
                b' ' | b'.' => base.push(b'_'),
                b'[' => {
                    bracket = Some(i);
                    break;
                }
                b => base.push(b),
            }
        }
        if base.is_empty() {
            return false;
        }
        let key = match bracket {
            Some(i) if !name[i + 1..].contains(&b']') => [&base[..], b"_", &name[i + 1..]].concat(),
            _ => base,
        };
        is_override(&key, fold)
    })
}

/// Node's `querystring`: pairs at `&`, the name decoded (`+` and `%XX`;
/// an undecodable escape kept).
pub fn node_querystring(query: &[u8], fold: bool) -> bool {
    query.split(|&b| b == b'&').any(|piece| {
        let raw = piece.splitn(2, |&b| b == b'=').next().unwrap_or_default();
        is_override(&lenient_decode(raw), fold)
    })
}

/// Python's `parse_qsl(keep_blank_values=True)`: as Node's for names.
pub fn python(query: &[u8], fold: bool) -> bool {
    query.split(|&b| b == b'&').filter(|p| !p.is_empty()).any(|piece| {
        let raw = piece.splitn(2, |&b| b == b'=').next().unwrap_or_default();
        is_override(&lenient_decode(raw), fold)
    })
}

/// `qs`: `%5B`/`%5D` turned into brackets in the whole string first; pairs
/// at `&`, the name ending at `]=` or else at the first `=`; the name
/// decoded strictly (`decodeURIComponent`; if that fails, only `+`); the
/// top-level name is what comes before the first `[`, or, when the name
/// starts with one, the first balanced bracket group without its brackets.
pub fn qs(query: &[u8], fold: bool) -> bool {
    qs_with(query, fold, false)
}

/// `qs` with `allowDots: true`: a dot outside brackets, followed by
/// something, opens a bracket group (`a.b` is `a[b]`, `._method` is
/// `[_method]`).
pub fn qs_dots(query: &[u8], fold: bool) -> bool {
    qs_with(query, fold, true)
}

fn top_level_dots_to_brackets(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < key.len() {
        let c = key[i];
        if c == b'[' {
            depth += 1;
            out.push(c);
        } else if c == b']' {
            if depth > 0 {
                depth -= 1;
            }
            out.push(c);
        } else if c == b'.' && depth == 0 && i + 1 < key.len() && key[i + 1] != b'.' && key[i + 1] != b'[' {
            let start = i + 1;
            let mut j = start;
            while j < key.len() && key[j] != b'.' && key[j] != b'[' {
                j += 1;
            }
            out.push(b'[');
            out.extend_from_slice(&key[start..j]);
            out.push(b']');
            i = j;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn qs_with(query: &[u8], fold: bool, allow_dots: bool) -> bool {
    let mut clean = Vec::new();
    let mut i = 0;
    while i < query.len() {
        let rest = &query[i..];
        if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'5' && matches!(rest[2], b'B' | b'b') {
            clean.push(b'[');
            i += 3;
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'5' && matches!(rest[2], b'D' | b'd') {
            clean.push(b']');
            i += 3;
        } else {
            clean.push(rest[0]);
            i += 1;
        }
    }
    clean.split(|&b| b == b'&').take(1000).any(|part| {
        let end = match part.windows(2).position(|w| w == b"]=") {
            Some(p) => Some(p + 1),
            None => part.iter().position(|&b| b == b'='),
        };
        let raw = &part[..end.unwrap_or(part.len())];
        let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        let key = if plus.contains(&b'%') && escapes_are_valid(&plus) {
            let decoded = lenient_decode(&plus);
            if std::str::from_utf8(&decoded).is_ok() {
                decoded
            } else {
                plus
            }
        } else {
            plus
        };
        if key.is_empty() {
            return false;
        }
        let key = if allow_dots {
            top_level_dots_to_brackets(&key)
        } else {
            key
        };
        is_override(&qs_top(&key), fold)
    })
}

fn qs_top(key: &[u8]) -> Vec<u8> {
    let Some(first) = key.iter().position(|&b| b == b'[') else {
        return key.to_vec();
    };
    if first > 0 {
        return key[..first].to_vec();
    }
    let mut level = 0;
    for (i, &b) in key.iter().enumerate() {
        match b {
            b'[' => level += 1,
            b']' => {
                level -= 1;
                if level == 0 {
                    return key[1..i].to_vec();
                }
            }
            _ => {}
        }
    }
    key.to_vec()
}

/// Rack 2.2: pairs at `&` or `;` (and the spaces after them); name and
/// value decoded strictly: any bad escape, or a name that is not UTF-8,
/// fails the whole query (the application answers 400 and reads
/// nothing); leading brackets dropped, the name the first run without
/// brackets (trailing `]` dropped), unless a lone `[` follows it.
pub fn rack(query: &[u8], fold: bool) -> bool {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < query.len() {
        if matches!(query[i], b'&' | b';') {
            pieces.push(&query[start..i]);
            i += 1;
            while i < query.len() && query[i] == b' ' {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(&query[start..]);
    let mut found = false;
    for piece in pieces {
        let mut halves = piece.splitn(2, |&b| b == b'=');
        let raw = halves.next().unwrap_or_default();
        let value = halves.next().unwrap_or_default();
        if !escapes_are_valid(raw) || !escapes_are_valid(value) {
            return false;
        }
        let name = lenient_decode(raw);
        if std::str::from_utf8(&name).is_err() {
            return false;
        }
        let lead = name
            .iter()
            .position(|&b| !matches!(b, b'[' | b']'))
            .unwrap_or(name.len());
        let run_end = name[lead..]
            .iter()
            .position(|&b| matches!(b, b'[' | b']'))
            .map_or(name.len(), |p| lead + p);
        let k = &name[lead..run_end];
        if k.is_empty() {
            continue;
        }
        let closing = name[run_end..].iter().take_while(|&&b| b == b']').count();
        let after = &name[run_end + closing..];
        let top = if after == b"[" { &name[..] } else { k };
        found |= is_override(top, fold);
    }
    found
}

/// The parsers whose models read a `_method` in `query`.
pub fn readers(query: &str, fold: bool) -> Vec<&'static str> {
    let q = query.as_bytes();
    let mut names = Vec::new();
    for (name, reads) in PARSERS {
        if reads(q, fold) {
            names.push(*name);
        }
    }
    names
}

/// A parser's model: whether it reads `_method` in a query, names compared
/// without case when asked.
pub type Reads = fn(&[u8], bool) -> bool;

pub const PARSERS: &[(&str, Reads)] = &[
    ("php", php),
    ("node-querystring", node_querystring),
    ("qs", qs),
    ("qs-allow-dots", qs_dots),
    ("rack", rack),
    ("python", python),
];

/// What keyward's rule is made of, to switch steps off when explaining a
/// refusal.
#[derive(Clone, Copy)]
pub struct Steps {
    pub decodings: usize,
    pub percent_u: bool,
}

pub const ALL_STEPS: Steps = Steps {
    decodings: 4,
    percent_u: true,
};

/// keyward's rule as docs/SECURITY.md states it: pairs at `&` and `;`,
/// the name before the first `=`, decoded (`+`, `%XX`, `%uXXXX`) up to four
/// times; after each decoding, cut at NUL, leading spaces, brackets and
/// `?` dropped, then either ended at the first bracket with `.` and space
/// as `_`, or its leading dots dropped too and ended at the next bracket
/// or dot; compared without case. And the same again on the
/// whole query decoded once, twice, up to four times.
pub fn reference(query: &str, steps: Steps) -> bool {
    let mut whole = query.as_bytes().to_vec();
    let rounds = if steps.decodings > 1 { 4 } else { 0 };
    for round in 0..=rounds {
        if round > 0 {
            whole = decode_once(&whole, steps.percent_u);
        }
        let found = whole.split(|&b| b == b'&' || b == b';').any(|pair| {
            let mut name = pair.split(|&b| b == b'=').next().unwrap_or_default().to_vec();
            (0..steps.decodings).any(|_| {
                name = decode_once(&name, steps.percent_u);
                reference_name(&name)
            })
        });
        if found {
            return true;
        }
    }
    false
}

fn decode_once(bytes: &[u8], percent_u: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b == b'%' {
            let two = bytes.get(i + 1..i + 3).and_then(|p| Some(hex(p[0])? * 16 + hex(p[1])?));
            if let Some(byte) = two {
                out.push(byte);
                i += 3;
                continue;
            }
            if percent_u {
                let four = bytes
                    .get(i + 1..i + 6)
                    .filter(|p| p[0] == b'u' || p[0] == b'U')
                    .and_then(|p| {
                        let text = std::str::from_utf8(&p[1..]).ok()?;
                        char::from_u32(u32::from_str_radix(text, 16).ok()?)
                    });
                if let Some(c) = four.filter(|_| bytes[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit)) {
                    out.extend_from_slice(c.to_string().as_bytes());
                    i += 6;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn reference_name(name: &[u8]) -> bool {
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let lead = name
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'[' | b']' | b'?'))
        .count();
    let trimmed = &name[lead..];
    let php: Vec<u8> = trimmed
        .iter()
        .take_while(|&&b| b != b'[' && b != b']')
        .map(|&b| if b == b'.' || b == b' ' { b'_' } else { b })
        .collect();
    if php.eq_ignore_ascii_case(OVERRIDE) {
        return true;
    }
    let lead = trimmed
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'[' | b']' | b'?' | b'.'))
        .count();
    let dotted: Vec<u8> = trimmed[lead..]
        .iter()
        .take_while(|&&b| !matches!(b, b'[' | b']' | b'.'))
        .map(|&b| if b == b' ' { b'_' } else { b })
        .collect();
    dotted.eq_ignore_ascii_case(OVERRIDE)
}

/// Why keyward refuses a query that no modelled parser reads as an
/// override (the reference reads it), or `None` if that is not the case.
pub fn why_ambiguous(query: &str) -> Option<&'static str> {
    if !reference(query, ALL_STEPS) || !readers(query, false).is_empty() {
        return None;
    }
    Some(if !readers(query, true).is_empty() {
        "another letter case (ASP.NET compares parameter names without case)"
    } else if !reference(
        query,
        Steps {
            decodings: 1,
            ..ALL_STEPS
        },
    ) {
        "encoded twice (a proxy or framework that decodes once more)"
    } else if !reference(
        query,
        Steps {
            percent_u: false,
            ..ALL_STEPS
        },
    ) {
        "a `%u` escape (IIS, JavaScript's `unescape`, qs in latin-1 mode)"
    } else {
        "readings of two parsers together (one's separator or decoding with another's brackets, NUL cut or \
         leading spaces), or one Rack reads but refuses for a bad escape elsewhere"
    })
}
