//! The key format (docs/KEYS.md):
//! `<prefix>_<environment>_<30 random base62><6 base62 CRC-32>` for customer
//! keys and `kwm_<30 random base62><6 base62 CRC-32>` for management keys.
//!
//! A [`KeySecret`] is the plaintext: it has no `Debug`, `Display` or
//! `Serialize`, so it cannot reach a log line or a JSON body by accident;
//! the one way out is [`KeySecret::reveal`], called where the key is shown
//! once. What the store sees is a [`KeyHash`] (SHA-256) and a display
//! [`start`](KeySecret::start).
//!
//! Parsing checks everything that can be checked without storage (prefix,
//! environment, length, alphabet, checksum), so garbage and typos are
//! rejected before any lookup.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const RANDOM_LEN: usize = 30;
pub const CHECKSUM_LEN: usize = 6;
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
pub const MANAGEMENT_PREFIX: &str = "kwm";
/// Characters of the random part kept in `start` for humans.
const START_RANDOM_CHARS: usize = 4;

/// A key's plaintext. Deliberately not `Debug`, `Display`, `Clone` or
/// `Serialize`; zeroed when dropped.
pub struct KeySecret(Zeroizing<String>);

impl KeySecret {
    /// The plaintext, for the single place that shows it to its owner.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The display part: everything before the random body plus its first
    /// characters, e.g. `cs_live_Ab3x`.
    pub fn start(&self) -> String {
        let body_at = self.0.len() - BODY_LEN;
        self.0[..body_at + START_RANDOM_CHARS].to_owned()
    }
}

