//! The look-alike list of `path.rs` against Unicode's own tables: every
//! character whose NFKC form holds a `.`, `/` or `\` is refused, and every
//! other entry is one of the best-fit mappings the list names.

use keyward_scopes::path::{normalize, LOOK_ALIKES};
use keyward_scopes::PathRejection;
use unicode_normalization::UnicodeNormalization;

/// The entries that come from Windows' best-fit tables and other slash
/// forms, not from NFKC.
const NOT_FROM_NFKC: [char; 8] = [
    '\u{A5}', '\u{2044}', '\u{20A9}', '\u{2215}', '\u{2216}', '\u{29F5}', '\u{29F8}', '\u{29F9}',
];

fn nfkc_holds_a_separator(c: char) -> bool {
    std::iter::once(c).nfkc().any(|d| matches!(d, '.' | '/' | '\\'))
}

#[test]
fn every_character_whose_nfkc_form_holds_a_dot_or_slash_is_listed() {
    let from_nfkc: Vec<char> = ('\u{80}'..=char::MAX).filter(|&c| nfkc_holds_a_separator(c)).collect();
    for c in &from_nfkc {
        assert!(
            LOOK_ALIKES.contains(c),
            "U+{:04X} (NFKC {:?}) is missing from LOOK_ALIKES",
            *c as u32,
            std::iter::once(*c).nfkc().collect::<String>()
        );
    }
    for c in LOOK_ALIKES {
        assert!(
            from_nfkc.contains(&c) || NOT_FROM_NFKC.contains(&c),
            "U+{:04X} is listed but neither NFKC nor best-fit makes it a separator",
            c as u32
        );
    }
}

#[test]
fn the_characters_the_hostile_pass_named_are_refused() {
    for c in [
        '\u{FF0E}', '\u{2024}', '\u{2025}', '\u{FE52}', '\u{2215}', '\u{2044}', '\u{FF0F}', '\u{FF3C}', '\u{FE68}',
    ] {
        assert_eq!(
            normalize(&format!("/api/things/{c}")),
            Err(PathRejection::LookAlike),
            "U+{:04X}",
            c as u32
        );
    }
}
