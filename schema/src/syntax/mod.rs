//! From text to the syntax tree: the scanner proves the text well-formed and bounded, then the
//! fast reader builds the tree, and kdl 6.7 builds it for the KDL the fast reader leaves to it.
//! Syntax errors are `cvlan::syntax` diagnostics (`cvlan::too-deep` and `cvlan::too-large`
//! for input past the scanner's bounds). Every KDL file of the project is read this way.

mod fast;
pub(crate) mod scan;
mod tree;

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

pub use tree::{Entry, Node, Value};

/// Parses one file into its top-level nodes (spans in `source`), or reports why it cannot
/// be read.
pub fn parse(source: SourceId, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    scan::check(source, text)?;
    if let Some(nodes) = fast::parse(source, text) {
        return Ok(nodes);
    }
    kdl_after_scan(source, text).map(|doc| tree::from_kdl(source, &doc))
}

/// Parses one file and hands its top-level nodes to `each` in order, holding one node's tree
/// at a time when the fast reader can read the file (kdl's fallback builds the whole tree
/// first); on a syntax error `each` has seen nothing.
pub fn parse_each(
    source: SourceId,
    text: &str,
    mut each: impl FnMut(Node),
) -> Result<(), Vec<Diagnostic>> {
    scan::check(source, text)?;
    if fast::each_node(source, text, &mut each) {
        return Ok(());
    }
    let doc = kdl_after_scan(source, text)?;
    tree::from_kdl(source, &doc).into_iter().for_each(each);
    Ok(())
}

/// The tree of `text` when it stays within the fast reader's plain subset (no raw or
/// multi-line strings, floats, type annotations, `/-` or line continuations); `None`
/// otherwise. `text` must have passed the scanner.
pub(crate) fn parse_plain(source: SourceId, text: &str) -> Option<Vec<Node>> {
    fast::parse(source, text)
}

/// Parses with kdl only (the reference the fast reader is tested against).
#[cfg(test)]
pub(crate) fn parse_with_kdl(source: SourceId, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    kdl_document(source, text).map(|doc| tree::from_kdl(source, &doc))
}

/// kdl's document of `text`, comments and layout kept: the one way into kdl's parser (the
/// formatter needs kdl's whitespace and comments), so that kdl never sees text the scanner
/// refused.
pub fn kdl_document(source: SourceId, text: &str) -> Result<kdl::KdlDocument, Vec<Diagnostic>> {
    scan::check(source, text)?;
    kdl_after_scan(source, text)
}

fn kdl_after_scan(source: SourceId, text: &str) -> Result<kdl::KdlDocument, Vec<Diagnostic>> {
    #[allow(clippy::disallowed_methods)] // the scanner has accepted `text`
    kdl::KdlDocument::parse_v2(text).map_err(|err| syntax_diagnostics(source, text, &err))
}

/// Turns kdl's parse errors into `cvlan::syntax` diagnostics.
fn syntax_diagnostics(source: SourceId, text: &str, err: &kdl::KdlError) -> Vec<Diagnostic> {
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
