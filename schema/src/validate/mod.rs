//! Whole-network checks that need more than one item: unique names, keys and relay
//! addresses, references that must resolve, users in groups. Every pass is linear in the size
//! of the network (hash maps, no pairwise comparisons), so 100,000 nodes check quickly.
//! Address and selector checks live in [`addresses`] and [`selectors`].

mod addresses;
mod selectors;

use std::collections::{HashMap, HashSet};

use crate::diagnostic::Diagnostic;
use crate::model::Network;
use crate::span::{SourceMap, Span};
use crate::suggest;
use cvlan_types::PublicKey;

/// Names and facts collected once and shared by the checks.
pub(crate) struct Index<'n> {
    nodes: HashMap<&'n str, usize>,
    vrouters: HashSet<&'n str>,
    relays: HashSet<&'n str>,
    groups: HashSet<&'n str>,
    peers: HashSet<&'n str>,
    tags: HashSet<&'n str>,
    users: HashSet<&'n str>,
    /// How many more "did you mean" searches this run may make.
    suggestions_left: std::cell::Cell<usize>,
}

impl<'n> Index<'n> {
    fn new(net: &'n Network) -> Self {
        let mut users: HashSet<&str> = net
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.value.as_str()))
            .collect();
        users.extend(
            net.nodes
                .iter()
                .filter_map(|n| n.owner.as_ref().map(|o| o.value.as_str())),
        );
        Index {
            nodes: net
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.value.as_str(), i))
                .collect(),
            vrouters: net.vrouters.iter().map(|v| v.name.value.as_str()).collect(),
            relays: net.relays.iter().map(|r| r.name.value.as_str()).collect(),
            groups: net.groups.iter().map(|g| g.name.value.as_str()).collect(),
            peers: net
                .vrouters
                .iter()
                .flat_map(|v| v.peers.iter().map(|p| p.name.value.as_str()))
                .collect(),
            tags: net
                .nodes
                .iter()
                .flat_map(|n| n.tags.iter().map(|t| t.value.as_str()))
                .collect(),
            users,
            suggestions_left: std::cell::Cell::new(0),
        }
    }
}

/// Runs every whole-network check and appends its findings to `diags`.
pub fn validate(net: &Network, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    let index = Index::new(net);
    unique_names(net, sources, diags);
    keys(net, sources, diags);
    relays(net, &index, sources, diags);
    users(net, diags);
    addresses::check(net, sources, diags);
    selectors::check(net, &index, diags);
}

/// A diagnostic about `span` that also points at `first`: as a label when both are in one
/// file, in the message otherwise.
pub(crate) fn with_first(
    sources: &SourceMap,
    mut d: Diagnostic,
    first: Span,
    text: &str,
) -> Diagnostic {
    if first.source == d.span.source {
        d = d.with_label(first, text);
    } else {
        let (line, column) = sources.line_column(first);
        let file = sources.get(first.source).map_or("?", |s| s.name.as_str());
        d.message = format!("{} ({text} at {file}:{line}:{column})", d.message);
    }
    d
}

/// True for the empty spans the builder gives placeholders for missing values.
fn placeholder(span: Span) -> bool {
    span.len == 0
}

fn unique_names(net: &Network, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    let mut check = |kind: &str, names: &mut dyn Iterator<Item = (&str, Span)>| {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (name, span) in names {
            if placeholder(span) {
                continue;
            }
            if let Some(&first) = seen.get(name) {
                let d = Diagnostic::error(
                    "cvlan::duplicate-name",
                    format!("{kind} `{name}` is declared twice"),
                    span,
                    "second declaration",
                )
                .with_help(format!(
                    "{kind} names are unique within a network; rename one"
                ));
                diags.push(with_first(sources, d, first, "first declared"));
            } else {
                seen.insert(name, span);
            }
        }
    };
    // Nodes and vrouters share one namespace: both are hosts with DNS names and may be named
    // in policy-tests.
    check(
        "host (node or vrouter)",
        &mut net
            .nodes
            .iter()
            .map(|n| (n.name.value.as_str(), n.name.span))
            .chain(
                net.vrouters
                    .iter()
                    .map(|v| (v.name.value.as_str(), v.name.span)),
            ),
    );
    check(
        "relay",
        &mut net
            .relays
            .iter()
            .map(|r| (r.name.value.as_str(), r.name.span)),
    );
    check(
        "group",
        &mut net
            .groups
            .iter()
            .map(|g| (g.name.value.as_str(), g.name.span)),
    );
    check(
        "ipsec-peer",
        &mut net
            .vrouters
            .iter()
            .flat_map(|v| v.peers.iter().map(|p| (p.name.value.as_str(), p.name.span))),
    );
    check(
        "rule",
        &mut net
            .rules
            .iter()
            .map(|r| (r.name.value.as_str(), r.name.span)),
    );
}

