//! Errors of the scope engine. Every message names the offending value and,
//! where a known name is close, suggests it.

use std::fmt;
use std::ops::Range;

/// One problem in a catalog file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Everything wrong with a catalog file; each is printed as
/// `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogErrors {
    pub file: String,
    pub errors: Vec<CatalogError>,
}

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, e.line, e.column, e.message)?;
        }
        Ok(())
    }
}

/// Collects problems by byte span while a catalog is checked, then turns
/// them into line and column positions.
pub(crate) struct Diagnostics<'s> {
    source: &'s str,
    found: Vec<(usize, String)>,
    warnings: Vec<(usize, String)>,
}

impl<'s> Diagnostics<'s> {
    pub fn new(source: &'s str) -> Self {
        Self {
            source,
            found: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Valid, but probably not what the author meant.
    pub fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.warnings.push((span.start, message.into()));
    }

    pub fn into_warnings(self) -> Vec<CatalogError> {
        positioned(self.source, self.warnings)
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.found.push((span.start, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub fn into_errors(self, file: &str) -> CatalogErrors {
        CatalogErrors {
            file: file.to_owned(),
            errors: positioned(self.source, self.found),
        }
    }
}

/// Messages at byte offsets as messages at lines and columns, in order.
fn positioned(source: &str, mut found: Vec<(usize, String)>) -> Vec<CatalogError> {
    found.sort_by_key(|(offset, _)| *offset);
    found
        .into_iter()
        .map(|(offset, message)| {
            let (line, column) = line_column(source, offset);
            CatalogError { line, column, message }
        })
        .collect()
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// A grant that cannot be put on a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("a key needs at least one scope")]
    NoGrants,
    #[error("unknown scope `{grant}`{}", crate::suggest::hint(suggestion.as_deref()))]
    Unknown { grant: String, suggestion: Option<String> },
    #[error("scope `{grant}` exists but cannot be granted to a key")]
    NotGrantable { grant: String },
    #[error("`{grant}` is a selector, valid only inside a bundle; grant a bundle or the scopes themselves")]
    Selector { grant: String },
}

/// A required scope that the catalog does not define as a concrete scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error("unknown scope `{scope}`{}", crate::suggest::hint(suggestion.as_deref()))]
    Unknown { scope: String, suggestion: Option<String> },
    #[error("`{scope}` is not a concrete `resource:action` scope; a request requires concrete scopes, never wildcards or bundles")]
    NotConcrete { scope: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let src = "ab\ncdé\nf";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 3), (2, 1));
        assert_eq!(line_column(src, 7), (2, 4));
        assert_eq!(line_column(src, 8), (3, 1));
        assert_eq!(line_column(src, 999), (3, 2));
    }
}