/// SHA-256 of a key's plaintext: the only form the store keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(plaintext: &str) -> KeyHash {
        KeyHash(Sha256::digest(plaintext.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A digest as stored (32 bytes), or `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<KeyHash> {
        bytes.try_into().ok().map(KeyHash)
    }

    /// Lower-case hex, as change notices carry it.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    /// The digest of [`KeyHash::to_hex`]'s output, or `None`.
    pub fn from_hex(hex: &str) -> Option<KeyHash> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(KeyHash(out))
    }
}

impl Default for KeyHash {
    /// All zeros: the digest of no key (SHA-256 never gives it in practice).
    fn default() -> Self {
        KeyHash([0; 32])
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// Why a presented string is not a key (`MALFORMED`). Carries no part of
/// the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("not of the form <prefix>_<environment>_<body>")]
    Shape,
    #[error("wrong key prefix")]
    Prefix,
    #[error("unknown environment")]
    Environment,
    #[error("wrong length")]
    Length,
    #[error("characters outside base62")]
    Alphabet,
    #[error("checksum mismatch")]
    Checksum,
}

/// Fills `out` with base62 characters from the OS CSPRNG. Bytes >= 248 are
/// rejected (248 = 4 x 62) so every character is equally likely.
pub(crate) fn random_base62(out: &mut String, count: usize) -> Result<(), getrandom::Error> {
    let mut pushed = 0;
    let mut buf = Zeroizing::new([0u8; 64]);
    while pushed < count {
        getrandom::fill(&mut buf[..])?;
        for &b in buf.iter() {
            if b < 248 && pushed < count {
                out.push(BASE62[usize::from(b % 62)] as char);
                pushed += 1;
            }
        }
    }
    Ok(())
}

/// CRC-32 (IEEE) of `text` as 6 base62 digits, most significant first.
pub fn checksum(text: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(text.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

fn generate_with_head(head: String) -> Result<KeySecret, getrandom::Error> {
    let mut key = Zeroizing::new(head);
    key.reserve(BODY_LEN);
    random_base62(&mut key, RANDOM_LEN)?;
    let sum = checksum(&key);
    key.extend(sum.iter().map(|&b| b as char));
    Ok(KeySecret(key))
}

/// A new customer key `<prefix>_<environment>_...`.
pub fn generate(prefix: &str, environment: &str) -> Result<KeySecret, getrandom::Error> {
    generate_with_head(format!("{prefix}_{environment}_"))
}

/// A new management key `kwm_...`.
pub fn generate_management() -> Result<KeySecret, getrandom::Error> {
    generate_with_head(format!("{MANAGEMENT_PREFIX}_"))
}

fn check_body(key: &str, body: &str) -> Result<(), Malformed> {
    if body.len() != BODY_LEN {
        return Err(Malformed::Length);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::Alphabet);
    }
    let (signed, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    if checksum(signed) != sum.as_bytes() {
        return Err(Malformed::Checksum);
    }
    Ok(())
}

/// Checks a presented customer key without touching storage; returns its
/// environment.
pub fn parse<'k>(key: &'k str, prefix: &str, environments: &[String]) -> Result<&'k str, Malformed> {
    let mut parts = key.splitn(3, '_');
    let (Some(p), Some(environment), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Malformed::Shape);
    };
    if p != prefix {
        return Err(Malformed::Prefix);
    }
    if !environments.iter().any(|e| e == environment) {
        return Err(Malformed::Environment);
    }
    check_body(key, body)?;
    Ok(environment)
}

/// Checks a presented management key without touching storage.
pub fn parse_management(key: &str) -> Result<(), Malformed> {
    let Some((p, body)) = key.split_once('_') else {
        return Err(Malformed::Shape);
    };
    if p != MANAGEMENT_PREFIX {
        return Err(Malformed::Prefix);
    }
    check_body(key, body)
}

/// What may be logged about a presented key: its `<prefix>_<env>_` part (if
/// it has that shape, with short plain parts) and its length. Never the body.
pub fn loggable(key: &str) -> String {
    let mut parts = key.splitn(3, '_');
    let plain = |s: &str| s.len() <= 16 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(e), Some(_)) if plain(p) && plain(e) => format!("{p}_{e}_… ({} chars)", key.len()),
        (Some(p), Some(_), None) if plain(p) => format!("{p}_… ({} chars)", key.len()),
        _ => format!("… ({} chars)", key.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        vec!["live".into(), "test".into()]
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse() {
        let key = generate("cs", "live").unwrap();
        let k = key.reveal();
        assert!(k.starts_with("cs_live_"));
        assert_eq!(k.len(), "cs_live_".len() + 36);
        assert_eq!(parse(k, "cs", &envs()), Ok("live"));
        assert_eq!(key.start(), k[..12]);
        assert_eq!(key.start().len(), "cs_live_".len() + 4);
    }

    #[test]
    fn the_checksum_is_crc32_ieee_in_six_base62_digits_most_significant_first() {
        // Known answers computed independently (Python's zlib.crc32):
        // crc32("") = 0, crc32("a") = 0xe8b7be43.
        assert_eq!(&checksum(""), b"000000");
        assert_eq!(&checksum("a"), b"4GEHKN");
        assert_eq!(&checksum("cs_live_0123456789abcdefghijABCDEFGHIJ"), b"3zMDvi");
        let key = "cs_live_0123456789abcdefghijABCDEFGHIJ3zMDvi";
        assert_eq!(parse(key, "cs", &envs()), Ok("live"));
    }

    #[test]
    fn malformed_keys_are_rejected_for_the_right_reason() {
        let key = generate("cs", "test").unwrap();
        let k = key.reveal().to_owned();
        assert_eq!(
            parse(&k.replacen("cs_", "cx_", 1), "cs", &envs()),
            Err(Malformed::Prefix)
        );
        assert_eq!(
            parse(&k.replacen("_test_", "_prod_", 1), "cs", &envs()),
            Err(Malformed::Environment)
        );
        assert_eq!(parse(&k[..k.len() - 1], "cs", &envs()), Err(Malformed::Length));
        assert_eq!(parse(&format!("{k}A"), "cs", &envs()), Err(Malformed::Length));
        let mut bad_char = k.clone();
        bad_char.replace_range(10..11, "-");
        assert_eq!(parse(&bad_char, "cs", &envs()), Err(Malformed::Alphabet));
        // One character changed in the random part: the checksum catches it.
        let mut typo = k.clone().into_bytes();
        typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(&String::from_utf8(typo).unwrap(), "cs", &envs()),
            Err(Malformed::Checksum)
        );
        assert_eq!(parse("garbage", "cs", &envs()), Err(Malformed::Shape));
        assert_eq!(parse("", "cs", &envs()), Err(Malformed::Shape));
        assert_eq!(parse("cs_live_ünïcödé", "cs", &envs()), Err(Malformed::Length));
    }

    #[test]
    fn management_keys_have_their_own_format() {
        let key = generate_management().unwrap();
        assert!(key.reveal().starts_with("kwm_"));
        assert_eq!(key.reveal().len(), 4 + 36);
        assert_eq!(parse_management(key.reveal()), Ok(()));
        assert_eq!(
            parse(key.reveal(), "kwm", &envs()),
            Err(Malformed::Shape),
            "never a customer key"
        );
        let customer = generate("cs", "live").unwrap();
        assert_eq!(parse_management(customer.reveal()), Err(Malformed::Prefix));
    }

    #[test]
    fn random_characters_are_uniform_over_base62() {
        // 62 * 2000 characters: each should appear about 2000 times. A modulo
        // bias of 256 % 62 would give the first 8 characters ~4/3 as often.
        let mut counts = [0u32; 62];
        let mut s = String::new();
        random_base62(&mut s, 62 * 2000).unwrap();
        for b in s.bytes() {
            let i = BASE62.iter().position(|&c| c == b).unwrap();
            counts[i] += 1;
        }
        let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        assert!(min > 1750 && max < 2250, "min {min} max {max}");
        let first8: u32 = counts[..8].iter().sum();
        let last8: u32 = counts[54..].iter().sum();
        assert!((first8 as f64 / last8 as f64) < 1.12, "{first8} vs {last8}");
    }

    #[test]
    fn keys_are_distinct() {
        let a = generate("cs", "live").unwrap();
        let b = generate("cs", "live").unwrap();
        assert_ne!(a.reveal(), b.reveal());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn loggable_never_contains_the_body() {
        let key = generate("cs", "live").unwrap();
        let shown = loggable(key.reveal());
        assert_eq!(shown, format!("cs_live_… ({} chars)", key.reveal().len()));
        assert!(!shown.contains(&key.reveal()[8..12]));
        assert_eq!(loggable("Bearer-garbage_with_SECRET"), "… (26 chars)");
        let m = generate_management().unwrap();
        assert_eq!(loggable(m.reveal()), "kwm_… (40 chars)");
    }

    #[test]
    fn the_secret_type_cannot_be_printed_or_serialized() {
        static_assertions::assert_not_impl_any!(KeySecret: std::fmt::Debug, std::fmt::Display, serde::Serialize, Clone);
    }
}
