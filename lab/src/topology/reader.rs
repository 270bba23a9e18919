//! Small checked accessors over KDL nodes that record a [`Problem`] for every shape error
//! (missing or extra arguments, unknown properties or children, wrong value types).

use kdl::{KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::Problem;

/// A value with the span of the entry it was read from.
#[derive(Debug, Clone)]
pub(super) struct Spanned<T> {
    pub value: T,
    pub span: SourceSpan,
}

/// Collects problems while the parser reads nodes.
#[derive(Debug, Default)]
pub(super) struct Reader {
    pub problems: Vec<Problem>,
}

impl Reader {
    /// Records a problem.
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The node's positional arguments, checking there are `min..=max` of them.
    pub fn args<'n>(&mut self, node: &'n KdlNode, min: usize, max: usize) -> Vec<&'n KdlEntry> {
        let args: Vec<&KdlEntry> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect();
        let name = node.name().value();
        if args.len() < min {
            self.push(
                Problem::new(
                    "cvlan-lab::missing-argument",
                    format!("`{name}` needs {min} argument(s), found {}", args.len()),
                    node.span(),
                    "argument missing here",
                )
                .with_help(usage(name)),
            );
        } else if args.len() > max {
            for extra in &args[max..] {
                self.push(
                    Problem::new(
                        "cvlan-lab::extra-argument",
                        format!("`{name}` takes at most {max} argument(s)"),
                        extra.span(),
                        "unexpected argument",
                    )
                    .with_help(usage(name)),
                );
            }
        }
        args
    }

    /// The string argument at `index` (after [`Reader::args`] checked the count).
    pub fn string_arg(&mut self, node: &KdlNode, index: usize) -> Option<Spanned<String>> {
        let entry = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .nth(index)?;
        self.string_of(node, entry)
    }

    /// Every positional argument as a string.
    pub fn string_args(&mut self, node: &KdlNode) -> Vec<Spanned<String>> {
        node.entries()
            .iter()
            .filter(|e| e.name().is_none())
            .filter_map(|e| self.string_of(node, e))
            .collect()
    }

    /// The string property `key`, if present.
    pub fn string_prop(&mut self, node: &KdlNode, key: &str) -> Option<Spanned<String>> {
        let entry = node.entry(key)?;
        self.string_of(node, entry)
    }

    /// Records a problem for every property not in `allowed`.
    pub fn check_props(&mut self, node: &KdlNode, allowed: &[&str]) {
        for entry in node.entries() {
            let Some(key) = entry.name() else { continue };
            if !allowed.contains(&key.value()) {
                self.push(
                    Problem::new(
                        "cvlan-lab::unknown-property",
                        format!(
                            "`{}` has no property `{}`",
                            node.name().value(),
                            key.value()
                        ),
                        entry.span(),
                        "unknown property",
                    )
                    .with_help(allowed_help("properties", allowed)),
                );
            }
        }
    }

    /// Records a problem when the node has children although it takes none.
    pub fn no_children(&mut self, node: &KdlNode) {
        if let Some(children) = node.children() {
            self.push(Problem::new(
                "cvlan-lab::unexpected-children",
                format!("`{}` takes no children block", node.name().value()),
                children.span(),
                "remove this block",
            ));
        }
    }

    /// Records that `node` is not allowed where it is.
    pub fn unknown_node(&mut self, node: &KdlNode, context: &str, allowed: &[&str]) {
        self.push(
            Problem::new(
                "cvlan-lab::unknown-node",
                format!("unknown node `{}` {context}", node.name().value()),
                node.span(),
                "not allowed here",
            )
            .with_help(allowed_help("nodes", allowed)),
        );
    }

    fn string_of(&mut self, node: &KdlNode, entry: &KdlEntry) -> Option<Spanned<String>> {
        match entry.value() {
            KdlValue::String(s) => Some(Spanned {
                value: s.clone(),
                span: entry.span(),
            }),
            _ => {
                self.push(Problem::new(
                    "cvlan-lab::expected-string",
                    format!("`{}` expects a string here", node.name().value()),
                    entry.span(),
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
