//! Source files and byte spans into them, so every model value can point back at the text
//! an operator wrote.

use std::sync::Arc;

use crate::lines::LineIndex;

/// Index of a source file inside a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SourceId(pub u32);

/// A byte range inside one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file the range belongs to.
    pub source: SourceId,
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes (may be zero for a point).
    pub len: usize,
}

impl Span {
    /// A span covering `len` bytes from `offset` in `source`.
    pub fn new(source: SourceId, offset: usize, len: usize) -> Self {
        Self {
            source,
            offset,
            len,
        }
    }
}

/// A value together with the span it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// One file that was read: the name it was given by and its full text.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path or label the file is reported under.
    pub name: String,
    /// The file's text.
    pub text: Arc<str>,
    /// Where its lines start.
    pub(crate) lines: Arc<LineIndex>,
}

/// Every file that contributed to a model, in load order.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    sources: Vec<Source>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceId {
        let id = SourceId(u32::try_from(self.sources.len()).unwrap_or(u32::MAX));
        let text = text.into();
        self.sources.push(Source {
            name: name.into(),
            lines: Arc::new(LineIndex::new(&text)),
            text,
        });
        id
    }

    /// The file with this id, if any.
    pub fn get(&self, id: SourceId) -> Option<&Source> {
        self.sources.get(id.0 as usize)
    }

    /// All files, in load order.
    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &Source)> {
        self.sources
            .iter()
            .enumerate()
            .map(|(i, s)| (SourceId(u32::try_from(i).unwrap_or(u32::MAX)), s))
    }

    /// Replaces every byte of `span` except `=` and line breaks with `*`, so an inline
    /// secret never reaches a rendered report. Byte length and line structure are kept.
    pub fn mask(&mut self, span: Span) {
        let Some(source) = self.sources.get_mut(span.source.0 as usize) else {
            return;
        };
        let mut bytes = source.text.as_bytes().to_vec();
        let end = span.offset.saturating_add(span.len).min(bytes.len());
        for b in bytes
            .get_mut(span.offset.min(end)..end)
            .into_iter()
            .flatten()
        {
            if !matches!(*b, b'=' | b'\n' | b'\r') {
                *b = b'*';
            }
        }
        // Every byte of a multi-byte character inside the span became ASCII; characters
        // outside it are untouched, so the text stays UTF-8 and its line index holds (a line
        // that became ASCII is only counted the slower way).
        source.text = String::from_utf8_lossy(&bytes).into_owned().into();
    }

    /// The 1-based line and column of the start of `span` (column counts characters; lines
    /// end at `\n`, `\r\n` or `\r`).
    pub fn line_column(&self, span: Span) -> (usize, usize) {
        let Some(source) = self.get(span.source) else {
            return (1, 1);
        };
        let text = &source.text;
        let mut offset = span.offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        source.lines.line_column(text, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_is_one_based_and_counts_chars() {
        let mut map = SourceMap::default();
        let id = map.add("a.kdl", "ab\nçd x\n");
        assert_eq!(map.line_column(Span::new(id, 0, 1)), (1, 1));
        assert_eq!(map.line_column(Span::new(id, 3, 1)), (2, 1));
        // 'ç' is two bytes: "x" sits at byte 7, character column 4.
        assert_eq!(map.line_column(Span::new(id, 7, 1)), (2, 4));
    }

    #[test]
    fn mask_hides_a_secret_and_keeps_positions() {
        let mut map = SourceMap::default();
        let id = map.add("a.kdl", "auth secret=\"hünter2\" x");
        map.mask(Span::new(id, 11, 11));
        let text = &map.get(id).expect("source").text;
        assert_eq!(&**text, "auth secret=********** x");
    }
}
