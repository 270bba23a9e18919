//! Cheap pre-checks that keep hostile input away from the KDL parser: a size bound and a
//! nesting bound.
//!
//! kdl 6.7 recurses once per `{` level, once per chunk of a `/* … */` comment and once per
//! chained `/-`, and a deep enough input overflows the stack, which aborts the whole process
//! (it is not a panic that could be caught). This scanner walks the text once, skipping strings
//! and comments the way KDL does, and rejects anything nested deeper than the bounds below long
//! before the parser could run out of stack, even on a 2 MiB thread in a debug build.

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

/// Largest file accepted, in bytes (a 100,000-node network is about 15 MB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Deepest `{` nesting accepted (network.kdl itself needs 3).
pub const MAX_DEPTH: usize = 32;

/// Most pieces (runs of text, `*` or `/` characters, nested comments) in one `/* … */` comment.
pub const MAX_COMMENT_PIECES: usize = 256;

/// Most `/-` markers chained in front of one item.
pub const MAX_SLASHDASH_CHAIN: usize = 16;

/// Checks `text` against the bounds; returns the diagnostic for the first bound it breaks.
pub fn check(source: SourceId, text: &str) -> Result<(), Box<Diagnostic>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Box::new(
            Diagnostic::error(
                "cvlan::too-large",
                format!(
                    "file is {} bytes, more than the {} bytes a network file may have",
                    text.len(),
                    MAX_FILE_BYTES
                ),
                Span::new(source, 0, 0),
                "file starts here",
            )
            .with_help("split the file with `include`, or check that this is the right file"),
        ));
    }
    Scanner::new(source, text).run().map_err(Box::new)
}

