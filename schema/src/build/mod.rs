//! From syntax trees to the typed [`Network`]: one pass over each file's nodes, reading every
//! node against the grammar and reporting what is malformed. Cross-references (names, keys,
//! addresses, selectors) are checked afterwards by [`crate::validate`].
//!
//! When a required value is missing or invalid the builder still records the item, with a
//! placeholder whose span is empty, so later checks can run without cascading errors; a model
//! with placeholders is never a [`crate::Checked`] one (its file has errors), only a
//! [`crate::Partial`] one, for tools that complete or inspect files that are not valid.

mod hosts;
mod policy;

use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use crate::grammar::Context;
use crate::model::{Controller, Group, HostPort, Network, Relay};
use crate::read::{self, Out};
use crate::span::{Span, Spanned};
use crate::syntax::Node;
use crate::values;
use cvlan_types::PublicKey;

/// The IPv4 overlay used when `network` names none.
pub const DEFAULT_OVERLAY: &str = "100.64.0.0/10";
pub use cvlan_types::ports::DEFAULT_LISTEN_PORT;
/// The tenant used when `network` names none.
pub const DEFAULT_TENANT: &str = "default";

/// A network being assembled from one or more files.
pub struct Draft {
    /// The model so far.
    pub net: Network,
    /// Where `network` was declared, once it has been.
    pub network_at: Option<Span>,
    /// `include` lines of the root file: path and the entry naming it.
    pub includes: Vec<(String, Span)>,
}

impl Draft {
    /// An empty draft with every default in place.
    pub fn new() -> Self {
        Draft {
            net: Network::default(),
            network_at: None,
            includes: Vec::new(),
        }
    }

    /// Applies the defaults that depend on the whole file: an ipsec-peer without `local-ts`
    /// offers the network's overlays.
    pub fn finish(&mut self) {
        // The model lives as long as the network runs: no spare capacity from the reading.
        self.net.nodes.shrink_to_fit();
        let mut overlays = vec![IpNet::V4(self.net.overlay.value)];
        overlays.extend(self.net.overlay6.iter().map(|o| IpNet::V6(o.value)));
        for vrouter in &mut self.net.vrouters {
            for peer in &mut vrouter.peers {
                if peer.local_ts.is_empty() {
                    peer.local_ts = overlays
                        .iter()
                        .map(|o| Spanned::new(*o, peer.name.span))
                        .collect();
                }
            }
        }
    }

    /// Reads the top-level nodes of one file into the draft. `root` says whether `include`
    /// is allowed (only in the root file).
    pub fn read_file(&mut self, out: &mut Out, nodes: &[Node], root: bool) {
        for (node, rule) in read::children(out, nodes, Context::Top) {
            let args = read::string_args(out, node, rule);
            let children = node.children.as_deref().unwrap_or_default();
            match rule.name {
                "network" => self.network(out, node, &args, children),
                "controller" => self.controller(out, node, &args),
                "relay" => self.relay(out, node, &args),
                "group" => self.group(out, node, &args, children),
                "node" => hosts::node(self, out, node, &args, children),
                "vrouter" => hosts::vrouter(self, out, node, &args, children),
                "policy" => policy::policy(self, out, children),
                "policy-test" => policy::test(self, out, node, &args, children),
                _ => self.include(out, node, &args, root),
            }
        }
    }

    fn include(
        &mut self,
        out: &mut Out,
        node: &Node,
        args: &[(&str, &crate::syntax::Entry)],
        root: bool,
    ) {
        if !root {
            out.error(
                "cvlan::include",
                node.span,
                "an included file may not include further files".to_owned(),
                "nested include",
                "move this include into the root network file",
            );
            return;
        }
        if let Some((path, entry)) = args.first() {
            self.includes.push(((*path).to_owned(), entry.span));
        }
    }

