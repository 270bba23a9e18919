//! Canonical formatting for `cvlanctl fmt`: one node per line, four-space indentation,
//! every string value quoted, one space between entries, comments kept where they were
//! (a comment on the line of a node stays on that line; blank lines between nodes collapse
//! to one). Formatting is idempotent and never changes what a file means.
//!
//! The formatter reads the file with kdl 6.7, which keeps the comments and whitespace around
//! every node and entry, after the same syntax scan the parser uses.

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

use crate::diagnostic::Diagnostic;
use crate::span::SourceId;
use crate::syntax;
use crate::syntax::scan::chars::{is_newline, is_space, newline_len};

mod plain;

const INDENT: &str = "    ";

/// Why a file could not be formatted: it is not valid KDL (or breaks the size or nesting
/// bounds). The diagnostics point into source 0, the text given to [`format`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("the file is not valid KDL; nothing was formatted")]
pub struct FormatError {
    /// What is wrong; spans use `SourceId(0)`.
    pub diagnostics: Vec<Diagnostic>,
}

/// A file read by [`format_file`].
#[derive(Debug, Clone)]
pub struct FormattedFile {
    /// The file's text (bytes that are not UTF-8 shown as U+FFFD).
    pub text: String,
    /// The canonical text, or why there is none.
    pub formatted: Result<String, FormatError>,
}

/// Reads the file at `path` (within the size bound) and formats it; a file that is not UTF-8
/// gets the `cvlan::encoding` diagnostic [`crate::check_network_bytes`] gives.
pub fn format_file(path: &std::path::Path) -> Result<FormattedFile, crate::LoadError> {
    let bytes = crate::load::read_bytes(path)?;
    Ok(
        match crate::load::decode::<()>(&path.display().to_string(), bytes) {
            Ok(text) => FormattedFile {
                formatted: format(&text),
                text,
            },
            Err(parts) => FormattedFile {
                text: parts
                    .sources
                    .get(SourceId(0))
                    .map(|s| s.text.to_string())
                    .unwrap_or_default(),
                formatted: Err(FormatError {
                    diagnostics: parts.diagnostics,
                }),
            },
        },
    )
}

/// Formats `text` canonically, keeping comments.
///
/// The canonical form ends lines with `\n` only. Every other KDL newline (a lone CR, CR LF,
/// NEL, VT, FF, LS, PS) can stand only in whitespace, comments and multi-line strings (whose
/// newlines mean `\n`), so replacing them keeps the meaning; the writers then need to know
/// one line break. A file in the plain subset the fast reader knows is written from its tree
/// (the stretches with comments through kdl, one at a time); any other file is written
/// whole from kdl's document, which keeps every comment and layout detail but costs about
/// 100 µs and a few KiB per node.
pub fn format(text: &str) -> Result<String, FormatError> {
    syntax::scan::check(SourceId(0), text).map_err(|diagnostics| FormatError { diagnostics })?;
    match plain::format(&lf_newlines(text)) {
        Some(formatted) => Ok(formatted),
        None => format_with_kdl(text),
    }
}

/// Formats `text` from kdl's document of the whole file. Syntax diagnostics point into the
/// text as given.
fn format_with_kdl(text: &str) -> Result<String, FormatError> {
    let source = SourceId(0);
    let mut doc =
        syntax::kdl_document(source, text).map_err(|diagnostics| FormatError { diagnostics })?;
    let normalized = lf_newlines(text);
    if let std::borrow::Cow::Owned(lf) = &normalized {
        doc =
            syntax::kdl_document(source, lf).map_err(|diagnostics| FormatError { diagnostics })?;
    }
    write_kdl(normalized.as_ref(), &doc)
}

