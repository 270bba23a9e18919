//! Small checked accessors over the syntax tree's nodes that record a diagnostic for every
//! shape error (missing or extra arguments, unknown properties or children, wrong value
//! types).

use cvlan_schema::syntax::{Entry, Node, Value};
use cvlan_schema::{Diagnostic, Span, Spanned};

/// Collects problems while the parser reads nodes.
#[derive(Debug, Default)]
pub(super) struct Reader {
    pub problems: Vec<Diagnostic>,
}

impl Reader {
    /// Records a problem.
    pub fn push(&mut self, problem: Diagnostic) {
        self.problems.push(problem);
    }

    /// The node's positional arguments, checking there are `min..=max` of them.
    pub fn args<'n>(&mut self, node: &'n Node, min: usize, max: usize) -> Vec<&'n Entry> {
        let args: Vec<&Entry> = node.args().collect();
        let name = node.name.as_str();
        if args.len() < min {
            self.push(
                Diagnostic::error(
                    "cvlan-lab::missing-argument",
                    format!("`{name}` needs {min} argument(s), found {}", args.len()),
                    node.span,
                    "argument missing here",
                )
                .with_help(usage(name)),
            );
        } else if args.len() > max {
            for extra in &args[max..] {
                self.push(
                    Diagnostic::error(
                        "cvlan-lab::extra-argument",
                        format!("`{name}` takes at most {max} argument(s)"),
                        extra.span,
                        "unexpected argument",
                    )
                    .with_help(usage(name)),
                );
            }
        }
        args
    }

    /// The string argument at `index` (after [`Reader::args`] checked the count).
    pub fn string_arg(&mut self, node: &Node, index: usize) -> Option<Spanned<String>> {
        let entry = node.args().nth(index)?;
        self.string_of(node, entry)
    }

    /// Every positional argument as a string.
    pub fn string_args(&mut self, node: &Node) -> Vec<Spanned<String>> {
        node.args()
            .filter_map(|e| self.string_of(node, e))
            .collect()
    }

    /// The string property `key`, if present (the last one, when it is given twice).
    pub fn string_prop(&mut self, node: &Node, key: &str) -> Option<Spanned<String>> {
        let entry = node
            .props()
            .filter(|e| e.key.as_ref().is_some_and(|(k, _)| k == key))
            .last()?;
        self.string_of(node, entry)
    }

    /// Records a problem for every property not in `allowed`.
    pub fn check_props(&mut self, node: &Node, allowed: &[&str]) {
        for entry in node.props() {
            let Some((key, _)) = &entry.key else { continue };
            if !allowed.contains(&key.as_str()) {
                self.push(
                    Diagnostic::error(
                        "cvlan-lab::unknown-property",
                        format!("`{}` has no property `{key}`", node.name),
                        entry.span,
                        "unknown property",
                    )
                    .with_help(allowed_help("properties", allowed)),
                );
            }
        }
    }

    /// Records a problem when the node has children although it takes none (pointing at
    /// the children, or at the node when its block is empty).
    pub fn no_children(&mut self, node: &Node) {
        let Some(children) = &node.children else {
            return;
        };
        let span = match (children.first(), children.last()) {
            (Some(first), Some(last)) => Span::new(
                first.span.source,
                first.span.offset,
                last.span.offset + last.span.len - first.span.offset,
            ),
            _ => node.span,
        };
        self.push(Diagnostic::error(
            "cvlan-lab::unexpected-children",
            format!("`{}` takes no children block", node.name),
            span,
            "remove this block",
        ));
    }

    /// Records that `node` is not allowed where it is.
    pub fn unknown_node(&mut self, node: &Node, context: &str, allowed: &[&str]) {
        self.push(
            Diagnostic::error(
                "cvlan-lab::unknown-node",
                format!("unknown node `{}` {context}", node.name),
                node.span,
                "not allowed here",
            )
            .with_help(allowed_help("nodes", allowed)),
        );
    }

    fn string_of(&mut self, node: &Node, entry: &Entry) -> Option<Spanned<String>> {
        match &entry.value {
            Value::String(s) => Some(Spanned::new(s.clone(), entry.span)),
            _ => {
                self.push(Diagnostic::error(
                    "cvlan-lab::expected-string",
                    format!("`{}` expects a string here", node.name),
                    entry.span,
                    "not a string",
                ));
                None
            }
        }
    }
}

fn allowed_help(what: &str, allowed: &[&str]) -> String {
    if allowed.is_empty() {
        format!("no {what} are allowed here")
    } else {
        format!("allowed {what}: {}", allowed.join(", "))
    }
}

/// How each node is written, for help lines.
fn usage(name: &str) -> String {
    let form = match name {
        "lab" => r#"lab "NAME""#,
        "network" => r#"network "network.kdl""#,
        "switch" => r#"switch "NAME" subnet="10.0.0.0/24""#,
        "nat" => {
            r#"nat "NAME" { mapping "symmetric"; wan "SWITCH" address="…"; lan "SWITCH" address="…" }"#
        }
        "host" => r#"host "NAME" { link "SWITCH" address="…" }"#,
        "link" | "wan" | "lan" => r#"link "SWITCH" address="10.0.0.2""#,
        "mapping" => r#"mapping "endpoint-independent" (or "symmetric")"#,
        "gateway" => r#"gateway "10.0.0.1""#,
        "process" => r#"process "NAME" { command "socat" "…"; ready socket="x.sock" }"#,
        "command" => r#"command "PROGRAM" "ARG"…"#,
        "ping" => r#"ping "FROM-HOST" "ADDRESS-OR-HOST""#,
        _ => return format!("see lab/README.md for `{name}`"),
    };
    format!("written as: {form}")
}
