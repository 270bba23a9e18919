//! The syntax tree the schema builders read: KDL nodes, entries and values with byte spans,
//! and nothing of KDL's formatting. Built either by the fast reader or from a
//! [`kdl::KdlDocument`], so the rest of the crate never sees a KDL type.

use crate::span::{SourceId, Span};

/// A KDL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any string (quoted, raw, multi-line or a bare identifier).
    String(String),
    /// An integer.
    Integer(i128),
    /// A float (including `#inf` and `#nan`).
    Float(f64),
    /// `#true` or `#false`.
    Bool(bool),
    /// `#null`.
    Null,
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "#null",
        }
    }
}

/// An argument (`key` is `None`) or a property of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Property name, with its span; `None` for arguments.
    pub key: Option<(String, Span)>,
    /// The value.
    pub value: Value,
    /// True when the value carries a `(type)` annotation.
    pub typed: bool,
    /// The whole entry (`key=value` or the argument).
    pub span: Span,
}

/// A KDL node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node name.
    pub name: String,
    /// Span of the name.
    pub name_span: Span,
    /// True when the node carries a `(type)` annotation.
    pub typed: bool,
    /// Arguments and properties, in file order.
    pub entries: Vec<Entry>,
    /// Child nodes, when the node has a `{ }` block.
    pub children: Option<Vec<Node>>,
    /// The whole node, from its name to its last entry or closing brace.
    pub span: Span,
}

impl Node {
    /// The arguments, in order.
    pub fn args(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.key.is_none())
    }

    /// The properties, in order.
    pub fn props(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.key.is_some())
    }
}

/// Converts a parsed KDL document into the tree.
pub fn from_kdl(source: SourceId, doc: &kdl::KdlDocument) -> Vec<Node> {
    doc.nodes()
        .iter()
        .map(|n| node_from_kdl(source, n))
        .collect()
}

fn span(source: SourceId, s: miette::SourceSpan) -> Span {
    Span::new(source, s.offset(), s.len())
}

fn node_from_kdl(source: SourceId, node: &kdl::KdlNode) -> Node {
    Node {
        name: node.name().value().to_owned(),
        name_span: span(source, node.name().span()),
        typed: node.ty().is_some(),
        entries: node
            .entries()
            .iter()
            .map(|e| Entry {
                key: e
                    .name()
                    .map(|k| (k.value().to_owned(), span(source, k.span()))),
                value: value_from_kdl(e.value()),
                typed: e.ty().is_some(),
                span: span(source, e.span()),
            })
            .collect(),
        children: node.children().map(|c| from_kdl(source, c)),
        span: span(source, node.span()),
    }
}

fn value_from_kdl(value: &kdl::KdlValue) -> Value {
    match value {
        kdl::KdlValue::String(s) => Value::String(s.clone()),
        kdl::KdlValue::Integer(i) => Value::Integer(*i),
        kdl::KdlValue::Float(f) => Value::Float(*f),
        kdl::KdlValue::Bool(b) => Value::Bool(*b),
        kdl::KdlValue::Null => Value::Null,
    }
}
