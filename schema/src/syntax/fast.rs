//! A fast reader for the plain subset of KDL 2.0 that network files use in practice.
//!
//! kdl 6.7's parser costs about 100 µs per node, far too slow for a 100,000-node network. This
//! reader handles the common forms (bare or quoted names, quoted strings with the usual escapes,
//! decimal integers, `#true`/`#false`/`#null`, properties, `{ }` blocks, `//` and `/* */`
//! comments, `;`) and produces exactly the tree [`super::tree::from_kdl`] builds from kdl's own
//! parse, spans included. On anything else — raw or multi-line strings, floats, type
//! annotations, `/-`, line continuations, unusual Unicode, and every syntax error — it gives up
//! and returns `None`, and the caller falls back to kdl, whose messages then report the error.
//! A property test checks the two readers agree.

use super::tree::{Entry, Node, Value};
use crate::span::{SourceId, Span};

/// Reads `text` if it stays within the plain subset; `None` means "ask kdl".
pub fn parse(source: SourceId, text: &str) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    Reader::new(source, text).top_level(&mut |node| nodes.push(node))?;
    Some(nodes)
}

/// Hands the top-level nodes of `text` to `each` one at a time when `text` stays within the
/// plain subset; false means "ask kdl", and then `each` has seen nothing. A first pass reads
/// the text dropping every node as it goes, so the peak is one top-level node's tree rather
/// than the file's (about 20 times the text at 100,000 nodes).
pub fn each_node(source: SourceId, text: &str, mut each: impl FnMut(Node)) -> bool {
    let fits = Reader::new(source, text).top_level(&mut drop).is_some();
    fits && Reader::new(source, text).top_level(&mut each).is_some()
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    source: SourceId,
}

/// What a token turned out to be.
enum Token {
    Str(String),
    Ident(String),
    Other(Value),
}

