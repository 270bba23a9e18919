//! Reads a topology KDL document into the model, recording the spans the validator needs to
//! point at; shape errors become problems, never panics.

use std::net::Ipv4Addr;
use std::path::Path;

use cvlan_schema::syntax::Node;
use cvlan_schema::{Diagnostic, SourceMap, Span, Spanned};
use ipnet::Ipv4Net;

use super::reader::Reader;
use super::validate::{self, AttachmentSpans, HostSpans, NatSpans, Spans};
use super::{
    Attachment, Check, Host, Mapping, MeshNode, Nat, PingTarget, ProcessDecl, Service,
    StrongswanConfig, Switch, Topology, TopologyError,
};

const TOP_LEVEL: &[&str] = &["lab", "network", "switch", "nat", "host", "check"];
const HOST_CHILDREN: &[&str] = &[
    "link",
    "gateway",
    "loopback",
    "cvland",
    "wireguard-go",
    "vrouterd",
    "strongswan",
    "process",
];
const NAT_CHILDREN: &[&str] = &["mapping", "wan", "lan"];

pub(super) fn parse(path: &Path, text: &str) -> Result<Topology, TopologyError> {
    let mut sources = SourceMap::default();
    let source = sources.add(path.display().to_string(), text);
    let nodes = match cvlan_schema::syntax::parse(source, text) {
        Ok(nodes) => nodes,
        Err(diagnostics) => return Err(TopologyError::new(sources, diagnostics)),
    };
    let mut parser = Parser::default();
    parser.document(&nodes);
    let Parser {
        mut reader,
        mut topology,
        spans,
    } = parser;
    if topology.name.is_empty() {
        topology.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".into());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    if let Some(network) = &topology.network {
        topology.network = Some(base.join(network));
    }
    for host in &mut topology.hosts {
        for service in &mut host.services {
            if let Service::Strongswan(StrongswanConfig::File(file)) = service {
                *file = base.join(&*file);
            }
        }
    }
    validate::validate(&mut reader, &topology, &spans);
    if reader.problems.is_empty() {
        Ok(topology)
    } else {
        Err(TopologyError::new(sources, reader.problems))
    }
}

#[derive(Default)]
struct Parser {
    reader: Reader,
    topology: Topology,
    spans: Spans,
}

impl Parser {
    fn document(&mut self, nodes: &[Node]) {
        for node in nodes {
            match node.name.as_str() {
                "lab" => self.lab(node),
                "network" => self.network(node),
                "switch" => self.switch(node),
                "nat" => self.nat(node),
                "host" => self.host(node),
                "check" => self.checks(node),
                _ => self.reader.unknown_node(node, "at top level", TOP_LEVEL),
            }
        }
    }

    fn lab(&mut self, node: &Node) {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        self.reader.no_children(node);
        if let Some(name) = self.reader.string_arg(node, 0) {
            self.topology.name = name.value;
        }
    }

    fn network(&mut self, node: &Node) {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        self.reader.no_children(node);
        if let Some(path) = self.reader.string_arg(node, 0) {
            self.topology.network = Some(path.value.into());
            self.spans.network = Some(path.span);
        }
    }