/// Writes kdl's document `doc` of `text` (line feeds only) canonically, or refuses when a
/// comment would be lost.
fn write_kdl(text: &str, doc: &KdlDocument) -> Result<String, FormatError> {
    let source = SourceId(0);
    let mut out = Writer {
        text,
        lines: Vec::new(),
    };
    out.document(doc, 0);
    let formatted = out.finish();
    // kdl 6.7 drops some comments from its format records (e.g. after a closing brace); the
    // writer recovers the known cases, and this check guarantees none is ever lost.
    let mut before = syntax::scan::comments(text);
    let mut after = syntax::scan::comments(&formatted);
    before.sort();
    after.sort();
    if before != after {
        let lost = before
            .iter()
            .find(|c| !after.contains(c))
            .cloned()
            .unwrap_or_default();
        let at = text
            .find(lost.split(' ').next().unwrap_or_default())
            .unwrap_or(0);
        return Err(FormatError {
            diagnostics: vec![
                Diagnostic::error(
                    "cvlan::format",
                    "this comment's position cannot be kept by the formatter; nothing was changed",
                    crate::span::Span::new(source, at, 0),
                    "this comment",
                )
                .with_help("move the comment onto its own line and run fmt again"),
            ],
        });
    }
    Ok(formatted)
}

/// `text` with every KDL newline written as `\n`.
fn lf_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_newline(c) && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = newline_len(rest).unwrap_or(c.len_utf8());
        out.push(if is_newline(c) { '\n' } else { c });
        rest = &rest[len..];
    }
    std::borrow::Cow::Owned(out)
}

/// Output lines under construction.
struct Writer<'t> {
    /// The text being formatted, to recover what kdl's format records miss.
    text: &'t str,
    lines: Vec<String>,
}

/// How a stretch of whitespace and comments before a node begins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Right after `{` or a `;`: the first line continues the previous line.
    SameLine,
    /// At the start of a line.
    FreshLine,
}

impl Writer<'_> {
    fn finish(self) -> String {
        let mut text = self.lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    fn document(&mut self, doc: &KdlDocument, depth: usize) {
        let block_start = self.lines.len();
        let mut start = if depth == 0 {
            Start::FreshLine
        } else {
            Start::SameLine
        };
        if let Some(f) = doc.format() {
            self.gap(&f.leading, depth, start, block_start, true);
            if f.leading.contains('\n') {
                start = Start::FreshLine;
            }
        }
        for node in doc.nodes() {
            let leading = node.format().map_or("", |f| f.leading.as_str());
            self.gap(leading, depth, start, block_start, true);
            start = self.node(node, depth);
        }
        if let Some(f) = doc.format() {
            self.gap(&f.trailing, depth, start, block_start, false);
        }
    }

    /// Writes the comments in a stretch of whitespace before a node or a closing brace.
    /// `keep_blank` keeps one blank line before what follows when the source had one.
    fn gap(
        &mut self,
        text: &str,
        depth: usize,
        start: Start,
        block_start: usize,
        keep_blank: bool,
    ) {
        // The canonical form has no byte-order mark.
        let text = without_escline(text.trim_start_matches('\u{feff}'));
        let mut parts: Vec<&str> = text.split('\n').collect();
        // A slashdashed node on the line of the node before it (after a `;`) gets its own line:
        // joined, it would read as a slashdashed argument of that node and the next as a real
        // one.
        if start == Start::SameLine && !parts[0].contains("/-") {
            let first = parts.remove(0).trim();
            if !first.is_empty() {
                match self.lines.last_mut() {
                    Some(last) => {
                        last.push(' ');
                        last.push_str(first);
                    }
                    None => self.lines.push(first.to_owned()),
                }
            }
        }
        // Keep the comments' indentation relative to each other.
        let margin = parts
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.len() - p.trim_start().len())
            .min()
            .unwrap_or(0);
        let mut pending_blank = false;
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            if part.trim().is_empty() {
                // An empty line, unless it is the start of the following item's own line.
                pending_blank |= i + 1 < count;
                continue;
            }
            if pending_blank && self.lines.len() > block_start {
                self.lines.push(String::new());
            }
            pending_blank = false;
            let line = part.get(margin..).unwrap_or(part).trim_end();
            self.lines.push(format!("{}{line}", INDENT.repeat(depth)));
        }
        if keep_blank && pending_blank && self.lines.len() > block_start {
            self.lines.push(String::new());
        }
    }

    /// Writes one node (and its block); returns how the next gap starts.
    fn node(&mut self, node: &KdlNode, depth: usize) -> Start {
        let mut line = INDENT.repeat(depth);
        if let Some(ty) = node.ty() {
            line.push_str(&format!("({})", ident(ty)));
        }
        line.push_str(&ident(node.name()));
        for entry in node.entries() {
            line.push_str(&entry_text(entry));
        }
        let format = node.format();
        let before_children = without_escline(format.map_or("", |f| &f.before_children));
        let before_terminator = without_escline(format.map_or("", |f| &f.before_terminator));
        let before_terminator = before_terminator.as_str();
        push_material(&mut line, &before_children);
        let mut terminator = format.map_or("", |f| f.terminator.as_str());
        match node.children() {
            None => {
                push_material(&mut line, before_terminator);
                self.lines.push(line);
            }
            Some(children) if children.nodes().is_empty() && !has_material(children) => {
                line.push_str(" {}");
                push_material(&mut line, before_terminator);
                self.lines.push(line);
            }
            Some(children) => {
                line.push_str(" {");
                self.lines.push(line);
                self.document(children, depth + 1);
                let mut close = format!("{}}}", INDENT.repeat(depth));
                push_material(&mut close, before_terminator);
                self.lines.push(close);
            }
        }
        if node.children().is_some() && terminator.is_empty() {
            // kdl records nothing of what follows a closing brace on its line.
            let after = self.after_block(node);
            if let Some(last) = self.lines.last_mut() {
                push_material(last, after.trim_end_matches('\n'));
            }
            if after.ends_with('\n') {
                terminator = "\n";
            }
        }
        if terminator.starts_with("//") {
            if let Some(last) = self.lines.last_mut() {
                last.push(' ');
                last.push_str(terminator.trim_end());
            }
            terminator = "\n";
        }
        let trailing = format.map_or("", |f| f.trailing.as_str());
        if terminator.contains('\n') || trailing.contains('\n') {
            Start::FreshLine
        } else {
            Start::SameLine
        }
    }
}

