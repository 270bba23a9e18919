//! From text to the syntax tree: the bounds check, then the fast reader, then kdl 6.7 for
//! everything the fast reader leaves to it. KDL syntax errors become `cvlan::syntax`
//! diagnostics.

pub mod bounds;
mod fast;
pub mod tree;

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

pub use tree::{Entry, Node, Value};

/// Parses one file into its top-level nodes, or reports why it cannot be read.
pub fn parse(source: SourceId, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    bounds::check(source, text).map_err(|d| vec![*d])?;
    if let Some(nodes) = fast::parse(source, text) {
        return Ok(nodes);
    }
    parse_with_kdl(source, text)
}

/// Parses with kdl only (the reference the fast reader is tested against). Callers must have
/// run [`bounds::check`] first.
pub fn parse_with_kdl(source: SourceId, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    match kdl::KdlDocument::parse_v2(text) {
        Ok(doc) => Ok(tree::from_kdl(source, &doc)),
        Err(err) => Err(syntax_diagnostics(source, text, &err)),
    }
}

/// Turns kdl's parse errors into `cvlan::syntax` diagnostics.
pub fn syntax_diagnostics(source: SourceId, text: &str, err: &kdl::KdlError) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = err
        .diagnostics
        .iter()
        .map(|d| {
            let offset = d.span.offset().min(text.len());
            let len = d.span.len().min(text.len() - offset);
            let message = d
                .message
                .clone()
                .unwrap_or_else(|| "this is not valid KDL".to_owned());
            let label = d.label.clone().unwrap_or_else(|| "here".to_owned());
            Diagnostic::error(
                "cvlan::syntax",
                message,
                Span::new(source, offset, len),
                label,
            )
            .with_help(d.help.clone().unwrap_or_else(|| {
                "network files are KDL 2.0: quote strings, use #true/#false, close every `{`"
                    .to_owned()
            }))
        })
        .collect();
    if out.is_empty() {
        out.push(
            Diagnostic::error(
                "cvlan::syntax",
                "this is not valid KDL",
                Span::new(source, 0, 0),
                "in this file",
            )
            .with_help("network files are KDL 2.0: quote strings, use #true/#false"),
        );
    }
    out
}

#[cfg(test)]
mod tests;
