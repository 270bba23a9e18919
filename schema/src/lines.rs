//! Where each line of a text starts, so that a byte offset becomes a line and column by a
//! binary search: reporting many diagnostics in a big file stays linear in the file's size
//! (a scan from the start for each one made ten thousand duplicate keys take seconds).

/// Line starts of one text. A line ends at `\n`, `\r\n` or a lone `\r`, as KDL and miette's
/// reports count them.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    /// Byte offset of each line's first byte; the first is 0.
    starts: Vec<usize>,
    /// Whether each line is all ASCII (its columns are then byte distances).
    ascii: Vec<bool>,
}

impl LineIndex {
    /// Indexes `text`.
    pub(crate) fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut index = LineIndex {
            starts: vec![0],
            ascii: Vec::new(),
        };
        let mut ascii = true;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if b == b'\r' && bytes.get(i) == Some(&b'\n') {
                i += 1;
            } else if b != b'\r' && b != b'\n' {
                ascii &= b.is_ascii();
                continue;
            }
            index.starts.push(i);
            index.ascii.push(ascii);
            ascii = true;
        }
        index.ascii.push(ascii);
        index
    }

    /// The 0-based line holding byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// The byte offset where 0-based `line` starts, or `None` past the last line.
    pub(crate) fn start(&self, line: usize) -> Option<usize> {
        self.starts.get(line).copied()
    }

    /// The 1-based line and character column of byte `offset` (a char boundary) in `text`,
    /// the text this index was built from.
    pub(crate) fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line_of(offset);
        let start = self.starts[line];
        let column = if self.ascii[line] {
            offset - start
        } else {
            text[start..offset].chars().count()
        };
        (line + 1, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_break_kdl_knows_starts_a_line() {
        let text = "ab\r\ncd\ref\ngh";
        let index = LineIndex::new(text);
        assert_eq!(index.starts, [0, 4, 7, 10]);
        assert_eq!(index.line_column(text, 0), (1, 1));
        assert_eq!(index.line_column(text, 5), (2, 2));
        assert_eq!(index.line_column(text, 7), (3, 1));
        assert_eq!(index.line_column(text, 12), (4, 3));
        assert_eq!(
            index.line_of(3),
            0,
            "the \\n of a \\r\\n belongs to its line"
        );
        assert_eq!(index.start(4), None);
    }

    #[test]
    fn columns_count_characters_on_lines_that_are_not_ascii() {
        let text = "x\nçd x\n";
        let index = LineIndex::new(text);
        assert_eq!(index.line_column(text, 6), (2, 4));
        assert_eq!(index.line_column(text, 1), (1, 2));
    }
}