    fn switch(&mut self, node: &Node) {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &["subnet"]);
        self.reader.no_children(node);
        let name = self.name(node);
        let subnet = match self.reader.string_prop(node, "subnet") {
            Some(s) => self.subnet(&s),
            None => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::missing-property",
                        "`switch` needs a `subnet`",
                        node.span,
                        "no subnet",
                    )
                    .with_help(r#"written as: switch "lan" subnet="10.0.0.0/24""#),
                );
                None
            }
        };
        if let (Some(name), Some(subnet)) = (name, subnet) {
            self.spans.switch_names.push(name.span);
            self.topology.switches.push(Switch {
                name: name.value,
                subnet,
            });
        }
    }

    fn nat(&mut self, node: &Node) {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        let name = self.name(node);
        let mut mapping = None;
        let mut wan = None;
        let mut lan = None;
        for child in children(node) {
            match child.name.as_str() {
                "mapping" => mapping = self.mapping(child),
                "wan" => wan = self.attachment(child),
                "lan" => lan = self.attachment(child),
                _ => self.reader.unknown_node(child, "in `nat`", NAT_CHILDREN),
            }
        }
        for (what, missing) in [("wan", wan.is_none()), ("lan", lan.is_none())] {
            if missing {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::missing-child",
                        format!("`nat` needs a `{what}` side"),
                        node.span,
                        format!("no `{what}`"),
                    )
                    .with_help(format!(r#"add: {what} "SWITCH" address="…""#)),
                );
            }
        }
        let (Some(name), Some((wan, wan_spans)), Some((lan, lan_spans))) = (name, wan, lan) else {
            return;
        };
        self.spans.nats.push(NatSpans {
            name: name.span,
            wan: wan_spans,
            lan: lan_spans,
        });
        self.topology.nats.push(Nat {
            name: name.value,
            mapping: mapping.unwrap_or(Mapping::EndpointIndependent),
            wan,
            lan,
        });
    }

    fn mapping(&mut self, node: &Node) -> Option<Mapping> {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        self.reader.no_children(node);
        let value = self.reader.string_arg(node, 0)?;
        match value.value.as_str() {
            "endpoint-independent" => Some(Mapping::EndpointIndependent),
            "symmetric" => Some(Mapping::Symmetric),
            other => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::unknown-mapping",
                        format!("unknown NAT mapping `{other}`"),
                        value.span,
                        "not a mapping",
                    )
                    .with_help(r#"use "endpoint-independent" or "symmetric""#),
                );
                None
            }
        }
    }

    fn attachment(&mut self, node: &Node) -> Option<(Attachment, AttachmentSpans)> {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &["address"]);
        self.reader.no_children(node);
        let switch = self.reader.string_arg(node, 0);
        let address = match self.reader.string_prop(node, "address") {
            Some(a) => self.address(&a).map(|addr| (addr, a.span)),
            None => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::missing-property",
                        format!("`{}` needs an `address`", node.name.as_str()),
                        node.span,
                        "no address",
                    )
                    .with_help(usage_link(node)),
                );
                None
            }
        };
        let (switch, (address, address_span)) = (switch?, address?);
        Some((
            Attachment {
                switch: switch.value,
                address,
            },
            AttachmentSpans {
                switch: switch.span,
                address: address_span,
            },
        ))
    }

    fn host(&mut self, node: &Node) {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        let Some(name) = self.name(node) else { return };
        let mut host = Host {
            name: name.value,
            links: Vec::new(),
            gateway: None,
            loopback: Vec::new(),
            services: Vec::new(),
        };
        let mut spans = HostSpans {
            name: name.span,
            links: Vec::new(),
            gateway: None,
            services: Vec::new(),
        };
        for child in children(node) {
            match child.name.as_str() {
                "link" => {
                    if let Some((link, link_spans)) = self.attachment(child) {
                        host.links.push(link);
                        spans.links.push(link_spans);
                    }
                }
                "gateway" => {
                    self.reader.args(child, 1, 1);
                    self.reader.check_props(child, &[]);
                    self.reader.no_children(child);
                    if let Some(gw) = self.reader.string_arg(child, 0) {
                        host.gateway = self.address(&gw);
                        spans.gateway = Some(gw.span);
                    }
                }
                "loopback" => {
                    self.reader.args(child, 1, usize::MAX);
                    self.reader.check_props(child, &[]);
                    self.reader.no_children(child);
                    for value in self.reader.string_args(child) {
                        match value.value.parse::<ipnet::IpNet>() {
                            Ok(net) => host.loopback.push(net),
                            Err(_) => self.reader.push(
                                Diagnostic::error(
                                    "cvlan-lab::bad-address",
                                    format!("`{}` is not an address with a prefix", value.value),
                                    value.span,
                                    "not a CIDR",
                                )
                                .with_help(r#"write it like "10.1.0.1/32""#),
                            ),
                        }
                    }
                }
                "vrouterd" | "strongswan" => {
                    if let Some(service) = self.ipsec_service(child, &host.name) {
                        host.services.push(service);
                        spans.services.push((child.span, None));
                    }
                }
                "cvland" | "wireguard-go" => {
                    if let Some((service, endpoint_span)) = self.mesh_service(child, &host.name) {
                        host.services.push(service);
                        spans.services.push((child.span, endpoint_span));
                    }
                }
                "process" => {
                    if let Some(process) = self.process(child) {
                        host.services.push(Service::Process(process));
                        spans.services.push((child.span, None));
                    }
                }
                _ => self.reader.unknown_node(child, "in `host`", HOST_CHILDREN),
            }
        }
        self.spans.hosts.push(spans);
        self.topology.hosts.push(host);
    }

    fn mesh_service(&mut self, node: &Node, host: &str) -> Option<(Service, Option<Span>)> {
        self.reader.args(node, 0, 0);
        self.reader.check_props(node, &["node", "endpoint"]);
        self.reader.no_children(node);
        let name = self.reader.string_prop(node, "node");
        let endpoint = self.reader.string_prop(node, "endpoint");
        let mesh = MeshNode {
            node: name.map_or_else(|| host.to_owned(), |n| n.value),
            endpoint: endpoint.as_ref().map(|e| e.value.clone()),
        };
        let service = if node.name.as_str() == "cvland" {
            Service::Cvland(mesh)
        } else {
            Service::WireguardGo(mesh)
        };
        Some((service, endpoint.map(|e| e.span)))
    }

    /// `vrouterd [vrouter=NAME]` or `strongswan vrouter=NAME | config=FILE`.
    fn ipsec_service(&mut self, node: &Node, host: &str) -> Option<Service> {
        self.reader.args(node, 0, 0);
        let strongswan = node.name.as_str() == "strongswan";
        let allowed: &[&str] = if strongswan {
            &["vrouter", "config"]
        } else {
            &["vrouter"]
        };
        self.reader.check_props(node, allowed);
        self.reader.no_children(node);
        let vrouter = self.reader.string_prop(node, "vrouter");
        if !strongswan {
            return Some(Service::Vrouterd(
                vrouter.map_or_else(|| host.to_owned(), |v| v.value),
            ));
        }
        let config = self.reader.string_prop(node, "config");
        match (vrouter, config) {
            (Some(v), None) => Some(Service::Strongswan(StrongswanConfig::Vrouter(v.value))),
            (None, Some(c)) => Some(Service::Strongswan(StrongswanConfig::File(c.value.into()))),
            _ => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::strongswan-config",
                        "`strongswan` needs exactly one of `vrouter=` and `config=`",
                        node.span,
                        "which configuration?",
                    )
                    .with_help(
                        r#"strongswan vrouter="NAME" renders that network.kdl vrouter's peers; strongswan config="FILE" loads a swanctl.conf"#,
                    ),
                );
                None
            }
        }
    }

    fn process(&mut self, node: &Node) -> Option<ProcessDecl> {
        self.reader.args(node, 1, 1);
        self.reader.check_props(node, &[]);
        let name = self.name(node)?;
        let mut command = Vec::new();
        let mut ready_socket = None;
        for child in children(node) {
            match child.name.as_str() {
                "command" => {
                    self.reader.args(child, 1, usize::MAX);
                    self.reader.check_props(child, &[]);
                    self.reader.no_children(child);
                    command = self
                        .reader
                        .string_args(child)
                        .into_iter()
                        .map(|a| a.value)
                        .collect();
                }
                "ready" => {
                    self.reader.args(child, 0, 0);
                    self.reader.check_props(child, &["socket"]);
                    self.reader.no_children(child);
                    ready_socket = self.reader.string_prop(child, "socket").map(|s| s.value);
                }
                _ => self
                    .reader
                    .unknown_node(child, "in `process`", &["command", "ready"]),
            }
        }
        if command.is_empty() {
            self.reader.push(
                Diagnostic::error(
                    "cvlan-lab::missing-child",
                    "`process` needs a `command`",
                    node.span,
                    "no command",
                )
                .with_help(r#"add: command "PROGRAM" "ARG"…"#),
            );
            return None;
        }
        Some(ProcessDecl {
            name: name.value,
            command,
            ready_socket,
        })
    }

    fn checks(&mut self, node: &Node) {
        self.reader.args(node, 0, 0);
        self.reader.check_props(node, &[]);
        for child in children(node) {
            if child.name.as_str() != "ping" {
                self.reader.unknown_node(child, "in `check`", &["ping"]);
                continue;
            }
            self.reader.args(child, 2, 2);
            self.reader.check_props(child, &[]);
            self.reader.no_children(child);
            let (Some(from), Some(to)) = (
                self.reader.string_arg(child, 0),
                self.reader.string_arg(child, 1),
            ) else {
                continue;
            };
            let target = match to.value.parse::<Ipv4Addr>() {
                Ok(addr) => PingTarget::Address(addr),
                Err(_) => PingTarget::Host(to.value.clone()),
            };
            self.spans.checks.push((from.span, to.span));
            self.topology.checks.push(Check::Ping {
                from: from.value,
                to: target,
            });
        }
    }

    /// The node's name argument, checked to be an identifier.
    fn name(&mut self, node: &Node) -> Option<Spanned<String>> {
        let name = self.reader.string_arg(node, 0)?;
        if is_identifier(&name.value) {
            Some(name)
        } else {
            self.reader.push(
                Diagnostic::error(
                    "cvlan-lab::bad-name",
                    format!("`{}` is not a valid name", name.value),
                    name.span,
                    "invalid name",
                )
                .with_help("names are 1–32 of a-z, 0-9 and '-', starting with a letter or digit"),
            );
            None
        }
    }

    fn subnet(&mut self, text: &Spanned<String>) -> Option<Ipv4Net> {
        match text.value.parse::<Ipv4Net>() {
            Ok(net) if net.prefix_len() <= 30 => Some(net.trunc()),
            Ok(_) => {
                self.reader.push(Diagnostic::error(
                    "cvlan-lab::bad-subnet",
                    format!("subnet `{}` is too small for a switch", text.value),
                    text.span,
                    "prefix longer than /30",
                ));
                None
            }
            Err(_) => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::bad-subnet",
                        format!("`{}` is not an IPv4 subnet", text.value),
                        text.span,
                        "not a subnet",
                    )
                    .with_help(r#"write it like "10.0.1.0/24""#),
                );
                None
            }
        }
    }

    fn address(&mut self, text: &Spanned<String>) -> Option<Ipv4Addr> {
        match text.value.parse::<Ipv4Addr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.reader.push(
                    Diagnostic::error(
                        "cvlan-lab::bad-address",
                        format!("`{}` is not an IPv4 address", text.value),
                        text.span,
                        "not an address",
                    )
                    .with_help(r#"write it like "10.0.1.2" (the prefix comes from the switch)"#),
                );
                None
            }
        }
    }
}

fn children(node: &Node) -> impl Iterator<Item = &Node> {
    node.children.iter().flatten()
}

fn usage_link(node: &Node) -> String {
    format!(
        r#"written as: {} "SWITCH" address="10.0.0.2""#,
        node.name.as_str()
    )
}

/// Names become parts of namespace names: 1–32 of `[a-z0-9-]`, not starting with '-'.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
