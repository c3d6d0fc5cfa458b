//! "Did you mean ...?": the closest known name to a misspelt one.

/// The candidate closest to `input`, if it is close enough to be a likely
/// typo (a transposition, a missing or extra letter or two).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match input.chars().count() {
        0..=3 => 1,
        4..=9 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"` or nothing.
pub fn hint(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_transposed_action() {
        let known = ["contacts:read", "contacts:write"];
        assert_eq!(closest("contacts:wirte", known), Some("contacts:write"));
    }

    #[test]
    fn does_not_suggest_something_unrelated() {
        assert_eq!(closest("billing:refund", ["contacts:read"]), None);
    }
}