/// The text inside every comment of `text` (`//` and `/* */`, nested ones as part of their
/// outer comment), with whitespace runs collapsed to one space. The formatter uses it to
/// prove that no comment was lost.
pub fn comments(text: &str) -> Vec<String> {
    let mut scanner = Scanner::new(SourceId(0), text);
    scanner.comments = Some(Vec::new());
    // Bounds were checked before anything is formatted; an error here only ends the scan.
    scanner.run().ok();
    scanner
        .comments
        .unwrap_or_default()
        .into_iter()
        .map(|(start, end)| {
            let raw = &text[start..end];
            let inner = raw
                .strip_prefix("//")
                .or_else(|| {
                    raw.strip_prefix("/*")
                        .map(|r| r.strip_suffix("*/").unwrap_or(r))
                })
                .unwrap_or(raw);
            inner.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Where the block of the node whose text is `text` closes: the offset just after the last
/// `}` at nesting level zero, outside strings and comments.
pub fn block_close(text: &str) -> Option<usize> {
    let mut scanner = Scanner::new(SourceId(0), text);
    scanner.closes = Some(Vec::new());
    scanner.run().ok();
    scanner.closes.and_then(|c| c.last().copied())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    source: SourceId,
    /// Byte ranges of comments, when collecting them.
    comments: Option<Vec<(usize, usize)>>,
    /// Offsets just after each `}` that returns to level zero, when collecting them.
    closes: Option<Vec<usize>>,
}

impl<'a> Scanner<'a> {
    fn new(source: SourceId, text: &'a str) -> Self {
        Scanner {
            bytes: text.as_bytes(),
            pos: 0,
            source,
            comments: None,
            closes: None,
        }
    }

    fn run(&mut self) -> Result<(), Diagnostic> {
        let mut depth = 0usize;
        let mut chain = 0usize;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(self.too_deep(
                            self.pos,
                            format!("blocks are nested more than {MAX_DEPTH} levels deep"),
                            "one level too many",
                        ));
                    }
                    chain = 0;
                    self.pos += 1;
                }
                b'}' => {
                    depth = depth.saturating_sub(1);
                    chain = 0;
                    self.pos += 1;
                    if let (0, Some(closes)) = (depth, &mut self.closes) {
                        closes.push(self.pos);
                    }
                }
                b'"' => {
                    self.skip_string(0);
                    chain = 0;
                }
                b'#' => {
                    let hashes = self.count(b'#', self.pos);
                    if self.bytes.get(self.pos + hashes) == Some(&b'"') {
                        self.pos += hashes;
                        self.skip_string(hashes);
                    } else {
                        self.pos += hashes;
                    }
                    chain = 0;
                }
                b'/' => match self.bytes.get(self.pos + 1) {
                    Some(b'/') => {
                        let start = self.pos;
                        self.skip_line();
                        self.record_comment(start);
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        self.skip_block_comment()?;
                        self.record_comment(start);
                    }
                    Some(b'-') => {
                        chain += 1;
                        if chain > MAX_SLASHDASH_CHAIN {
                            return Err(self.too_deep(
                                self.pos,
                                format!("more than {MAX_SLASHDASH_CHAIN} `/-` markers in a row"),
                                "one marker too many",
                            ));
                        }
                        self.pos += 2;
                    }
                    _ => {
                        chain = 0;
                        self.pos += 1;
                    }
                },
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                _ => {
                    chain = 0;
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    fn record_comment(&mut self, start: usize) {
        let end = self.pos.min(self.bytes.len());
        if let Some(comments) = &mut self.comments {
            comments.push((start, end));
        }
    }

    fn too_deep(&self, at: usize, message: String, label: &str) -> Diagnostic {
        Diagnostic::error(
            "cvlan::too-deep",
            message,
            Span::new(self.source, at, 1),
            label,
        )
        .with_help("network files need only a few levels; look for unbalanced braces or comments")
    }

    fn count(&self, byte: u8, from: usize) -> usize {
        self.bytes[from.min(self.bytes.len())..]
            .iter()
            .take_while(|&&b| b == byte)
            .count()
    }

    /// Skips a string whose opening quote is at `pos`, raw with `hashes` hashes when non-zero.
    fn skip_string(&mut self, hashes: usize) {
        let multiline = self.bytes[self.pos..].starts_with(b"\"\"\"");
        self.pos += if multiline { 3 } else { 1 };
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'\\' && hashes == 0 {
                self.pos += 2;
                continue;
            }
            if b == b'"' {
                let quotes = if multiline { 3 } else { 1 };
                if self.bytes[self.pos..].starts_with(&b"\"\"\""[..quotes])
                    && self.count(b'#', self.pos + quotes) >= hashes
                {
                    self.pos += quotes + hashes;
                    return;
                }
            }
            if b == b'\n' && !multiline {
                // An unterminated single-line string: the parser reports it; resume scanning.
                return;
            }
            self.pos += 1;
        }
    }

    fn skip_line(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'\n' || b == b'\r' {
                return;
            }
            self.pos += 1;
        }
    }

    /// Skips a (nested) block comment starting at `pos`, counting the pieces the parser
    /// recurses over.
    fn skip_block_comment(&mut self) -> Result<(), Diagnostic> {
        let start = self.pos;
        let mut nesting = 0usize;
        let mut pieces = 0usize;
        let mut in_run = false;
        while self.pos < self.bytes.len() {
            let rest = &self.bytes[self.pos..];
            if rest.starts_with(b"/*") {
                nesting += 1;
                pieces += 1;
                in_run = false;
                self.pos += 2;
                if nesting > MAX_DEPTH {
                    return Err(self.too_deep(
                        start,
                        format!("comments are nested more than {MAX_DEPTH} levels deep"),
                        "this comment",
                    ));
                }
            } else if rest.starts_with(b"*/") {
                nesting -= 1;
                in_run = false;
                self.pos += 2;
                if nesting == 0 {
                    return Ok(());
                }
            } else {
                let b = rest[0];
                if b == b'*' || b == b'/' {
                    pieces += 1;
                    in_run = false;
                } else if !in_run {
                    pieces += 1;
                    in_run = true;
                }
                self.pos += 1;
            }
            if pieces > MAX_COMMENT_PIECES {
                return Err(self.too_deep(
                    start,
                    format!(
                        "this comment has more than {MAX_COMMENT_PIECES} `*`/`/` characters or nested parts"
                    ),
                    "this comment",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<&'static str> {
        check(SourceId(0), text).err().map(|d| d.code)
    }

    #[test]
    fn accepts_ordinary_files() {
        assert_eq!(
            code("a {\n b { c { d } }\n}\n// {{{{\n\"{{{{{\" #\"{{{\"# /* { */"),
            None
        );
    }

    #[test]
    fn rejects_deep_nesting_unbalanced_braces_and_comments() {
        assert_eq!(code(&"a {".repeat(100_000)), Some("cvlan::too-deep"));
        assert_eq!(code(&"{".repeat(MAX_DEPTH + 1)), Some("cvlan::too-deep"));
        assert_eq!(code(&"{".repeat(MAX_DEPTH)), None);
        assert_eq!(code(&"/*".repeat(1000)), Some("cvlan::too-deep"));
        assert_eq!(
            code(&format!("/*{}*/", "*a".repeat(1000))),
            Some("cvlan::too-deep")
        );
        assert_eq!(
            code(&format!("{}a", "/- ".repeat(1000))),
            Some("cvlan::too-deep")
        );
    }

    #[test]
    fn braces_in_strings_do_not_count() {
        let text = format!(
            "a \"{}\" #\"{}\"# \"\"\"\n{}\n\"\"\"",
            "{".repeat(100),
            "{".repeat(100),
            "{".repeat(100)
        );
        assert_eq!(code(&text), None);
        assert_eq!(
            code("a \"\\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\""),
            None
        );
    }

    #[test]
    fn finds_comments_and_block_ends() {
        let text = "a \"// no\" { // one\n  b /* two\n  lines */ }  /* three */ // four\n";
        assert_eq!(comments(text), vec!["one", "two lines", "three", "four"]);
        assert_eq!(
            block_close(text),
            Some(text.find("}  ").expect("brace") + 1)
        );
        assert_eq!(block_close("a \"}\""), None);
    }

    #[test]
    fn rejects_oversized_files() {
        let text = " ".repeat(MAX_FILE_BYTES + 1);
        assert_eq!(code(&text), Some("cvlan::too-large"));
    }
}
