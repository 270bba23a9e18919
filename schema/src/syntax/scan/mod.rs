//! The syntax scanner: one linear pass, with no recursion, that proves a text is well-formed
//! KDL 2.0 within fixed bounds before any recursive parser sees it.
//!
//! kdl 6.7 recovers from syntax errors by reading on, and how deep it then recurses depends on
//! the input: once per `{`, but also once per stray `}` or `=` at the top level, per chunk of a
//! `/* … */` comment, and over text it re-reads as structure after a broken string. A deep
//! enough input overflows the stack, which aborts the whole process (a stack overflow is not a
//! panic that could be caught), on a tokio worker as on the main thread. So no parser sees a
//! text this scanner has not accepted: every string, comment and number is checked to its end,
//! every brace is matched and the nesting is bounded. It reports errors itself, with spans and
//! help, resuming at the next line to find more. It is stricter than KDL in two corners, each
//! with its own message: U+007F, and `\` line continuations inside multi-line strings.

pub(crate) mod chars;
mod tokens;
mod trivia;

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

use chars::describe;
use tokens::Kind;

/// Largest file accepted, in bytes (a 100,000-node network is about 15 MB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Deepest `{` nesting accepted (network.kdl itself needs 3).
pub const MAX_DEPTH: usize = 32;

/// Most pieces (runs of text, `*` or `/` characters, nested comments) in one `/* … */` comment.
pub const MAX_COMMENT_PIECES: usize = 256;

/// Most syntax errors reported for one file; the scan stops there.
pub const MAX_ERRORS: usize = 10;

/// Checks `text`; every syntax error found (at most [`MAX_ERRORS`]), or a single size or
/// nesting error, when it is not well-formed KDL within the bounds.
pub fn check(source: SourceId, text: &str) -> Result<(), Vec<Diagnostic>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(vec![
            Diagnostic::error(
                "cvlan::too-large",
                format!(
                    "file is {} bytes, more than the {MAX_FILE_BYTES} bytes a CloudVLAN file may have",
                    text.len(),
                ),
                Span::new(source, 0, 0),
                "file starts here",
            )
            .with_help("split the file with `include`, or check that this is the right file"),
        ]);
    }
    let mut scanner = Scanner::new(source, text);
    scanner.run();
    if scanner.diagnostics.is_empty() {
        Ok(())
    } else {
        Err(scanner.diagnostics)
    }
}

/// The text inside every comment of `text` (`//` and `/* */`, nested ones as part of their
/// outer comment), with whitespace runs collapsed to one space. The formatter uses it to
/// prove that no comment was lost; `text` should have passed [`check`].
pub fn comments(text: &str) -> Vec<String> {
    comment_ranges(text)
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

/// The byte range of every comment of `text` (`//` and `/* */`, nested ones inside their
/// outer comment's range), in order; `text` should have passed [`check`].
pub fn comment_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut scanner = Scanner::new(SourceId(0), text);
    scanner.record = Some(Record::default());
    scanner.run();
    scanner.record.unwrap_or_default().comments
}

/// Where the block of the node whose text is `text` closes: the offset just after the last
/// `}` at nesting level zero, outside strings and comments.
pub fn block_close(text: &str) -> Option<usize> {
    let mut scanner = Scanner::new(SourceId(0), text);
    scanner.record = Some(Record::default());
    scanner.run();
    scanner.record.and_then(|r| r.closes.last().copied())
}

/// An open `{`: where, and whether its node has a block that is not commented out.
#[derive(Debug, Clone, Copy)]
struct Open {
    at: usize,
    has_children: bool,
}

/// What the formatter's helpers collect while scanning.
#[derive(Debug, Default)]
struct Record {
    comments: Vec<(usize, usize)>,
    closes: Vec<usize>,
}

/// A scan step stopped: `fatal` ends the scan (a bound was broken), otherwise it resumes on
/// the next line. The diagnostic is already recorded.
#[derive(Debug)]
struct Stop {
    fatal: bool,
}

type Step<T = ()> = Result<T, Stop>;

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    source: SourceId,
    opens: Vec<Open>,
    diagnostics: Vec<Diagnostic>,
    record: Option<Record>,
}

