//! Errors of the expression language: one type for compile and runtime errors, carrying the byte span of the
//! offending part of the source so callers can print the expression with a caret under it.
//!
//! Not for: configuration errors (the loaders wrap an `ExprError` with `file:line:col`).

use std::fmt;

/// A compile or runtime error with the byte span `[start, end)` it refers to in the expression source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub start: usize,
    pub end: usize,
    /// 1-based character column, filled in once the error leaves `compile`/`eval` (which know the source).
    col: usize,
}

impl ExprError {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        ExprError { message: message.into(), start: span.start, end: span.end, col: 0 }
    }

    /// The internal signal of a `?.` on nil: the enclosing chain turns it into nil. Never leaves `eval`.
    pub(crate) fn chain_abort() -> Self {
        ExprError { message: String::new(), start: usize::MAX, end: usize::MAX, col: 0 }
    }

    pub(crate) fn is_chain_abort(&self) -> bool {
        self.start == usize::MAX && self.message.is_empty()
    }

    /// Records the column of the error in `src` (called where the source is known).
    pub(crate) fn locate(mut self, src: &str) -> Self {
        self.col = self.column_in(src);
        self
    }

    /// Byte offset of the start of the error in the source.
    pub fn offset(&self) -> usize {
        self.start
    }

    /// 1-based column (in characters) of the error start, for a single-line expression. For a multi-line source
    /// this is the column within the line that holds the offset.
    pub fn column(&self) -> usize {
        if self.col > 0 { self.col } else { self.start + 1 }
    }

    fn column_in(&self, src: &str) -> usize {
        if src.is_empty() {
            return self.start + 1;
        }
        let at = floor_char_boundary(src, self.start);
        let line_start = src[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
        src[line_start..at].chars().count() + 1
    }

    /// The message, the line of `src` that holds the error and a caret under the column:
    ///
    /// ```text
    /// unknown name "evtt" (1:1)
    ///  | evtt.Meta.x == 'a'
    ///  | ^
    /// ```
    pub fn render(&self, src: &str) -> String {
        let at = floor_char_boundary(src, self.start);
        let line_start = src[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = src[at..].find('\n').map(|i| at + i).unwrap_or(src.len());
        let line_no = src[..line_start].matches('\n').count() + 1;
        let col = src[line_start..at].chars().count();
        let width = src[at..self.end.clamp(at, line_end)].chars().count().max(1);
        format!(
            "{} ({}:{})\n | {}\n | {}{}",
            self.message,
            line_no,
            col + 1,
            &src[line_start..line_end],
            " ".repeat(col),
            "^".repeat(width)
        )
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.start)
    }
}

impl std::error::Error for ExprError {}

/// A byte range of the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_caret_under_column() {
        let e = ExprError::new("boom", Span::new(4, 8)).locate("abc evtt + 1");
        let r = e.render("abc evtt + 1");
        assert_eq!(r, "boom (1:5)\n | abc evtt + 1\n |     ^^^^");
        assert_eq!(e.column(), 5);
        assert_eq!(e.offset(), 4);
    }

    #[test]
    fn render_handles_multiline_and_out_of_range() {
        let e = ExprError::new("x", Span::new(6, 7));
        assert_eq!(e.render("a +\n b c"), "x (2:3)\n |  b c\n |   ^");
        let e = ExprError::new("end", Span::new(50, 50));
        assert!(e.render("a").ends_with(" |  ^"));
    }
}
