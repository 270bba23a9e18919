//! The formatter's fast path: a file in the plain subset of KDL that the fast reader knows is
//! written from the reader's tree, so a 100,000-node network formats in about the time it
//! takes to parse it. The top-level nodes are cut into stretches at the gaps between them
//! that hold only whitespace; a stretch without comments is written from the tree, and a
//! stretch with comments by kdl's writer, from kdl's document of that stretch alone (kdl
//! keeps where each comment sits). Both write what the whole-file kdl path writes, which
//! the tests below check.

use crate::span::SourceId;
use crate::syntax::{self, Node, Value};

use super::{INDENT, ident_text, quote, write_kdl};

/// `text` (line feeds only, accepted by the scanner) formatted, or `None` when the fast
/// reader does not know it or a stretch with comments does not format on its own; the
/// caller then formats the whole file with kdl, which also says why it cannot.
pub(super) fn format(text: &str) -> Option<String> {
    let nodes = syntax::parse_plain(SourceId(0), text)?;
    if nodes.is_empty() {
        // Nothing but whitespace and comments: kdl's writer lays those out.
        return None;
    }
    let comments = syntax::scan::comment_ranges(text);
    let has_comment = |from: usize, to: usize| {
        let first = comments.partition_point(|&(start, _)| start < from);
        comments.get(first).is_some_and(|&(start, _)| start < to)
    };
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let (mut first, mut from) = (0, 0);
    for (i, node) in nodes.iter().enumerate() {
        let next = nodes.get(i + 1);
        if next.is_some_and(|next| has_comment(end(node), next.span.offset)) {
            continue;
        }
        let to = next.map_or(text.len(), |next| next.span.offset);
        let stretch = &nodes[first..=i];
        if first > 0 && blank_between(text, &nodes[first - 1], &stretch[0]) {
            out.push('\n');
        }
        if has_comment(from, to) {
            let part = &text[from..to];
            let doc = syntax::kdl_document(SourceId(0), part).ok()?;
            out.push_str(&write_kdl(part, &doc).ok()?);
        } else {
            write_nodes(&mut out, text, stretch, 0)?;
        }
        (first, from) = (i + 1, to);
    }
    Some(out)
}

/// Where `node`'s span ends.
fn end(node: &Node) -> usize {
    node.span.offset + node.span.len
}

/// Whether the source has an empty line between two sibling nodes (kept as one).
fn blank_between(text: &str, before: &Node, after: &Node) -> bool {
    text.get(end(before)..after.span.offset)
        .is_some_and(|gap| gap.bytes().filter(|&b| b == b'\n').nth(1).is_some())
}

/// Writes sibling nodes that hold no comments, one per line, blocks indented.
fn write_nodes(out: &mut String, text: &str, nodes: &[Node], depth: usize) -> Option<()> {
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 && blank_between(text, &nodes[i - 1], node) {
            out.push('\n');
        }
        if node.typed {
            return None;
        }
        push_indent(out, depth);
        out.push_str(&ident_text(&node.name));
        for entry in &node.entries {
            if entry.typed {
                return None;
            }
            out.push(' ');
            if let Some((key, _)) = &entry.key {
                out.push_str(&ident_text(key));
                out.push('=');
            }
            push_value(out, &entry.value)?;
        }
        match &node.children {
            None => out.push('\n'),
            Some(children) if children.is_empty() => out.push_str(" {}\n"),
            Some(children) => {
                out.push_str(" {\n");
                write_nodes(out, text, children, depth + 1)?;
                push_indent(out, depth);
                out.push_str("}\n");
            }
        }
    }
    Some(())
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str(INDENT);
    }
}

/// A value as kdl's writer prints it; `None` for a float, which the fast reader never reads.
fn push_value(out: &mut String, value: &Value) -> Option<()> {
    match value {
        Value::String(s) => out.push_str(&quote(s)),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Bool(true) => out.push_str("#true"),
        Value::Bool(false) => out.push_str("#false"),
        Value::Null => out.push_str("#null"),
        Value::Float(_) => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts in the plain subset with the layouts the writer has rules for.
    const CASES: &[&str] = &[
        "network \"corp\" {\n  overlay \"100.64.0.0/10\"\n}\n",
        "\n\nnode \"a\"   {   public-key \"k\" ; tags \"x\"   \"y\" }\n\n\n\nnode b\n",
        "node \"a\" {}\nnode \"b\" { }\nnode \"c\" {\n\n}\n",
        "policy {\n\n    allow \"r\" from=\"*\" to=\"tag:web\" ports=\"80/tcp\"\n\n\n    deny \"d\" from=\"*\" to=\"*\"\n\n}\n",
        "a 1 -2 007 #true #false #null \"q\\\"uo\\\\te\\n\" \"x y\"=\"z\"\nb; c; d\n",
        "node \"with space\" \"key with space\"=1 k=\"v\"\n",
        "// leading comment\nnode \"a\"\n\nnode \"b\" // trailing\nnode \"c\"\n\n/* block */ node \"d\"\nnode \"e\" {\n    // inside\n    x 1\n}\nnode \"f\"\n// last\n",
        "a { b { c { d 1; e 2 }\n}\n}\nz\n",
        "a\n\n\n// only a comment between\n\n\nb\n\nc\n",
        "node \"x\" { address \"100.64.0.1\" } // after the brace\nnode \"y\"\n",
    ];

    #[test]
    fn the_tree_writer_writes_what_the_kdl_writer_writes() {
        for text in CASES {
            let fast = format(text).unwrap_or_else(|| panic!("plain subset: {text:?}"));
            let kdl = super::super::format_with_kdl(text).expect("valid");
            assert_eq!(fast, kdl, "{text:?}");
        }
    }

    #[test]
    fn the_examples_format_the_same_either_way() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut checked = 0;
        for sub in [dir.clone(), dir.join("multi-site"), dir.join("host")] {
            for entry in std::fs::read_dir(&sub).expect("examples").flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "kdl") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read");
                let kdl = super::super::format_with_kdl(&text).expect("valid");
                if let Some(fast) = format(&text) {
                    assert_eq!(fast, kdl, "{}", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked >= 5, "only {checked} examples took the fast path");
    }

    #[test]
    fn files_outside_the_plain_subset_are_left_to_kdl() {
        assert_eq!(format("a 1.5\n"), None);
        assert_eq!(format("(t)a\n"), None);
        assert_eq!(format("a r#\"raw\"#\n"), None);
        assert_eq!(format("// nothing else\n"), None);
    }
}
