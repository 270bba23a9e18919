//! Reading syntax-tree nodes against the grammar tables: unknown nodes and properties,
//! argument counts, duplicate properties, value types and inline secrets all become
//! diagnostics here, so every builder reports them the same way.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::diagnostic::Diagnostic;
use crate::grammar::{Context, NodeRule};
use crate::span::{Span, Spanned};
use crate::suggest;
use crate::syntax::{Entry, Node, Value};

/// Property names that would put a secret into the file; refused wherever they appear.
const SECRET_PROPS: &[&str] = &["secret", "psk", "password", "pre-shared-key"];

/// Where diagnostics and spans to redact are collected while a file is read.
#[derive(Debug, Default)]
pub struct Out {
    /// Every problem found so far.
    pub diags: Vec<Diagnostic>,
    /// Spans of inline secrets, masked in the source map before anything is rendered.
    pub redact: Vec<Span>,
}

impl Out {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// Records an error.
    pub fn error(
        &mut self,
        code: &'static str,
        span: Span,
        message: String,
        label: &str,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::error(code, message, span, label).with_help(help));
    }

    /// Reports an inline secret at `entry` and masks its value.
    pub fn inline_secret(&mut self, entry: &Entry, what: &str) {
        let value = match &entry.key {
            Some((_, key)) => {
                let start = key.offset + key.len;
                Span::new(
                    key.source,
                    start,
                    (entry.span.offset + entry.span.len).saturating_sub(start),
                )
            }
            None => entry.span,
        };
        self.redact.push(value);
        self.error(
            "cvlan::inline-secret",
            entry.span,
            format!("{what} is written inline; secrets must not be in network files"),
            "secret written here (masked)",
            "use secret-file=\"/etc/cloudvlan/psk/NAME\" (mode 0600) or secret-env=\"VARIABLE\"",
        );
    }
}

/// The children of `node` that `context` allows, with their rules; reports the others.
pub fn children<'n>(
    out: &mut Out,
    nodes: &'n [Node],
    context: Context,
) -> Vec<(&'n Node, &'static NodeRule)> {
    let mut known = Vec::with_capacity(nodes.len());
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for child in nodes {
        let Some(rule) = context.rule(&child.name) else {
            unknown_node(out, child, context);
            skipped(out, child);
            continue;
        };
        // Top-level singletons (`network`, `controller`) have their own codes.
        if !rule.repeat && context != Context::Top {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == rule.name) {
                out.push(
                    Diagnostic::error(
                        "cvlan::duplicate-property",
                        format!("`{}` is given twice {}", rule.name, context.place()),
                        child.name_span,
                        "second one",
                    )
                    .with_label(*first, "first one")
                    .with_help(format!("give `{}` once", rule.name)),
                );
                skipped(out, child);
                continue;
            }
            seen.push((rule.name, child.name_span));
        }
        known.push((child, rule));
    }
    known
}

/// A node that is reported and then not read still must not leak a secret: its secret-like
/// properties (and those of its children) are reported and masked.
fn skipped(out: &mut Out, node: &Node) {
    for entry in node.props() {
        if entry
            .key
            .as_ref()
            .is_some_and(|(k, _)| SECRET_PROPS.contains(&k.as_str()))
        {
            out.inline_secret(entry, "a secret property");
        }
    }
    for child in node.children.iter().flatten() {
        skipped(out, child);
    }
}

fn unknown_node(out: &mut Out, node: &Node, context: Context) {
    let names = context.rules().iter().map(|r| r.name);
    let mut help = format!("allowed {}: {}", context.place(), context.allowed());
    if let Some(dym) = suggest::did_you_mean(&node.name, names) {
        help = format!("{dym} ({help})");
    }
    out.error(
        "cvlan::unknown-node",
        node.name_span,
        format!("`{}` is not allowed {}", node.name, context.place()),
        "unknown node",
        help,
    );
}

/// Checks `node` against `rule` and returns its string arguments with their entries.
pub fn string_args<'n>(
    out: &mut Out,
    node: &'n Node,
    rule: &NodeRule,
) -> Vec<(&'n str, &'n Entry)> {
    node_args(out, node, rule)
        .into_iter()
        .filter_map(|e| string_value(out, e, &node.name).map(|s| (s, e)))
        .collect()
}