    fn network(
        &mut self,
        out: &mut Out,
        node: &Node,
        args: &[(&str, &crate::syntax::Entry)],
        children: &[Node],
    ) {
        if let Some(first) = self.network_at {
            out.push(
                crate::Diagnostic::error(
                    "cvlan::duplicate-network",
                    "`network` is declared twice",
                    node.name_span,
                    "second declaration",
                )
                .with_label(first, "first declared here")
                .with_help("a file describes one network; merge the two blocks"),
            );
            return;
        }
        self.network_at = Some(node.name_span);
        let net = &mut self.net;
        net.span = node.span;
        if let Some((name, entry)) = args.first() {
            net.name = read::name(out, name, entry, "network");
        }
        net.tenant.span = node.name_span;
        if let Some((tenant, entry)) = read::prop_str(out, node, "tenant") {
            net.tenant = read::name(out, tenant, entry, "tenant");
        }
        net.overlay.span = node.name_span;
        net.listen_port.span = node.name_span;
        for (child, rule) in read::children(out, children, Context::Network) {
            if rule.name == "listen-port" {
                let entries = read::node_args(out, child, rule);
                if let Some(port) = entries.first().and_then(|e| port_value(out, child, e)) {
                    net.listen_port = port;
                }
                continue;
            }
            let args = read::string_args(out, child, rule);
            let first = args.first();
            match rule.name {
                "overlay" => {
                    let cidr = first.and_then(|(v, e)| {
                        read::parsed(
                            out,
                            v,
                            e,
                            "cvlan::invalid-cidr",
                            "write the overlay as a CIDR such as \"100.64.0.0/10\"",
                            values::parse_cidr,
                        )
                    });
                    match cidr.map(|c| c.map_v4()) {
                        Some(Spanned {
                            value: Some(v4),
                            span,
                        }) => net.overlay = Spanned::new(v4, span),
                        Some(Spanned { value: None, span }) => out.error(
                            "cvlan::invalid-cidr",
                            span,
                            "`overlay` is the IPv4 range".to_owned(),
                            "an IPv6 prefix",
                            "put an IPv6 ULA range in `overlay6`",
                        ),
                        None => {}
                    }
                }
                "overlay6" => {
                    let cidr = first.and_then(|(v, e)| {
                        read::parsed(
                            out,
                            v,
                            e,
                            "cvlan::invalid-cidr",
                            "write the overlay as a CIDR such as \"fd7a:115c:a1e0::/48\"",
                            values::parse_cidr,
                        )
                    });
                    match cidr.map(|c| c.map_v6()) {
                        Some(Spanned {
                            value: Some(v6),
                            span,
                        }) => net.overlay6 = Some(Spanned::new(v6, span)),
                        Some(Spanned { value: None, span }) => out.error(
                            "cvlan::invalid-cidr",
                            span,
                            "`overlay6` is the IPv6 range".to_owned(),
                            "an IPv4 prefix",
                            "put the IPv4 range in `overlay`",
                        ),
                        None => {}
                    }
                }
                "dns" => match read::prop_str(out, child, "domain") {
                    Some((domain, entry)) => {
                        net.dns_domain = read::parsed(
                            out,
                            domain,
                            entry,
                            "cvlan::invalid-value",
                            "a DNS domain is dot-separated labels, e.g. corp.cvlan",
                            |d| {
                                if values::is_dns_name(d) {
                                    Ok(d.to_ascii_lowercase())
                                } else {
                                    Err(format!("`{d}` is not a DNS domain"))
                                }
                            },
                        );
                    }
                    None => read::missing_prop(out, child, "domain", "\"corp.cvlan\""),
                },
                _ => {
                    net.key_expiry = first.and_then(|(v, e)| duration(out, v, e));
                }
            }
        }
    }

    fn controller(&mut self, out: &mut Out, node: &Node, args: &[(&str, &crate::syntax::Entry)]) {
        let name = entity_name(out, node, args, "controller");
        if let Some(first) = &self.net.controller {
            out.push(
                crate::Diagnostic::error(
                    "cvlan::duplicate-name",
                    "a network has at most one `controller`",
                    node.name_span,
                    "second controller",
                )
                .with_label(first.name.span, "first declared here")
                .with_help("run several controllers behind one address instead"),
            );
            return;
        }
        let address = required_host_port(out, node);
        let public_key = required_key(out, node);
        self.net.controller = Some(Controller {
            name,
            address,
            public_key,
            span: node.span,
        });
    }

    fn relay(&mut self, out: &mut Out, node: &Node, args: &[(&str, &crate::syntax::Entry)]) {
        let name = entity_name(out, node, args, "relay");
        let region = match read::prop_str(out, node, "region") {
            Some((region, entry)) => read::name(out, region, entry, "region"),
            None => {
                missing(out, node, "region=\"eu-central\"");
                Spanned::default()
            }
        };
        let address = required_host_port(out, node);
        let public_key = required_key(out, node);
        self.net.relays.push(Relay {
            name,
            region,
            address,
            public_key,
            span: node.span,
        });
    }

