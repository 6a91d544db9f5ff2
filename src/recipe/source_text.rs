//! A recipe's text with its name, so that any byte span in it can be shown as `file:line:column`
//! with the offending line underneath, the way compilers show errors.

use std::ops::Range;

#[derive(Debug, Clone)]
pub struct SourceText {
    /// What users see as the file name: a path, or `embedded:recipes/…` for built-in recipes.
    pub origin: String,
    pub text: String,
}

/// A position in a recipe, already formatted for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    /// The source line and a caret line under the offending text.
    pub snippet: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

impl SourceText {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            text: text.into(),
        }
    }

    /// Line and column (both from 1) of a byte offset, counting columns in characters.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    pub fn locate(&self, span: Range<usize>) -> Location {
        let start = span.start.min(self.text.len());
        let (line, column) = self.line_column(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line_text = &self.text[line_start..line_end];
        let width = self.text[start..span.end.clamp(start, line_end)]
            .chars()
            .count()
            .max(1);
        let gutter = line.to_string().len();
        let snippet = format!(
            "{:gutter$} |\n{line} | {line_text}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(column - 1),
            "^".repeat(width),
        );
        Location {
            origin: self.origin.clone(),
            line,
            column,
            snippet,
        }
    }

    /// The span of `needle` inside `within`, if it occurs there; used to point at a variable name
    /// inside a template string rather than at the start of the string.
    pub fn find_within(&self, within: Range<usize>, needle: &str) -> Option<Range<usize>> {
        let end = within.end.min(self.text.len());
        let hay = self.text.get(within.start..end)?;
        hay.find(needle)
            .map(|i| within.start + i..within.start + i + needle.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column_with_a_caret_under_the_text() {
        let src = SourceText::new("r.toml", "[recipe]\nname = \"x\"\npakages = 1\n");
        let at = src.locate(20..27);
        assert_eq!((at.line, at.column), (3, 1));
        assert!(at.snippet.contains("3 | pakages = 1"), "{}", at.snippet);
        assert!(at.snippet.ends_with("| ^^^^^^^"), "{}", at.snippet);
        assert_eq!(at.to_string(), "r.toml:3:1");
    }

    #[test]
    fn finds_a_needle_inside_a_span() {
        let src = SourceText::new("r.toml", "run = \"make -j {{jobz}}\"\n");
        let span = src.find_within(6..24, "jobz").unwrap();
        assert_eq!(src.line_column(span.start), (1, 18));
    }
}
