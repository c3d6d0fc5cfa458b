//! The grammar of names in a catalog: resources, actions, bundles,
//! superscopes (`[a-z][a-z0-9_]*`), and key prefixes and environments
//! (`[a-z][a-z0-9]{0,15}`, no `_` because `_` separates the parts of a key).

/// `[a-z][a-z0-9_]*`: resource, action, bundle and superscope names.
pub fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `[a-z][a-z0-9]{0,15}`: key prefixes and environments.
pub fn is_key_part(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 16 && matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
}

/// A wildcard (resource suffix or global) is `*` or a name.
pub fn is_wildcard(s: &str) -> bool {
    s == "*" || is_name(s)
}

/// Why `s` is not a name, for error messages.
pub fn explain_bad_name(s: &str) -> String {
    if s.is_empty() {
        return "a name cannot be empty".to_owned();
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return format!(
            "`{s}` has upper-case letters; names are lower-case (`{}`)",
            s.to_ascii_lowercase()
        );
    }
    "names are lower-case ASCII letters, digits and `_`, starting with a letter".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammar() {
        assert!(is_name("sender_accounts"));
        assert!(is_name("knowledge_base"));
        assert!(is_name("a1"));
        assert!(!is_name(""));
        assert!(!is_name("1a"));
        assert!(!is_name("_a"));
        assert!(!is_name("Contacts"));
        assert!(!is_name("con-tacts"));
        assert!(!is_name("contacts:read"));
    }

    #[test]
    fn key_parts_have_no_underscore_and_at_most_16_chars() {
        assert!(is_key_part("cs"));
        assert!(is_key_part("live"));
        assert!(is_key_part("abcdefghijklmnop"));
        assert!(!is_key_part("abcdefghijklmnopq"));
        assert!(!is_key_part("c_s"));
        assert!(!is_key_part("9a"));
        assert!(!is_key_part(""));
    }
}