fn keys(net: &Network, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    // Owners are (kind, name) pairs, formatted only when a duplicate is found.
    let mut seen: HashMap<PublicKey, (Span, &str, &str)> = HashMap::new();
    let controller = net
        .controller
        .iter()
        .map(|c| (Some(&c.public_key), "controller", c.name.value.as_str()));
    let relays = net
        .relays
        .iter()
        .map(|r| (Some(&r.public_key), "relay", r.name.value.as_str()));
    let nodes = net
        .nodes
        .iter()
        .map(|n| (n.public_key.as_ref(), "node", n.name.value.as_str()));
    let vrouters = net
        .vrouters
        .iter()
        .map(|v| (v.public_key.as_ref(), "vrouter", v.name.value.as_str()));
    for (key, kind, name) in controller.chain(relays).chain(nodes).chain(vrouters) {
        let Some(key) = key.filter(|k| !placeholder(k.span)) else {
            continue;
        };
        match seen.get(&key.value) {
            Some(&(first, first_kind, first_name)) => {
                let d = Diagnostic::error(
                    "cvlan::duplicate-key",
                    format!("{kind} `{name}` uses the same public key as {first_kind} `{first_name}`"),
                    key.span,
                    "key used again",
                )
                .with_help("every node, relay, vrouter and controller has its own key; run `cvland pubkey` on each host");
                diags.push(with_first(sources, d, first, "first used"));
            }
            None => {
                seen.insert(key.value, (key.span, kind, name));
            }
        }
    }
    if net.controller.is_none() {
        let hosts = net
            .nodes
            .iter()
            .map(|n| ("node", &n.name, n.public_key.is_some()))
            .chain(
                net.vrouters
                    .iter()
                    .map(|v| ("vrouter", &v.name, v.public_key.is_some())),
            );
        for (kind, name, has_key) in hosts {
            if !has_key {
                diags.push(
                    Diagnostic::error(
                        "cvlan::missing-key",
                        format!("{kind} `{}` has no public-key and there is no controller to learn it from", name.value),
                        name.span,
                        "no public-key",
                    )
                    .with_help("add `public-key \"…\"` (run `cvland pubkey` on the host), or declare a controller"),
                );
            }
        }
    }
}

fn relays(net: &Network, index: &Index<'_>, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<String, Span> = HashMap::new();
    for relay in &net.relays {
        if placeholder(relay.address.span) {
            continue;
        }
        let address = relay.address.value.to_string();
        match seen.get(&address) {
            Some(&first) => {
                let d = Diagnostic::error(
                    "cvlan::duplicate-relay-address",
                    format!(
                        "relay `{}` has the same address as another relay",
                        relay.name.value
                    ),
                    relay.address.span,
                    "address used again",
                )
                .with_help("each relay is a separate server with its own address");
                diags.push(with_first(sources, d, first, "first used"));
            }
            None => {
                seen.insert(address, relay.address.span);
            }
        }
    }
    for node in &net.nodes {
        let Some(relay) = &node.home_relay else {
            continue;
        };
        if !index.relays.contains(relay.value.as_str()) {
            let help = suggest::did_you_mean(&relay.value, index.relays.iter().copied())
                .unwrap_or_else(|| format!("declared relays: {}", sorted(&index.relays)));
            diags.push(
                Diagnostic::error(
                    "cvlan::unknown-reference",
                    format!(
                        "home-relay `{}` of node `{}` is not a relay",
                        relay.value, node.name.value
                    ),
                    relay.span,
                    "no such relay",
                )
                .with_help(help),
            );
        }
    }
}

fn users(net: &Network, diags: &mut Vec<Diagnostic>) {
    let members: HashSet<&str> = net
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.value.as_str()))
        .collect();
    let mut warned: HashSet<&str> = HashSet::new();
    for node in &net.nodes {
        let Some(owner) = &node.owner else {
            continue;
        };
        let valid = crate::values::parse_email(&owner.value).is_ok();
        if valid && !members.contains(owner.value.as_str()) && warned.insert(owner.value.as_str()) {
            diags.push(
                Diagnostic::warning(
                    "cvlan::user-not-in-group",
                    format!("owner `{}` is in no group", owner.value),
                    owner.span,
                    "not a member of any group",
                )
                .with_help("group rules will not cover this user's nodes; add a `member` line if that is not intended"),
            );
        }
    }
}

/// The set's items sorted and comma-separated (at most 20), for help lines.
pub(crate) fn sorted(set: &HashSet<&str>) -> String {
    let mut items: Vec<&str> = set.iter().copied().collect();
    items.sort_unstable();
    let more = items.len().saturating_sub(20);
    items.truncate(20);
    let mut text = if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    };
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}