impl<'a> Reader<'a> {
    fn new(source: SourceId, text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            source,
        }
    }

    /// The top-level nodes up to EOF, each handed over as soon as it is read.
    fn top_level(&mut self, each: &mut impl FnMut(Node)) -> Option<()> {
        loop {
            self.line_space()?;
            match self.peek() {
                None => return Some(()),
                Some(b'}') => return None,
                Some(_) => each(self.node(false)?),
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.bytes[self.pos..].starts_with(s)
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.source, start, self.pos - start)
    }

    /// Nodes until EOF (top level) or the closing brace (inside a block, not consumed).
    fn nodes(&mut self, nested: bool) -> Option<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.line_space()?;
            match self.peek() {
                None => return (!nested).then_some(nodes),
                Some(b'}') => return nested.then_some(nodes),
                Some(_) => nodes.push(self.node(nested)?),
            }
        }
    }

    /// Whitespace, newlines and comments between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            self.node_space()?;
            if self.newline() {
                continue;
            }
            if self.at(b"//") {
                self.line_comment()?;
                continue;
            }
            return Some(());
        }
    }

    /// Spaces, tabs and block comments; true when any were skipped.
    fn node_space(&mut self) -> Option<bool> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'/') if self.at(b"/*") => self.block_comment()?,
                _ => return Some(self.pos > start),
            }
        }
    }

    fn newline(&mut self) -> bool {
        if self.at(b"\n") {
            self.pos += 1;
            true
        } else if self.at(b"\r\n") {
            self.pos += 2;
            true
        } else {
            false
        }
    }

    fn line_comment(&mut self) -> Option<()> {
        self.pos += 2;
        loop {
            match self.peek() {
                None => return Some(()),
                Some(b'\n') => {
                    self.pos += 1;
                    return Some(());
                }
                Some(b'\r') => {
                    return self.newline().then_some(());
                }
                Some(_) => self.plain_char()?,
            }
        }
    }

    fn block_comment(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            if self.at(b"/*") {
                depth += 1;
                self.pos += 2;
            } else if self.at(b"*/") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return Some(());
                }
            } else {
                match self.peek()? {
                    b'\n' | b'\t' => self.pos += 1,
                    b'\r' if self.at(b"\r\n") => self.pos += 2,
                    _ => self.plain_char()?,
                }
            }
        }
    }

    /// Consumes one character that KDL allows in strings and comments and that is no newline.
    fn plain_char(&mut self) -> Option<()> {
        let b = self.peek()?;
        if b.is_ascii() {
            if b < b' ' && b != b'\t' || b == 0x7f {
                return None;
            }
            self.pos += 1;
            return Some(());
        }
        let c = self.text[self.pos..].chars().next()?;
        if matches!(c,
            '\u{0080}'..='\u{009F}'
            | '\u{2028}'..='\u{2029}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
        {
            return None;
        }
        self.pos += c.len_utf8();
        Some(())
    }

    fn node(&mut self, nested: bool) -> Option<Node> {
        let start = self.pos;
        let name = match self.token()? {
            Token::Str(s) | Token::Ident(s) => s,
            Token::Other(_) => return None,
        };
        let name_span = self.span(start);
        let mut node = Node {
            name,
            name_span,
            typed: false,
            entries: Vec::new(),
            children: None,
            span: name_span,
        };
        // kdl's node span runs to the terminator, including the spaces and block comments
        // before it.
        let end;
        loop {
            let spaced = self.node_space()?;
            let here = self.pos;
            match self.peek() {
                None => {
                    end = here;
                    break;
                }
                Some(b'\n' | b'\r' | b';') | Some(b'/') if self.terminator() => {
                    end = here;
                    break;
                }
                Some(b'}') if nested => {
                    end = here;
                    break;
                }
                Some(b'{') => {
                    self.pos += 1;
                    node.children = Some(self.nodes(true)?);
                    self.pos += 1; // the closing brace, guaranteed by `nodes(true)`
                    self.node_space()?;
                    end = self.pos;
                    match self.peek() {
                        None => {}
                        Some(b'}') if nested => {}
                        _ if self.terminator() => {}
                        _ => return None,
                    }
                    break;
                }
                Some(_) if spaced => node.entries.push(self.entry()?),
                Some(_) => return None,
            }
        }
        node.span = Span::new(self.source, start, end - start);
        Some(node)
    }

    /// Consumes a node terminator (newline, `;`, line comment); false when there is none.
    fn terminator(&mut self) -> bool {
        if self.newline() {
            return true;
        }
        if self.at(b";") {
            self.pos += 1;
            return true;
        }
        if self.at(b"//") {
            return self.line_comment().is_some();
        }
        false
    }

    fn entry(&mut self) -> Option<Entry> {
        let start = self.pos;
        let token = self.token()?;
        let after_token = self.pos;
        let key = match token {
            Token::Str(ref s) | Token::Ident(ref s) => {
                self.node_space()?;
                if self.at(b"=") {
                    self.pos += 1;
                    Some((
                        s.clone(),
                        Span::new(self.source, start, after_token - start),
                    ))
                } else {
                    self.pos = after_token;
                    None
                }
            }
            Token::Other(_) => None,
        };
        let value = if key.is_some() {
            self.node_space()?;
            match self.token()? {
                Token::Str(s) | Token::Ident(s) => Value::String(s),
                Token::Other(v) => v,
            }
        } else {
            match token {
                Token::Str(s) | Token::Ident(s) => Value::String(s),
                Token::Other(v) => v,
            }
        };
        Some(Entry {
            key,
            value,
            typed: false,
            span: self.span(start),
        })
    }

    /// A quoted string, a bare identifier, a decimal integer or a keyword, followed by
    /// something that may end a value.
    fn token(&mut self) -> Option<Token> {
        let token = match self.peek()? {
            b'"' => Token::Str(self.quoted()?),
            b'#' => Token::Other(self.keyword()?),
            b'0'..=b'9' => Token::Other(self.integer()?),
            b'-' if self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit) => {
                Token::Other(self.integer()?)
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'*' => Token::Ident(self.ident()?),
            _ => return None,
        };
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b';' | b'}' | b'{' | b'=') => Some(token),
            _ => None,
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"_-.*@:+,!?%&|<>~^$'`".contains(&b) {
                self.pos += 1;
            } else {
                break;
            }
        }
        let ident = &self.text[start..self.pos];
        if matches!(ident, "true" | "false" | "null" | "inf" | "nan") {
            return None;
        }
        Some(ident.to_owned())
    }

    fn keyword(&mut self) -> Option<Value> {
        for (word, value) in [
            (&b"#true"[..], Value::Bool(true)),
            (b"#false", Value::Bool(false)),
            (b"#null", Value::Null),
        ] {
            if self.at(word) {
                self.pos += word.len();
                return Some(value);
            }
        }
        None
    }

    fn integer(&mut self) -> Option<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.text[start..self.pos]
            .parse::<i128>()
            .ok()
            .map(Value::Integer)
    }

    fn quoted(&mut self) -> Option<String> {
        if self.at(b"\"\"\"") {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let chunk_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b == b'\n' || b == b'\r' {
                    break;
                }
                self.plain_char()?;
            }
            out.push_str(&self.text[chunk_start..self.pos]);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => out.push(self.escape()?),
                _ => return None,
            }
        }
    }

    fn escape(&mut self) -> Option<char> {
        let c = match self.bytes.get(self.pos + 1)? {
            b'\\' => '\\',
            b'"' => '"',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b's' => ' ',
            b'u' => {
                let rest = &self.text[self.pos + 2..];
                let hex = rest.strip_prefix('{')?;
                let close = hex.find('}')?;
                let digits = &hex[..close];
                if digits.is_empty()
                    || digits.len() > 6
                    || !digits.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
                self.pos += 2 + 1 + close + 1;
                return Some(c);
            }
            _ => return None,
        };
        self.pos += 2;
        Some(c)
    }
}
