//! Building `policy` rules and `policy-test` cases.

use super::Draft;
use crate::grammar::Context;
use crate::model::{Action, PolicyTest, Proto, Rule, TestCase, Transport, Verdict};
use crate::read::{self, Out};
use crate::span::{Span, Spanned};
use crate::syntax::{Entry, Node};
use crate::values;

/// `policy { allow|deny … }`.
pub fn policy(draft: &mut Draft, out: &mut Out, children: &[Node]) {
    for (child, rule) in read::children(out, children, Context::Policy) {
        let args = read::string_args(out, child, rule);
        let name = super::entity_name(out, child, &args, "rule");
        let action = if rule.name == "allow" {
            Action::Allow
        } else {
            Action::Deny
        };
        let from = selectors(out, child, "from");
        let to = selectors(out, child, "to");
        let proto = read::prop_str(out, child, "proto").and_then(|(v, e)| {
            read::parsed(
                out,
                v,
                e,
                "cvlan::invalid-proto",
                "proto is tcp, udp, icmp or any",
                values::parse_proto,
            )
        });
        let ports: Vec<_> = read::prop_str(out, child, "ports")
            .and_then(|(v, e)| {
                read::parsed(
                    out,
                    v,
                    e,
                    "cvlan::invalid-ports",
                    "ports are a comma list of 22, 22/tcp, 1000-2000/udp or *",
                    values::parse_ports,
                )
            })
            .map(|list| {
                list.value
                    .into_iter()
                    .map(|p| Spanned::new(p, list.span))
                    .collect()
            })
            .unwrap_or_default();
        if let (Some(proto), Some(first)) = (&proto, ports.first()) {
            let clash = match proto.value {
                Proto::Icmp => Some("ICMP has no ports"),
                Proto::Tcp => ports
                    .iter()
                    .any(|p| p.transport == Transport::Udp)
                    .then_some("a /udp port with proto=\"tcp\""),
                Proto::Udp => ports
                    .iter()
                    .any(|p| p.transport == Transport::Tcp)
                    .then_some("a /tcp port with proto=\"udp\""),
                Proto::Any => None,
            };
            if let Some(why) = clash {
                out.push(
                    crate::Diagnostic::error(
                        "cvlan::invalid-ports",
                        format!("rule `{}`: {why}", name.value),
                        first.span,
                        "these ports",
                    )
                    .with_label(proto.span, "this protocol")
                    .with_help("drop `ports=` for ICMP, or make the ports match the protocol"),
                );
            }
        }
        draft.net.rules.push(Rule {
            action,
            name,
            from,
            to,
            proto,
            ports,
            span: child.span,
        });
    }
}

/// The comma-separated selectors of property `key`; a missing one is reported.
fn selectors(out: &mut Out, node: &Node, key: &str) -> Vec<Spanned<crate::model::Selector>> {
    let Some((list, entry)) = read::prop_str(out, node, key) else {
        read::missing_prop(out, node, key, "\"tag:eng\"");
        return Vec::new();
    };
    let mut selectors = Vec::new();
    for item in list.split(',') {
        match values::parse_selector(item.trim()) {
            Ok(s) => selectors.push(Spanned::new(s, entry.span)),
            Err(err) => out.error(
                "cvlan::unknown-selector",
                entry.span,
                err.message,
                "invalid selector",
                err.help.unwrap_or_else(|| "selectors are *, NAME, node:, tag:, group:, user:, vrouter:, ipsec:, route:, a CIDR or an address".to_owned()),
            ),
        }
    }
    selectors
}

/// `policy-test "DESCRIPTION" { accept|reject … }`.
pub fn test(
    draft: &mut Draft,
    out: &mut Out,
    node: &Node,
    args: &[(&str, &Entry)],
    children: &[Node],
) {
    let name = args.first().map_or_else(
        || {
            Spanned::new(
                String::new(),
                Span::new(node.name_span.source, node.name_span.offset, 0),
            )
        },
        |(v, e)| Spanned::new((*v).to_owned(), e.span),
    );
    let mut cases = Vec::new();
    for (child, rule) in read::children(out, children, Context::PolicyTest) {
        read::node_args(out, child, rule);
        let expect = if rule.name == "accept" {
            Verdict::Accept
        } else {
            Verdict::Reject
        };
        let endpoint = |out: &mut Out, key: &str| match read::prop_str(out, child, key) {
            Some((v, e)) => read::parsed(
                out,
                v,
                e,
                "cvlan::invalid-test",
                "name one node or vrouter, or give one address",
                values::parse_test_endpoint,
            ),
            None => {
                read::missing_prop(out, child, key, "\"laptop-alice\"");
                None
            }
        };
        let from = endpoint(out, "from");
        let to = endpoint(out, "to");
        let port = match read::prop_str(out, child, "port") {
            Some((v, e)) => read::parsed(
                out,
                v,
                e,
                "cvlan::invalid-test",
                "a test packet's port is N/tcp, N/udp or icmp",
                values::parse_test_port,
            ),
            None => {
                read::missing_prop(out, child, "port", "\"5432/tcp\"");
                None
            }
        };
        if let (Some(from), Some(to), Some(port)) = (from, to, port) {
            cases.push(TestCase {
                expect,
                from,
                to,
                port,
                span: child.span,
            });
        }
    }
    draft.net.tests.push(PolicyTest {
        name,
        cases,
        span: node.span,
    });
}