/// Checks `node` against `rule` (properties, argument count, type annotations, a block where
/// none belongs) and returns its arguments, at most as many as the rule allows.
pub fn node_args<'n>(out: &mut Out, node: &'n Node, rule: &NodeRule) -> Vec<&'n Entry> {
    check_props(out, node, rule);
    if node.typed {
        out.error(
            "cvlan::invalid-value",
            node.name_span,
            format!("`{}` carries a type annotation", node.name),
            "type annotation",
            "network files use no KDL type annotations; remove the `(…)`",
        );
    }
    if rule.block.is_none() {
        for child in node.children.iter().flatten() {
            out.error(
                "cvlan::unknown-node",
                child.name_span,
                format!("nothing may be nested inside `{}`", node.name),
                "unexpected child",
                format!("write `{}` on one line without a `{{ }}` block", node.name),
            );
        }
    }
    let (min, max) = arity(rule.args);
    let args: Vec<&Entry> = node.args().collect();
    if args.len() < min {
        out.error(
            "cvlan::missing-property",
            node.span,
            format!("`{}` needs {}", node.name, rule.args),
            "argument missing",
            format!("write it as `{} {}`", node.name, example_args(rule)),
        );
    }
    for extra in args.iter().skip(max) {
        if rule.name == "auth" {
            out.inline_secret(extra, "a secret argument of `auth`");
            continue;
        }
        out.error(
            "cvlan::invalid-value",
            extra.span,
            format!("`{}` takes {}", node.name, describe_arity(rule)),
            "unexpected argument",
            format!("write it as `{} {}`", node.name, example_args(rule)),
        );
    }
    args.into_iter().take(max).collect()
}

/// The value of `entry` as a string; reports other types.
pub fn string_value<'n>(out: &mut Out, entry: &'n Entry, owner: &str) -> Option<&'n str> {
    if entry.typed {
        out.error(
            "cvlan::invalid-value",
            entry.span,
            format!("a value of `{owner}` carries a type annotation"),
            "type annotation",
            "network files use no KDL type annotations; remove the `(…)`",
        );
    }
    match &entry.value {
        Value::String(s) => Some(s),
        other => {
            out.error(
                "cvlan::invalid-value",
                entry.span,
                format!("`{owner}` takes a string here, not {}", other.kind()),
                "expected a string",
                "quote the value, e.g. \"…\"",
            );
            None
        }
    }
}

/// The string value of property `key`, if present.
pub fn prop_str<'n>(out: &mut Out, node: &'n Node, key: &str) -> Option<(&'n str, &'n Entry)> {
    let entry = prop(node, key)?;
    let owner = format!("{}={}", node.name, key);
    string_value(out, entry, &owner).map(|s| (s, entry))
}

/// True when `node` has an unknown property that looks like a misspelling of `key` (already
/// reported with a "did you mean"), so a missing `key` needs no second diagnostic.
pub fn misspelt(node: &Node, key: &str) -> bool {
    node.props().any(|e| {
        e.key
            .as_ref()
            .is_some_and(|(k, _)| k != key && suggest::closest(k, [key]).is_some())
    })
}

/// Reports that property `key` of `node` is missing, unless a misspelling of it was
/// already reported.
pub fn missing_prop(out: &mut Out, node: &Node, key: &str, example: &str) {
    if misspelt(node, key) {
        return;
    }
    out.error(
        "cvlan::missing-property",
        node.name_span,
        format!("`{}` needs `{key}=`", node.name),
        "property missing",
        format!("add {key}={example}"),
    );
}

/// True when `node` has a property that puts a secret inline (already reported).
pub fn has_inline_secret(node: &Node) -> bool {
    node.props().any(|e| {
        e.key
            .as_ref()
            .is_some_and(|(k, _)| SECRET_PROPS.contains(&k.as_str()))
    })
}

/// The first property `key` of `node`.
pub fn prop<'n>(node: &'n Node, key: &str) -> Option<&'n Entry> {
    node.props()
        .find(|e| e.key.as_ref().is_some_and(|(k, _)| k == key))
}

