//! Policy references: every selector of every rule and every policy-test endpoint must name
//! something that exists, and addresses must lie where traffic can go.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Index, sorted};
use crate::diagnostic::Diagnostic;
use crate::model::{Network, Selector, TestEndpoint};
use crate::span::Spanned;
use crate::suggest;

pub fn check(net: &Network, index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    index.suggestions_left.set(SUGGESTION_BUDGET);
    let targets = Targets::new(net);
    for rule in &net.rules {
        for selector in rule.from.iter().chain(&rule.to) {
            if let Some(d) = resolve(net, index, &targets, selector) {
                diags.push(d);
            }
        }
    }
    for test in &net.tests {
        for case in &test.cases {
            for end in [&case.from, &case.to] {
                if let Some(d) = test_endpoint(index, &targets, end) {
                    diags.push(d);
                }
            }
        }
    }
}

/// Where a CIDR or address may point: the overlays, routed prefixes and remote-ts.
struct Targets {
    prefixes: Vec<IpNet>,
}

impl Targets {
    fn new(net: &Network) -> Self {
        let mut prefixes = vec![IpNet::V4(net.overlay.value)];
        prefixes.extend(net.overlay6.iter().map(|o| IpNet::V6(o.value)));
        prefixes.extend(
            net.nodes
                .iter()
                .flat_map(|n| n.routes.iter().map(|r| r.value)),
        );
        prefixes.extend(net.vrouters.iter().flat_map(|v| {
            v.peers
                .iter()
                .flat_map(|p| p.remote_ts.iter().map(|r| r.value))
        }));
        Targets { prefixes }
    }

    fn covers(&self, net: &IpNet) -> bool {
        self.prefixes.iter().any(|p| p.contains(net))
    }
}

fn unknown(selector: &Spanned<Selector>, message: String, help: String) -> Option<Diagnostic> {
    Some(
        Diagnostic::error(
            "cvlan::unknown-selector",
            message,
            selector.span,
            "unknown name",
        )
        .with_help(help),
    )
}

/// Most "did you mean" searches in one run: each scans every name of its kind, so a file
/// with thousands of unknown names in a 100,000-node network must not cost minutes.
const SUGGESTION_BUDGET: usize = 200;

fn missing_help<'a>(
    index: &Index<'_>,
    word: &str,
    kind: &str,
    names: impl Iterator<Item = &'a str>,
    all: impl FnOnce() -> String,
) -> String {
    let left = index.suggestions_left.get();
    let suggestion = if left > 0 {
        index.suggestions_left.set(left - 1);
        suggest::did_you_mean(word, names)
    } else {
        None
    };
    suggestion.unwrap_or_else(|| format!("known {kind}: {}", all()))
}

fn resolve(
    net: &Network,
    index: &Index<'_>,
    targets: &Targets,
    selector: &Spanned<Selector>,
) -> Option<Diagnostic> {
    match &selector.value {
        Selector::Any => None,
        Selector::Node(name) if index.nodes.contains_key(name.as_str()) => None,
        Selector::Node(name) => {
            let help = if index.vrouters.contains(name.as_str()) {
                format!("`{name}` is a vrouter: write `vrouter:{name}`")
            } else {
                missing_help(index, name, "nodes", index.nodes.keys().copied(), || sorted(&index.nodes.keys().copied().collect()))
            };
            unknown(selector, format!("no node is named `{name}`"), help)
        }
        Selector::Tag(tag) if index.tags.contains(tag.as_str()) => None,
        Selector::Tag(tag) => unknown(
            selector,
            format!("no node carries tag `{tag}`"),
            missing_help(index, tag, "tags", index.tags.iter().copied(), || sorted(&index.tags)),
        ),
        Selector::Group(group) if index.groups.contains(group.as_str()) => None,
        Selector::Group(group) => unknown(
            selector,
            format!("no group is named `{group}`"),
            missing_help(index, group, "groups", index.groups.iter().copied(), || sorted(&index.groups)),
        ),
        Selector::User(user) if index.users.contains(user.as_str()) => None,
        Selector::User(user) => unknown(
            selector,
            format!("`{user}` owns no node and is in no group"),
            missing_help(index, user, "users", index.users.iter().copied(), || sorted(&index.users)),
        ),
        Selector::Vrouter(name) if index.vrouters.contains(name.as_str()) => None,
        Selector::Vrouter(name) => unknown(
            selector,
            format!("no vrouter is named `{name}`"),
            missing_help(index, name, "vrouters", index.vrouters.iter().copied(), || sorted(&index.vrouters)),
        ),
        Selector::Ipsec(peer) if index.peers.contains(peer.as_str()) => None,
        Selector::Ipsec(peer) => unknown(
            selector,
            format!("no ipsec-peer is named `{peer}`"),
            missing_help(index, peer, "ipsec peers", index.peers.iter().copied(), || sorted(&index.peers)),
        ),
        Selector::Route(name) => match index.nodes.get(name.as_str()) {
            Some(&i) if net.nodes.get(i).is_some_and(|n| !n.routes.is_empty()) => None,
            Some(_) => unknown(
                selector,
                format!("node `{name}` routes no prefixes"),
                format!("add `routes \"…\"` to node `{name}`, or select it with `node:{name}`"),
            ),
            None => unknown(
                selector,
                format!("no node is named `{name}`"),
                missing_help(index, name, "nodes", index.nodes.keys().copied(), || sorted(&index.nodes.keys().copied().collect())),
            ),
        },
        Selector::Prefix(prefix) if targets.covers(prefix) => None,
        Selector::Prefix(prefix) => Some(
            Diagnostic::error(
                "cvlan::selector-outside",
                format!("{prefix} is outside the overlay, every routed prefix and every remote-ts"),
                selector.span,
                "unreachable prefix",
            )
            .with_help("a CIDR selector must lie inside the overlay, a node's routes or an ipsec-peer's remote-ts"),
        ),
    }
}

fn test_endpoint(
    index: &Index<'_>,
    targets: &Targets,
    end: &Spanned<TestEndpoint>,
) -> Option<Diagnostic> {
    match &end.value {
        TestEndpoint::Name(name) => {
            if index.nodes.contains_key(name.as_str()) || index.vrouters.contains(name.as_str()) {
                return None;
            }
            let names = index
                .nodes
                .keys()
                .copied()
                .chain(index.vrouters.iter().copied());
            let left = index.suggestions_left.get();
            index.suggestions_left.set(left.saturating_sub(1));
            let help = (left > 0)
                .then(|| suggest::did_you_mean(name, names))
                .flatten()
                .unwrap_or_else(|| {
                    "a policy-test names one node or vrouter, or gives one address".to_owned()
                });
            Some(
                Diagnostic::error(
                    "cvlan::unknown-reference",
                    format!("no node or vrouter is named `{name}`"),
                    end.span,
                    "unknown host",
                )
                .with_help(help),
            )
        }
        TestEndpoint::Address(addr) if targets.covers(&IpNet::from(*addr)) => None,
        TestEndpoint::Address(addr) => Some(
            Diagnostic::error(
                "cvlan::invalid-test",
                format!("{addr} is outside the overlay, every routed prefix and every remote-ts"),
                end.span,
                "unreachable address",
            )
            .with_help(test_address_help(addr)),
        ),
    }
}

fn test_address_help(addr: &IpAddr) -> String {
    format!("use an overlay address, or one inside a node's routes or a remote-ts (not {addr})")
}