    fn group(
        &mut self,
        out: &mut Out,
        node: &Node,
        args: &[(&str, &crate::syntax::Entry)],
        children: &[Node],
    ) {
        let name = entity_name(out, node, args, "group");
        let mut members = Vec::new();
        for (child, rule) in read::children(out, children, Context::Group) {
            for (member, entry) in read::string_args(out, child, rule) {
                members.push(read::email(out, member, entry));
            }
        }
        self.net.groups.push(Group {
            name,
            members,
            span: node.span,
        });
    }
}

/// The name argument of a named item (checked as an identifier); when absent, an empty
/// placeholder pointing at the node.
fn entity_name(
    out: &mut Out,
    node: &Node,
    args: &[(&str, &crate::syntax::Entry)],
    kind: &str,
) -> Spanned<String> {
    match args.first() {
        Some((name, entry)) => read::name(out, name, entry, kind),
        None => Spanned::new(
            String::new(),
            Span::new(node.name_span.source, node.name_span.offset, 0),
        ),
    }
}

fn missing(out: &mut Out, node: &Node, example: &str) {
    let (key, value) = example.split_once('=').unwrap_or((example, ""));
    read::missing_prop(out, node, key, value);
}

fn required_host_port(out: &mut Out, node: &Node) -> Spanned<HostPort> {
    let placeholder = || {
        Spanned::new(
            HostPort {
                host: String::new(),
                port: 0,
            },
            Span::default(),
        )
    };
    let Some((value, entry)) = read::prop_str(out, node, "address") else {
        missing(out, node, "address=\"host.example:3340\"");
        return placeholder();
    };
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-endpoint",
        "write HOST:PORT, e.g. relay-fra1.acme.example:3340",
        values::parse_host_port,
    )
    .unwrap_or_else(placeholder)
}

fn required_key(out: &mut Out, node: &Node) -> Spanned<PublicKey> {
    let placeholder = Spanned::new(PublicKey([0; 32]), Span::default());
    let Some((value, entry)) = read::prop_str(out, node, "public-key") else {
        missing(out, node, "public-key=\"<base64>\"");
        return placeholder;
    };
    key(out, value, entry).unwrap_or(placeholder)
}

/// Parses a base64 x25519 public key.
pub(crate) fn key(
    out: &mut Out,
    value: &str,
    entry: &crate::syntax::Entry,
) -> Option<Spanned<PublicKey>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-key",
        "a public key is 32 bytes in standard base64 (44 characters), as `wg pubkey` or `cvland pubkey` prints it",
        |v| {
            v.parse::<PublicKey>()
                .map_err(|e| format!("this public key is {e}"))
        },
    )
}

/// Parses a duration value.
pub(crate) fn duration(
    out: &mut Out,
    value: &str,
    entry: &crate::syntax::Entry,
) -> Option<Spanned<Duration>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-duration",
        "durations are NUMBER+UNIT with units s, m, h, d: \"30s\", \"15m\", \"1h30m\", \"180d\"",
        values::parse_duration,
    )
}

/// An integer port value of `node`.
pub(crate) fn port_value(
    out: &mut Out,
    node: &Node,
    entry: &crate::syntax::Entry,
) -> Option<Spanned<u16>> {
    match entry.value {
        crate::syntax::Value::Integer(p) if (1..=65535).contains(&p) => {
            Some(Spanned::new(u16::try_from(p).ok()?, entry.span))
        }
        _ => {
            out.error(
                "cvlan::invalid-value",
                entry.span,
                format!("`{}` takes a port number from 1 to 65535", node.name),
                "not a port",
                format!("write it unquoted, e.g. `{} 51820`", node.name),
            );
            None
        }
    }
}

trait SplitFamily {
    fn map_v4(self) -> Spanned<Option<Ipv4Net>>;
    fn map_v6(self) -> Spanned<Option<ipnet::Ipv6Net>>;
}

impl SplitFamily for Spanned<IpNet> {
    fn map_v4(self) -> Spanned<Option<Ipv4Net>> {
        let v = match self.value {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        };
        Spanned::new(v, self.span)
    }

    fn map_v6(self) -> Spanned<Option<ipnet::Ipv6Net>> {
        let v = match self.value {
            IpNet::V6(n) => Some(n),
            IpNet::V4(_) => None,
        };
        Spanned::new(v, self.span)
    }
}
