//! Edits of network.kdl text that keep every comment and the layout: setting one value of a
//! `node` or `vrouter` block (cvlan-lab fills in the public keys and endpoints of a template)
//! and pointing `secret-file=` paths elsewhere. The text is spliced at the spans of the syntax
//! tree, values are written quoted, and the result is read again to prove it is still KDL.
//! What an edited file means is then checked as for any file ([`crate::parse_network`]).

use std::fmt;

use crate::diagnostic::Diagnostic;
use crate::format::quote;
use crate::span::{SourceId, Span};
use crate::syntax::{self, Entry, Node};

/// A kind of top-level block an edit addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    /// `node "NAME" { … }`.
    Node,
    /// `vrouter "NAME" { … }`.
    Vrouter,
}

impl Block {
    /// The node name in the file: `node` or `vrouter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Block::Node => "node",
            Block::Vrouter => "vrouter",
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an edit was not made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EditError {
    /// The text is not KDL (or would not be after the edit); the diagnostics point into
    /// source 0, the text given.
    #[error("the text is not valid KDL: {}", Diagnostic::first_message(.0))]
    Syntax(Vec<Diagnostic>),
    /// No top-level block of this kind has this name.
    #[error("there is no `{kind} \"{name}\"`")]
    UnknownBlock {
        /// `node` or `vrouter`.
        kind: Block,
        /// The name looked for.
        name: String,
    },
}

/// Returns `text` with `key "value"` as the first `key` child of `kind "name"`: the first
/// argument of an existing one is replaced, else a line is added as the block's first child
/// (a block is opened when the node has none). Nothing else changes.
pub fn set_value(
    text: &str,
    kind: Block,
    name: &str,
    key: &str,
    value: &str,
) -> Result<String, EditError> {
    let nodes = parse(text)?;
    let node = nodes
        .iter()
        .find(|n| {
            n.name == kind.as_str() && n.args().next().and_then(|e| e.value.as_str()) == Some(name)
        })
        .ok_or_else(|| EditError::UnknownBlock {
            kind,
            name: name.to_owned(),
        })?;
    let quoted = quote(value);
    let existing = node
        .children
        .iter()
        .flatten()
        .find(|c| c.name == key)
        .and_then(|c| c.args().next());
    let mut out = text.to_owned();
    match existing {
        Some(entry) => out.replace_range(range(entry.span), &quoted),
        None => {
            let (at, insert) = insertion(text, node, &format!("{key} {quoted}"));
            out.insert_str(at, &insert);
        }
    }
    parse(&out)?;
    Ok(out)
}

/// Returns `text` with every `secret-file="OLD"` for which `map(OLD)` gives a path pointed at
/// that path instead. Nothing else changes.
pub fn replace_secret_files(
    text: &str,
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EditError> {
    let nodes = parse(text)?;
    let mut edits: Vec<(Span, String)> = Vec::new();
    visit_secret_files(&nodes, &mut |entry| {
        if let Some(new) = entry.value.as_str().and_then(map) {
            edits.push((entry.span, format!("secret-file={}", quote(&new))));
        }
    });
    let mut out = text.to_owned();
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.offset));
    for (span, replacement) in edits {
        out.replace_range(range(span), &replacement);
    }
    parse(&out)?;
    Ok(out)
}

fn parse(text: &str) -> Result<Vec<Node>, EditError> {
    syntax::parse(SourceId(0), text).map_err(EditError::Syntax)
}

fn range(span: Span) -> std::ops::Range<usize> {
    span.offset..span.offset + span.len
}

fn visit_secret_files(nodes: &[Node], f: &mut dyn FnMut(&Entry)) {
    for node in nodes {
        for entry in node.props() {
            if entry.key.as_ref().is_some_and(|(k, _)| k == "secret-file") {
                f(entry);
            }
        }
        visit_secret_files(node.children.as_deref().unwrap_or_default(), f);
    }
}

/// Where and what to insert so that `line` becomes the first child of `node`.
fn insertion(text: &str, node: &Node, line: &str) -> (usize, String) {
    let indent = line_indent(text, node.span.offset);
    if let Some(first) = node.children.as_deref().and_then(<[Node]>::first) {
        let at = first.span.offset;
        let before = &text[..at];
        let own_line = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .all(char::is_whitespace);
        if own_line {
            let child_indent = line_indent(text, at);
            return (at, format!("{line}\n{child_indent}"));
        }
        return (at, format!("{line}; "));
    }
    let header = node.entries.last().map_or(node.name_span, |e| e.span);
    let end = header.offset + header.len;
    let node_end = node.span.offset + node.span.len;
    let block = format!("\n{indent}    {line}\n{indent}");
    match text[end..node_end].find('{') {
        // An empty `{ }` block: fill it.
        Some(brace) => (end + brace + 1, block),
        None => (end, format!(" {{{block}}}")),
    }
}