fn check_props(out: &mut Out, node: &Node, rule: &NodeRule) {
    let mut seen: HashSet<&str> = HashSet::new();
    for entry in node.props() {
        let Some((key, key_span)) = &entry.key else {
            continue;
        };
        if SECRET_PROPS.contains(&key.as_str()) {
            out.inline_secret(entry, &format!("`{key}=`"));
            continue;
        }
        if !rule.props.contains(&key.as_str()) {
            let allowed = if rule.props.is_empty() {
                format!("`{}` takes no properties", rule.name)
            } else {
                format!(
                    "allowed properties of `{}`: {}",
                    rule.name,
                    rule.props.join(", ")
                )
            };
            let help = match suggest::did_you_mean(key, rule.props.iter().copied()) {
                Some(dym) => format!("{dym} ({allowed})"),
                None => allowed,
            };
            out.error(
                "cvlan::unknown-property",
                *key_span,
                format!("`{}` has no property `{key}`", rule.name),
                "unknown property",
                help,
            );
        } else if !seen.insert(key) {
            out.error(
                "cvlan::duplicate-property",
                entry.span,
                format!("`{key}` is given twice on `{}`", rule.name),
                "second value",
                "give each property once",
            );
        }
    }
}

/// Minimum and maximum argument count from the reference's argument notation.
pub fn arity(args: &str) -> (usize, usize) {
    if args.is_empty() {
        (0, 0)
    } else if args.ends_with("...") {
        (1, usize::MAX)
    } else {
        (1, 1)
    }
}

fn describe_arity(rule: &NodeRule) -> String {
    match arity(rule.args) {
        (0, 0) => "no arguments, only properties".to_owned(),
        (_, 1) => format!("one argument ({})", rule.args),
        _ => format!("one or more arguments ({})", rule.args),
    }
}

fn example_args(rule: &NodeRule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !rule.args.is_empty() {
        parts.push(format!("\"{}\"", rule.args.trim_end_matches("...")));
    }
    parts.extend(rule.props.iter().map(|p| format!("{p}=\"…\"")));
    parts.join(" ")
}

/// Parses a string value with `parse`, reporting `code` with the parser's message on failure.
pub fn parsed<T>(
    out: &mut Out,
    value: &str,
    entry: &Entry,
    code: &'static str,
    help: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<Spanned<T>> {
    match parse(value) {
        Ok(v) => Some(Spanned::new(v, entry.span)),
        Err(message) => {
            out.error(code, entry.span, message, "invalid value", help);
            None
        }
    }
}

/// Checks an identifier-style name (`[a-z0-9][a-z0-9-]{0,62}`).
pub fn name(out: &mut Out, value: &str, entry: &Entry, kind: &str) -> Spanned<String> {
    if !crate::values::is_name(value) {
        let lower: String = value
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let hint = if crate::values::is_name(&lower) {
            format!("e.g. `{lower}`; ")
        } else {
            String::new()
        };
        out.error(
            "cvlan::invalid-name",
            entry.span,
            format!("`{value}` is not a valid {kind} name"),
            "invalid name",
            format!("{hint}names are 1-63 lowercase letters, digits and `-`, starting with a letter or digit"),
        );
    }
    Spanned::new(value.to_owned(), entry.span)
}

/// Checks a user's e-mail address.
pub fn email(out: &mut Out, value: &str, entry: &Entry) -> Spanned<String> {
    if let Err(message) = crate::values::parse_email(value) {
        out.error(
            "cvlan::invalid-user",
            entry.span,
            message,
            "not an e-mail address",
            "users are e-mail addresses such as alice@acme.example",
        );
    }
    Spanned::new(value.to_owned(), entry.span)
}

/// Example addresses of a `listen=` property: IPv4, then IPv6.
pub type ListenExample = (&'static str, &'static str);
/// The examples of `dns listen=`.
pub const DNS_EXAMPLE: ListenExample = ("100.100.100.100:53", "[fd7a:115c:a1e0::1]:53");
/// The examples of `metrics listen=`.
pub const METRICS_EXAMPLE: ListenExample = ("127.0.0.1:9464", "[::1]:9464");

/// `listen="ADDRESS:PORT"` of `node` (`dns`, `metrics`): an IP address and a nonzero port
/// (IPv6 in brackets), spanned by the value; reported with the examples `(v4, v6)`.
pub fn listen_prop(
    out: &mut Out,
    node: &Node,
    (v4, v6): ListenExample,
) -> Option<Spanned<SocketAddr>> {
    let Some((value, entry)) = prop_str(out, node, "listen") else {
        missing_prop(out, node, "listen", &format!("\"{v4}\""));
        return None;
    };
    parsed(
        out,
        value,
        entry,
        "cvlan::invalid-value",
        &format!("give an address and a port, e.g. \"{v4}\" or \"{v6}\""),
        |v| match v.parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(a),
            _ => Err(format!("`{v}` is not ADDRESS:PORT")),
        },
    )
}