impl<'a> Scanner<'a> {
    fn new(source: SourceId, text: &'a str) -> Self {
        Scanner {
            text,
            pos: 0,
            source,
            opens: Vec::new(),
            diagnostics: Vec::new(),
            record: None,
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    /// Scans the whole text, resuming after each error at the next line.
    fn run(&mut self) {
        if self.at("\u{FEFF}") {
            self.pos += '\u{FEFF}'.len_utf8();
        }
        while self.diagnostics.len() < MAX_ERRORS {
            match self.document_step() {
                Ok(true) => break,
                Ok(false) => {}
                Err(Stop { fatal: true }) => return,
                Err(Stop { fatal: false }) => self.resync(),
            }
        }
        if let (Some(open), true) = (self.opens.last(), self.diagnostics.is_empty()) {
            let at = open.at;
            self.fail(
                at,
                1,
                "this `{` is never closed",
                "opens here",
                "add the matching `}`",
            );
        }
    }

    /// Skips to the start of the next line after an error.
    fn resync(&mut self) {
        while let Some(c) = self.peek() {
            if self.newline() {
                return;
            }
            self.pos += c.len_utf8();
        }
    }

    /// One node, or one closing brace and the rest of its node; true at the end of the text.
    fn document_step(&mut self) -> Step<bool> {
        self.line_space()?;
        match self.peek() {
            None => Ok(true),
            Some('}') => {
                self.close()?;
                Ok(false)
            }
            Some(';') => Err(self.fail(
                self.pos,
                1,
                "`;` ends a node, but no node stands before it",
                "stray `;`",
                "remove it",
            )),
            Some(_) => {
                self.node()?;
                Ok(false)
            }
        }
    }

    /// A node up to its terminator or its opening `{` (the nodes inside come as further steps).
    fn node(&mut self) -> Step {
        if self.at("/-") {
            let start = self.pos;
            self.pos += 2;
            self.line_space()?;
            if self.peek().is_none_or(|c| c == '}') || self.at("/-") {
                return Err(self.fail(
                    start,
                    2,
                    "`/-` must be followed by the one node it comments out",
                    "here",
                    "write `/-` right before a node, once",
                ));
            }
        }
        if self.peek() == Some('{') {
            return Err(self.fail(
                self.pos,
                1,
                "a `{ … }` block needs a node name before it",
                "block without a node",
                "name the node (`name { … }`), or join this block to the line above",
            ));
        }
        if self.peek() == Some('(') {
            self.type_annotation()?;
            self.node_space()?;
        }
        let start = self.pos;
        if let Some(c) = self
            .peek()
            .filter(|&c| !(c == '"' || c == '#' || chars::is_word(c)))
        {
            return Err(self.fail(
                start,
                c.len_utf8(),
                format!(
                    "a node starts with its name; {} cannot start one",
                    describe(c)
                ),
                "expected a node name",
                "begin the line with a name, e.g. `node \"db-1\" { … }`",
            ));
        }
        if self.value()? != Kind::Str {
            let len = self.pos - start;
            return Err(self.fail(
                start,
                len,
                "a node's name must be a string, not a number or keyword",
                "node name",
                "quote it if it is meant as a name",
            ));
        }
        self.entries()
    }

    /// A node's arguments and properties, then its terminator or its opening `{`.
    fn entries(&mut self) -> Step {
        let mut spaced_before = false;
        loop {
            let spaced = self.node_space()? | std::mem::take(&mut spaced_before);
            match self.peek() {
                None | Some('}') => return Ok(()),
                Some(';') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('{') => return self.open(true),
                Some('/') if self.at("//") => return self.line_comment(),
                Some(_) if self.newline() => return Ok(()),
                Some('/') if self.at("/-") => {
                    self.pos += 2;
                    self.line_space()?;
                    if self.peek() == Some('{') {
                        return self.open(false);
                    }
                    if self.at("/-") {
                        return Err(self.fail(
                            self.pos,
                            2,
                            "one `/-` comments out an entry; a second is not allowed",
                            "here",
                            "remove one `/-`",
                        ));
                    }
                    spaced_before = self.entry()?;
                }
                Some(c @ ('=' | ')' | '[' | ']')) => {
                    let message = match c {
                        '=' => "`=` needs a property name right before it".to_owned(),
                        ')' => "`)` closes no type annotation".to_owned(),
                        _ => format!("{} has no meaning in KDL", describe(c)),
                    };
                    return Err(self.fail(
                        self.pos,
                        1,
                        message,
                        "here",
                        "properties are written `name=value`; quote text that holds these characters",
                    ));
                }
                Some(_) if !spaced => {
                    return Err(self.fail(
                        self.pos,
                        self.peek().map_or(0, char::len_utf8),
                        "entries must be separated by spaces",
                        "here",
                        "put a space before it",
                    ));
                }
                Some(_) => spaced_before = self.entry()?,
            }
        }
    }

    /// One argument or property; true when it ended with spaces already consumed.
    fn entry(&mut self) -> Step<bool> {
        if self.peek() == Some('(') {
            self.type_annotation()?;
            self.node_space()?;
            self.value()?;
            return Ok(false);
        }
        let start = self.pos;
        let kind = self.value()?;
        let spaced = self.node_space()?;
        if self.peek() != Some('=') {
            return Ok(spaced);
        }
        if kind != Kind::Str {
            let len = self.pos - start;
            return Err(self.fail(
                start,
                len,
                "a property name must be a string, not a number or keyword",
                "property name",
                "quote the name",
            ));
        }
        self.pos += 1;
        self.node_space()?;
        if self.peek() == Some('(') {
            self.type_annotation()?;
            self.node_space()?;
        }
        self.value()?;
        Ok(false)
    }

    /// `(type)` before a node name or a value.
    fn type_annotation(&mut self) -> Step {
        let start = self.pos;
        self.pos += 1;
        self.node_space()?;
        if self.value()? != Kind::Str {
            return Err(self.fail(
                start,
                self.pos - start,
                "a type annotation holds a name, not a number or keyword",
                "type annotation",
                "write `(name)value`",
            ));
        }
        self.node_space()?;
        if self.peek() != Some(')') {
            return Err(self.fail(
                start,
                1,
                "this type annotation is never closed",
                "opens here",
                "write `(name)value`, with `)` right after the name",
            ));
        }
        self.pos += 1;
        if matches!(self.peek(), Some('(')) || self.at("/-") {
            return Err(self.fail(
                self.pos,
                1,
                "a value must follow its type annotation",
                "here",
                "write `(name)value`",
            ));
        }
        Ok(())
    }

    /// Opens a `{` block; `has_children` when its node has a block that is not commented out
    /// (this one or an earlier one).
    fn open(&mut self, has_children: bool) -> Step {
        if self.opens.len() == MAX_DEPTH {
            return Err(self.too_deep(
                self.pos,
                format!("blocks are nested more than {MAX_DEPTH} levels deep"),
                "one level too many",
            ));
        }
        self.opens.push(Open {
            at: self.pos,
            has_children,
        });
        self.pos += 1;
        Ok(())
    }

    /// Closes the innermost block and reads the rest of its node.
    fn close(&mut self) -> Step {
        let Some(open) = self.opens.pop() else {
            return Err(self.fail(
                self.pos,
                1,
                "this `}` closes no block",
                "unmatched `}`",
                "remove it, or look for a missing `{` above",
            ));
        };
        self.pos += 1;
        if let (true, Some(record)) = (self.opens.is_empty(), self.record.as_mut()) {
            record.closes.push(self.pos);
        }
        self.after_block(open.has_children)
    }

    /// What may follow a node's block: further commented-out blocks, one real block if there
    /// was none, and the terminator.
    fn after_block(&mut self, has_children: bool) -> Step {
        self.node_space()?;
        match self.peek() {
            None | Some('}') => Ok(()),
            Some(';') => {
                self.pos += 1;
                Ok(())
            }
            Some('/') if self.at("//") => self.line_comment(),
            Some(_) if self.newline() => Ok(()),
            Some('{') if !has_children => self.open(true),
            Some('/') if self.at("/-") => {
                let start = self.pos;
                self.pos += 2;
                self.line_space()?;
                if self.peek() != Some('{') {
                    return Err(self.fail(
                        start,
                        2,
                        "after a node's block, `/-` may comment out only another block",
                        "here",
                        "start the next node on a new line",
                    ));
                }
                self.open(has_children)
            }
            Some(c) => Err(self.fail(
                self.pos,
                c.len_utf8(),
                if c == '{' {
                    "this node already has a `{ … }` block"
                } else {
                    "only a new line, `;` or a comment may follow a node's `{ … }` block"
                },
                "here",
                "start the next node on a new line",
            )),
        }
    }

    fn record_comment(&mut self, start: usize) {
        let end = self.pos;
        if let Some(record) = self.record.as_mut() {
            record.comments.push((start, end));
        }
    }

    /// Records a syntax error and returns the stop that resumes on the next line.
    fn fail(
        &mut self,
        at: usize,
        len: usize,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) -> Stop {
        self.fail_with(at, len, message, label, help, None)
    }

    /// [`Self::fail`] with a second labelled span.
    fn fail_with(
        &mut self,
        at: usize,
        len: usize,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
        also: Option<(usize, usize, &str)>,
    ) -> Stop {
        let len = len.min(self.text.len() - at.min(self.text.len()));
        let mut diagnostic = Diagnostic::error(
            "cvlan::syntax",
            message,
            Span::new(self.source, at, len),
            label,
        )
        .with_help(help);
        if let Some((at, len, text)) = also {
            diagnostic = diagnostic.with_label(Span::new(self.source, at, len), text);
        }
        // Errors found inside one token (a long broken string) stop counting at the bound too.
        if self.diagnostics.len() < MAX_ERRORS {
            self.diagnostics.push(diagnostic);
        }
        Stop { fatal: false }
    }

    fn too_deep(&mut self, at: usize, message: String, label: &str) -> Stop {
        self.diagnostics.push(
            Diagnostic::error(
                "cvlan::too-deep",
                message,
                Span::new(self.source, at, 1),
                label,
            )
            .with_help(
                "CloudVLAN files need only a few levels; look for unbalanced braces or comments",
            ),
        );
        Stop { fatal: true }
    }
}

#[cfg(test)]
mod tests;