fn line_indent(text: &str, offset: usize) -> String {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[start..offset]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const KEY_B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

    const TEMPLATE: &str = r#"// the lab network
network "lab" {
    overlay "100.64.0.0/10"
    listen-port 51000
}

node "alpha" {
    // alpha's key is filled in by the lab
    address "100.64.0.1" // pinned
    public-key "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // stale
}
node "bravo" /* no block yet */
node "carol" { address "100.64.0.3"; }
node "delta" {}
"#;

    /// The model of `text`, read as far as it goes.
    fn model(text: &str) -> crate::model::Network {
        crate::parse_network_partial("network.kdl", text)
            .network
            .expect("KDL")
    }

    fn key_of(text: &str, node: &str) -> Option<String> {
        model(text)
            .node(node)
            .and_then(|n| n.public_key.as_ref())
            .map(|k| k.value.to_base64())
    }

    #[test]
    fn replaces_an_existing_key_and_keeps_comments() {
        let out = set_value(TEMPLATE, Block::Node, "alpha", "public-key", KEY_A).unwrap();
        assert!(
            out.contains(&format!(r#"public-key "{KEY_A}" // stale"#)),
            "{out}"
        );
        assert!(out.contains("// alpha's key is filled in by the lab"));
        assert_eq!(
            out.replace(&format!(r#""{KEY_A}""#), ""),
            TEMPLATE.replace(r#""AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=""#, "")
        );
        assert_eq!(key_of(&out, "alpha").as_deref(), Some(KEY_A));
    }

    #[test]
    fn adds_a_block_to_a_node_without_children() {
        let out = set_value(TEMPLATE, Block::Node, "bravo", "public-key", KEY_B).unwrap();
        assert!(
            out.contains(&format!(
                "node \"bravo\" {{\n    public-key \"{KEY_B}\"\n}} /* no block yet */"
            )),
            "{out}"
        );
        assert_eq!(key_of(&out, "bravo").as_deref(), Some(KEY_B));
    }

    #[test]
    fn adds_to_one_line_and_empty_blocks() {
        let out = set_value(TEMPLATE, Block::Node, "carol", "public-key", KEY_A).unwrap();
        assert!(
            out.contains(&format!(
                r#"node "carol" {{ public-key "{KEY_A}"; address "100.64.0.3"; }}"#
            )),
            "{out}"
        );
        let out = set_value(&out, Block::Node, "delta", "endpoint", "10.0.0.4:51000").unwrap();
        assert!(
            out.contains("node \"delta\" {\n    endpoint \"10.0.0.4:51000\"\n}"),
            "{out}"
        );
        let network = model(&out);
        let delta = network.node("delta").unwrap();
        assert_eq!(
            delta.endpoints.iter().map(|e| e.value).collect::<Vec<_>>(),
            ["10.0.0.4:51000".parse().unwrap()]
        );
        assert_eq!(key_of(&out, "carol").as_deref(), Some(KEY_A));
    }

    #[test]
    fn adds_before_the_first_child_with_its_indent() {
        let text = "node \"x\" {\n    address \"100.64.0.9\"\n}\n";
        let out = set_value(text, Block::Node, "x", "public-key", "K").unwrap();
        assert_eq!(
            out,
            "node \"x\" {\n    public-key \"K\"\n    address \"100.64.0.9\"\n}\n"
        );
    }

    #[test]
    fn sets_a_vrouter_key_and_points_secret_files_elsewhere() {
        let text = r#"vrouter "gw" {
    listen "10.0.0.1:4500"
    ipsec-peer "b" {
        auth "psk" secret-file="/etc/psk/b" // the lab replaces it
    }
    ipsec-peer "c" { auth "psk" secret-file="/etc/psk/c"; }
}
"#;
        let out = set_value(text, Block::Vrouter, "gw", "public-key", "K").unwrap();
        assert!(
            out.starts_with("vrouter \"gw\" {\n    public-key \"K\"\n    listen"),
            "{out}"
        );
        let out = replace_secret_files(&out, &|p| {
            (p == "/etc/psk/b").then(|| "/run/x/psk-1".into())
        })
        .unwrap();
        assert!(out.contains(r#"auth "psk" secret-file="/run/x/psk-1" // the lab replaces it"#));
        assert!(out.contains(r#"secret-file="/etc/psk/c""#));
    }

    #[test]
    fn values_are_quoted_and_unknown_blocks_and_bad_text_are_errors() {
        let out = set_value(TEMPLATE, Block::Node, "delta", "owner", "a\"b\\c").unwrap();
        assert!(out.contains(r#"owner "a\"b\\c""#), "{out}");
        assert!(matches!(
            set_value(TEMPLATE, Block::Node, "zulu", "public-key", "K"),
            Err(EditError::UnknownBlock { kind: Block::Node, name }) if name == "zulu"
        ));
        // `node "alpha"` exists, but not as a vrouter.
        assert!(matches!(
            set_value(TEMPLATE, Block::Vrouter, "alpha", "public-key", "K"),
            Err(EditError::UnknownBlock { .. })
        ));
        let err = set_value("node {", Block::Node, "a", "k", "v").unwrap_err();
        assert!(
            matches!(&err, EditError::Syntax(d) if !d.is_empty()),
            "{err}"
        );
        assert!(err.to_string().starts_with("the text is not valid KDL: "));
        assert!(matches!(
            replace_secret_files("vrouter {", &|_| None),
            Err(EditError::Syntax(_))
        ));
    }
}