impl<'t> Writer<'t> {
    /// The spaces and comments after a node's closing brace, through the end of its line.
    fn after_block(&self, node: &KdlNode) -> &'t str {
        let span = node.span();
        let Some(node_text) = self.text.get(span.offset()..span.offset() + span.len()) else {
            return "";
        };
        let Some(close) = syntax::scan::block_close(node_text) else {
            return "";
        };
        let start = span.offset() + close;
        let text = self.text;
        let rest = &text[start..];
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        // Only spaces and comments belong to this node; anything else is another node.
        let code = line.trim_start();
        if code.is_empty() || code.starts_with("//") || code.starts_with("/*") || code == "\n" {
            line
        } else {
            ""
        }
    }
}

fn has_material(doc: &KdlDocument) -> bool {
    doc.format()
        .is_some_and(|f| !f.leading.trim().is_empty() || !f.trailing.trim().is_empty())
}

/// Appends comments or `/-` items found between tokens, separated by one space.
fn push_material(line: &mut String, text: &str) {
    let material = text.trim();
    if !material.is_empty() {
        line.push(' ');
        line.push_str(material);
    }
}

/// One entry with its leading space, canonically.
fn entry_text(entry: &KdlEntry) -> String {
    let mut text = String::new();
    if let Some(f) = entry.format() {
        let leading = without_escline(&f.leading);
        push_material(&mut text, &leading);
    }
    text.push(' ');
    if let Some(key) = entry.name() {
        text.push_str(&ident(key));
        text.push('=');
    }
    if let Some(ty) = entry.ty() {
        text.push_str(&format!("({})", ident(ty)));
    }
    text.push_str(&value(entry.value()));
    if let Some(f) = entry.format() {
        push_material(&mut text, &f.trailing);
    }
    text
}

