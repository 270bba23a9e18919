//! What lies between tokens: spaces, newlines, `//` and `/* */` comments and `\` line
//! continuations.

use super::chars::{describe, is_disallowed, is_space, newline_len};
use super::{MAX_COMMENT_PIECES, MAX_DEPTH, Scanner, Step};

impl Scanner<'_> {
    /// Spaces, block comments and line continuations inside a node (`node-space*`); true when
    /// any were skipped.
    pub(super) fn node_space(&mut self) -> Step<bool> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(c) if is_space(c) => self.pos += c.len_utf8(),
                Some('/') if self.at("/*") => self.block_comment()?,
                Some('\\') => self.escline()?,
                _ => return Ok(self.pos > start),
            }
        }
    }

    /// Node space, newlines and line comments between nodes (`line-space*`).
    pub(super) fn line_space(&mut self) -> Step {
        loop {
            self.node_space()?;
            if self.newline() {
                continue;
            }
            if self.at("//") {
                self.line_comment()?;
                continue;
            }
            return Ok(());
        }
    }

    /// Consumes one newline; false when none starts here.
    pub(super) fn newline(&mut self) -> bool {
        match newline_len(self.rest()) {
            Some(len) => {
                self.pos += len;
                true
            }
            None => false,
        }
    }

    /// A `//` comment through its newline (or the end of the file).
    pub(super) fn line_comment(&mut self) -> Step {
        let start = self.pos;
        self.pos += 2;
        loop {
            match self.peek() {
                None => break,
                Some(_) if newline_len(self.rest()).is_some() => break,
                Some(c) => self.plain(c)?,
            }
        }
        self.record_comment(start);
        self.newline();
        Ok(())
    }

    /// A `/* … */` comment, nested ones included. kdl 6.7 recurses once per piece of it (a run
    /// of text, a `*`, a `/`, a nested comment), so the pieces are bounded.
    fn block_comment(&mut self) -> Step {
        let start = self.pos;
        let mut nesting = 0usize;
        let mut pieces = 0usize;
        let mut in_run = false;
        loop {
            if self.at("/*") {
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
            } else if self.at("*/") {
                nesting -= 1;
                in_run = false;
                self.pos += 2;
                if nesting == 0 {
                    self.record_comment(start);
                    return Ok(());
                }
            } else {
                let Some(c) = self.peek() else {
                    return Err(self.fail(
                        start,
                        2,
                        "this comment is never closed",
                        "opens here",
                        "close it with `*/`",
                    ));
                };
                if c == '*' || c == '/' {
                    pieces += 1;
                    in_run = false;
                } else if !in_run {
                    pieces += 1;
                    in_run = true;
                }
                self.plain(c)?;
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
    }

    /// `\` continuing a node on the next line: only spaces or comments may follow it.
    fn escline(&mut self) -> Step {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some(c) if is_space(c) => self.pos += c.len_utf8(),
                Some('/') if self.at("/*") => self.block_comment()?,
                _ => break,
            }
        }
        if self.peek().is_none() || self.newline() {
            return Ok(());
        }
        if self.at("//") {
            return self.line_comment();
        }
        Err(self.fail(
            start,
            1,
            "`\\` continues a node on the next line, but more text follows it here",
            "line continuation",
            "end the line after `\\`, or quote the text if the `\\` belongs to a value",
        ))
    }

    /// Consumes `c`, one character of a comment or string, unless KDL forbids it.
    pub(super) fn plain(&mut self, c: char) -> Step {
        if is_disallowed(c) {
            return Err(self.fail(
                self.pos,
                c.len_utf8(),
                format!("{} may not appear in a KDL file", describe(c)),
                "this character",
                "remove it; KDL files hold no control or text-direction characters",
            ));
        }
        self.pos += c.len_utf8();
        Ok(())
    }
}
