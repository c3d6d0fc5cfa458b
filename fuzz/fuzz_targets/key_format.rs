//! The key format (docs/KEYS.md) through
//! `keyward::keys::format`.
//!
//! - Any string: `parse` and `parse_management` answer without panicking.
//! - A key built from the input (prefix, environment and random part taken
//!   from it, checksum from `format::checksum`) and a freshly generated one
//!   parse, to their environment; a management key parses as one and never
//!   as a customer key.
//! - Replacing any one character of a valid key (position and replacement
//!   from the input) makes it malformed: prefix, environment, length,
//!   alphabet or checksum catches every single-character typo.
//! - `loggable` never shows the body of a valid key.

#![no_main]

use keyward::keys::format::{self, BASE62, MANAGEMENT_PREFIX, RANDOM_LEN};
use libfuzzer_sys::fuzz_target;

/// Reads the input as a stream of bytes, zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `[a-z][a-z0-9]{0,15}`: a key prefix or an environment (section 8).
fn name(input: &mut Bytes) -> String {
    let len = 1 + usize::from(input.next() % 16);
    let mut out = String::with_capacity(len);
    out.push(char::from(LOWER[usize::from(input.next()) % LOWER.len()]));
    for _ in 1..len {
        out.push(char::from(LOWER_DIGITS[usize::from(input.next()) % LOWER_DIGITS.len()]));
    }
    out
}

fn signed(head: &str, input: &mut Bytes) -> String {
    let mut key = head.to_owned();
    for _ in 0..RANDOM_LEN {
        key.push(char::from(BASE62[usize::from(input.next()) % BASE62.len()]));
    }
    let sum = format::checksum(&key);
    key.extend(sum.iter().map(|&b| char::from(b)));
    key
}

/// `key` with one character replaced by a different one, both from the
/// input: any ASCII character (controls and `_` included) or a few
/// multi-byte ones.
fn typo(key: &str, input: &mut Bytes) -> String {
    let chars: Vec<char> = key.chars().collect();
    let at = (usize::from(input.next()) << 8 | usize::from(input.next())) % chars.len();
    let pick = input.next();
    let mut replacement = match pick {
        0x80..=0x9f => 'é',
        0xa0..=0xbf => '\u{10FFFF}',
        0xc0..=0xff => 'Ａ', // full-width A, a look-alike
        ascii => char::from(ascii),
    };
    if replacement == chars[at] {
        replacement = if chars[at] == 'x' { 'y' } else { 'x' };
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i == at { replacement } else { c })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let envs = vec!["live".to_owned(), "test".to_owned()];

    // Anything at all: no panic, and nothing that passes is oddly shaped.
    let text = String::from_utf8_lossy(data);
    if let Ok(environment) = format::parse(&text, "cs", &envs) {
        assert!(envs.iter().any(|e| e == environment));
        assert!(text.starts_with(&format!("cs_{environment}_")));
    }
    let _ = format::parse_management(&text);
    let _ = format::loggable(&text);

    // Keys built from the input.
    let mut input = Bytes(data);
    let mut prefix = name(&mut input);
    if prefix == MANAGEMENT_PREFIX {
        prefix = "kwx".to_owned(); // reserved (section 8)
    }
    let environments: Vec<String> = (0..1 + input.next() % 3).map(|_| name(&mut input)).collect();
    let environment = environments[usize::from(input.next()) % environments.len()].clone();

    let key = signed(&format!("{prefix}_{environment}_"), &mut input);
    assert_eq!(
        format::parse(&key, &prefix, &environments),
        Ok(environment.as_str()),
        "a well-formed key does not parse: {key:?}"
    );
    // Past the `<prefix>_<env>_` it may show, no run of the body.
    let (head, body) = key.split_at(key.len() - format::BODY_LEN);
    let shown = format::loggable(&key);
    assert!(
        !shown.strip_prefix(head).unwrap_or(&shown).contains(&body[..8]),
        "loggable shows the body of {key:?}: {shown:?}"
    );
    let broken = typo(&key, &mut input);
    assert!(
        format::parse(&broken, &prefix, &environments).is_err(),
        "one character changed and the key still parses: {key:?} -> {broken:?}"
    );

    let management = signed(&format!("{MANAGEMENT_PREFIX}_"), &mut input);
    assert_eq!(format::parse_management(&management), Ok(()), "{management:?}");
    assert!(
        format::parse(&management, &prefix, &environments).is_err(),
        "a management key parses as a customer key: {management:?}"
    );
    let broken = typo(&management, &mut input);
    assert!(
        format::parse_management(&broken).is_err(),
        "one character changed and the management key still parses: {management:?} -> {broken:?}"
    );

    // The generator itself (random from the OS, so only its shape is fuzzed).
    if let Ok(secret) = format::generate(&prefix, &environment) {
        assert_eq!(
            format::parse(secret.reveal(), &prefix, &environments),
            Ok(environment.as_str()),
            "a generated key does not parse"
        );
        assert!(secret.reveal().starts_with(&secret.start()));
    }
});