/// Drops line continuations (`\` + newline) from whitespace and comments the formatter
/// re-lays out (it puts a node's entries on one line, so a continuation there means nothing
/// and, kept, would swallow the following line break). A comment after the `\` becomes a
/// block comment. Backslashes inside comments and strings (slashdashed entries keep theirs)
/// are left alone.
fn without_escline(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied()) {
            (b'/', Some(b'/')) => i += text[i..].find(is_newline).unwrap_or(text.len() - i),
            (b'/', Some(b'*')) => i += block_comment_len(&text[i..]),
            (b'"' | b'#', _) => i += string_len(&text[i..]),
            (b'\\', _) => {
                let Some((replacement, len)) = escline(&text[i + 1..]) else {
                    // Not a continuation after all: keep the text as it is.
                    return text.to_owned();
                };
                out.push_str(&text[copied..i]);
                out.push_str(&replacement);
                i += 1 + len;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// What replaces the line continuation whose `\\` stands before `rest`, and how much of
/// `rest` it takes: spaces, then a newline (any KDL newline), the end of the text, or a
/// `//` comment (kept as a block comment) and its newline. `None` when it is not one.
fn escline(rest: &str) -> Option<(String, usize)> {
    let spaces = rest.len() - rest.trim_start_matches(is_space).len();
    let after = &rest[spaces..];
    if after.is_empty() {
        return Some((" ".to_owned(), spaces));
    }
    if let Some(newline) = newline_len(after) {
        return Some((" ".to_owned(), spaces + newline));
    }
    let comment = after.strip_prefix("//")?;
    let end = comment.find(is_newline).unwrap_or(comment.len());
    // A comment that cannot become a block comment is changed, so that the check that no
    // comment was lost refuses the file (asking for the comment on a line of its own)
    // rather than keep a continuation that would swallow the next line.
    let text = comment[..end]
        .trim()
        .replace("*/", "* /")
        .replace("/*", "/ *");
    let newline = newline_len(&comment[end..]).unwrap_or(0);
    Some((format!(" /* {text} */ "), spaces + 2 + end + newline))
}

/// The length of the (nested) block comment at the start of `text`, or all of it when it is
/// not closed.
fn block_comment_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied()) {
            (b'/', Some(b'*')) => (depth, i) = (depth + 1, i + 2),
            (b'*', Some(b'/')) => {
                (depth, i) = (depth - 1, i + 2);
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    text.len()
}

/// The length of the string (quoted, multi-line or raw) at the start of `text`, or 1 for a
/// `#` that opens none (a keyword like `#true`), or all of it when it is not closed.
fn string_len(text: &str) -> usize {
    let hashes = text.len() - text.trim_start_matches('#').len();
    let body = &text[hashes..];
    if !body.starts_with('"') {
        return hashes.max(1);
    }
    let quotes = if body.starts_with("\"\"\"") { 3 } else { 1 };
    let close = format!("{}{}", "\"".repeat(quotes), "#".repeat(hashes));
    let mut i = hashes + quotes;
    while i < text.len() {
        if hashes == 0 && text.as_bytes()[i] == b'\\' {
            i += 2;
            continue;
        }
        if text.as_bytes()[i..].starts_with(close.as_bytes()) {
            return i + close.len();
        }
        i += 1;
    }
    text.len()
}

/// A node name, property key or type: bare when it is a plain identifier, quoted otherwise.
fn ident(id: &KdlIdentifier) -> String {
    ident_text(id.value())
}

/// `name` as [`ident`] writes it.
fn ident_text(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !matches!(name, "true" | "false" | "null" | "inf" | "nan");
    if plain { name.to_owned() } else { quote(name) }
}

fn value(value: &KdlValue) -> String {
    match value {
        KdlValue::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// `s` as a KDL quoted string, as the formatter writes every string: quotes, backslashes,
/// control characters and the invisible direction marks escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control()
                || matches!(c, '\u{200E}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
