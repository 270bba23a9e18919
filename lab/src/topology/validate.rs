//! Cross-reference checks on a parsed topology: unique names, switches that exist, addresses
//! inside their subnets and unique, one NAT per LAN, endpoints and checks that resolve.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use cvlan_schema::{Diagnostic, Span};

use super::reader::Reader;
use super::{Attachment, Check, PingTarget, Service, Topology};

/// Spans of the parts of a topology the validator may point at, parallel to the model.
#[derive(Debug, Default)]
pub(super) struct Spans {
    pub network: Option<Span>,
    pub switch_names: Vec<Span>,
    pub nats: Vec<NatSpans>,
    pub hosts: Vec<HostSpans>,
    pub checks: Vec<(Span, Span)>,
}

/// Spans of one NAT router.
#[derive(Debug)]
pub(super) struct NatSpans {
    pub name: Span,
    pub wan: AttachmentSpans,
    pub lan: AttachmentSpans,
}

/// Spans of one host.
#[derive(Debug)]
pub(super) struct HostSpans {
    pub name: Span,
    pub links: Vec<AttachmentSpans>,
    pub gateway: Option<Span>,
    /// Per service: the declaration and its `endpoint` property.
    pub services: Vec<(Span, Option<Span>)>,
}

/// Spans of one attachment.
#[derive(Debug, Clone, Copy)]
pub(super) struct AttachmentSpans {
    pub switch: Span,
    pub address: Span,
}

pub(super) fn validate(reader: &mut Reader, topo: &Topology, spans: &Spans) {
    let mut v = Validator {
        reader,
        topo,
        used: HashSet::new(),
    };
    v.unique_names(spans);
    for (nat, s) in topo.nats.iter().zip(&spans.nats) {
        v.attachment(&nat.wan, s.wan);
        v.attachment(&nat.lan, s.lan);
        if nat.wan.switch == nat.lan.switch {
            v.problem(
                Diagnostic::error(
                    "cvlan-lab::nat-loop",
                    format!("NAT `{}` has its WAN and LAN on one switch", nat.name),
                    s.lan.switch,
                    "same switch as the WAN",
                )
                .with_help("put the LAN side on a switch of its own"),
            );
        }
    }
    let mut seen_lan: HashSet<&str> = HashSet::new();
    for (nat, s) in topo.nats.iter().zip(&spans.nats) {
        if !seen_lan.insert(nat.lan.switch.as_str()) {
            v.problem(Diagnostic::error(
                "cvlan-lab::two-nats",
                format!("switch `{}` already has a NAT router", nat.lan.switch),
                s.lan.switch,
                "second NAT on this LAN",
            ));
        }
    }
    for (host, s) in topo.hosts.iter().zip(&spans.hosts) {
        v.host(host, s);
    }
    v.network(spans);
    for (check, (from_span, to_span)) in topo.checks.iter().zip(&spans.checks) {
        v.check(check, *from_span, *to_span);
    }
}

struct Validator<'a> {
    reader: &'a mut Reader,
    topo: &'a Topology,
    /// Addresses taken per switch.
    used: HashSet<(&'a str, Ipv4Addr)>,
}

impl<'a> Validator<'a> {
    fn problem(&mut self, p: Diagnostic) {
        self.reader.push(p);
    }

    fn unique_names(&mut self, spans: &Spans) {
        let mut switches = HashSet::new();
        for (sw, span) in self.topo.switches.iter().zip(&spans.switch_names) {
            if !switches.insert(sw.name.as_str()) {
                self.duplicate("switch", &sw.name, *span);
            }
        }
        let mut machines = HashSet::new();
        let nats = self
            .topo
            .nats
            .iter()
            .zip(&spans.nats)
            .map(|(n, s)| (&n.name, s.name));
        let hosts = self
            .topo
            .hosts
            .iter()
            .zip(&spans.hosts)
            .map(|(h, s)| (&h.name, s.name));
        for (name, span) in nats.chain(hosts).collect::<Vec<_>>() {
            if !machines.insert(name.as_str()) {
                self.duplicate("host or NAT", name, span);
            }
        }
    }

    fn duplicate(&mut self, kind: &str, name: &str, span: Span) {
        self.problem(
            Diagnostic::error(
                "cvlan-lab::duplicate-name",
                format!("{kind} `{name}` is declared twice"),
                span,
                "second declaration",
            )
            .with_help("hosts and NAT routers share one namespace of names"),
        );
    }

    fn attachment(&mut self, att: &'a Attachment, s: AttachmentSpans) {
        let Some(switch) = self.topo.switch(&att.switch) else {
            let known: Vec<&str> = self.topo.switches.iter().map(|s| s.name.as_str()).collect();
            self.problem(
                Diagnostic::error(
                    "cvlan-lab::unknown-switch",
                    format!("no switch is called `{}`", att.switch),
                    s.switch,
                    "unknown switch",
                )
                .with_help(format!("declared switches: {}", list(&known))),
            );
            return;
        };
        let net = switch.subnet;
        if !net.contains(&att.address)
            || att.address == net.network()
            || att.address == net.broadcast()
        {
            self.problem(Diagnostic::error(
                "cvlan-lab::address-outside-subnet",
                format!(
                    "{} is not a host address of switch `{}` ({net})",
                    att.address, switch.name
                ),
                s.address,
                "outside the switch's subnet",
            ));
        } else if !self.used.insert((att.switch.as_str(), att.address)) {
            self.problem(Diagnostic::error(
                "cvlan-lab::duplicate-address",
                format!("{} is used twice on switch `{}`", att.address, switch.name),
                s.address,
                "already taken",
            ));
        }
    }

    fn host(&mut self, host: &'a super::Host, s: &HostSpans) {
        let mut switches = HashSet::new();
        for (link, ls) in host.links.iter().zip(&s.links) {
            self.attachment(link, *ls);
            if !switches.insert(link.switch.as_str()) {
                self.problem(Diagnostic::error(
                    "cvlan-lab::duplicate-link",
                    format!("host `{}` has two links on `{}`", host.name, link.switch),
                    ls.switch,
                    "second link",
                ));
            }
        }
        if host.links.is_empty() {
            self.problem(
                Diagnostic::error(
                    "cvlan-lab::no-link",
                    format!("host `{}` has no link", host.name),
                    s.name,
                    "isolated host",
                )
                .with_help(r#"add: link "SWITCH" address="…""#),
            );
        }
        if let (Some(gw), Some(span)) = (host.gateway, s.gateway) {
            let reachable = host.links.iter().any(|l| {
                self.topo
                    .switch(&l.switch)
                    .is_some_and(|sw| sw.subnet.contains(&gw))
            });
            if !reachable {
                self.problem(Diagnostic::error(
                    "cvlan-lab::unreachable-gateway",
                    format!("gateway {gw} is on none of the host's switches"),
                    span,
                    "not on a linked subnet",
                ));
            }
        }
        let mut mesh_seen = false;
        let mut ipsec_seen = false;
        let mut process_names = HashSet::new();
        let runs_cvland = host
            .services
            .iter()
            .any(|s| matches!(s, Service::Cvland(_)));
        for (service, (decl, endpoint_span)) in host.services.iter().zip(&s.services) {
            match service {
                Service::Vrouterd(_) | Service::Strongswan(_) => {
                    if ipsec_seen {
                        self.problem(
                            Diagnostic::error(
                                "cvlan-lab::two-ipsec-daemons",
                                format!("host `{}` already runs an IPsec daemon", host.name),
                                *decl,
                                "second IPsec daemon on one host",
                            )
                            .with_help("a host runs one of vrouterd or strongswan (both bind UDP 500 and 4500)"),
                        );
                    }
                    ipsec_seen = true;
                    if matches!(service, Service::Vrouterd(_)) && runs_cvland {
                        self.problem(
                            Diagnostic::error(
                                "cvlan-lab::two-ipsec-daemons",
                                format!("host `{}` runs cvland and vrouterd", host.name),
                                *decl,
                                "beside cvland",
                            )
                            .with_help("both create the TUN device cvl0: put the vrouter on a host of its own"),
                        );
                    }
                    if let Some(v) = host.vrouter()
                        && !super::parse::is_identifier(v)
                    {
                        self.problem(Diagnostic::error(
                            "cvlan-lab::bad-name",
                            format!("`{v}` is not a valid vrouter name"),
                            *decl,
                            "invalid vrouter name",
                        ));
                    }
                }
                Service::Cvland(node) | Service::WireguardGo(node) => {
                    if mesh_seen {
                        self.problem(
                            Diagnostic::error(
                                "cvlan-lab::two-mesh-nodes",
                                format!("host `{}` is already a node of the network", host.name),
                                *decl,
                                "second node on one host",
                            )
                            .with_help("a host runs one of cvland or wireguard-go"),
                        );
                    }
                    mesh_seen = true;
                    if !super::parse::is_identifier(&node.node) {
                        self.problem(Diagnostic::error(
                            "cvlan-lab::bad-name",
                            format!("`{}` is not a valid node name", node.node),
                            *decl,
                            "invalid node name",
                        ));
                    }
                    if let (Some(ep), Some(span)) = (&node.endpoint, endpoint_span)
                        && host.address_on(ep).is_none()
                    {
                        {
                            self.problem(
                                Diagnostic::error(
                                    "cvlan-lab::bad-endpoint",
                                    format!("host `{}` has no link on `{ep}`", host.name),
                                    *span,
                                    "not one of the host's switches",
                                )
                                .with_help("`endpoint` names the switch whose address peers dial"),
                            );
                        }
                    }
                }
                Service::Process(p) => {
                    if !process_names.insert(p.name.as_str()) {
                        self.problem(Diagnostic::error(
                            "cvlan-lab::duplicate-name",
                            format!("process `{}` is declared twice on `{}`", p.name, host.name),
                            *decl,
                            "second declaration",
                        ));
                    }
                }
            }
        }
    }

    fn network(&mut self, spans: &Spans) {
        let mut vrouters: HashMap<&str, &str> = HashMap::new();
        for (host, s) in self.topo.hosts.iter().zip(&spans.hosts) {
            let Some(vrouter) = host.vrouter() else {
                continue;
            };
            if let Some(other) = vrouters.insert(vrouter, host.name.as_str()) {
                self.problem(Diagnostic::error(
                    "cvlan-lab::duplicate-node",
                    format!("vrouter `{vrouter}` already runs on host `{other}`"),
                    s.name,
                    "same vrouter twice",
                ));
            }
            if self.topo.network.is_none() {
                self.problem(
                    Diagnostic::error(
                        "cvlan-lab::no-network",
                        format!(
                            "host `{}` plays vrouter `{vrouter}`, but the lab names no network.kdl",
                            host.name
                        ),
                        s.name,
                        "needs network.kdl",
                    )
                    .with_help(r#"add at top level: network "network.kdl""#),
                );
            }
        }
        let mut nodes: HashMap<&str, &str> = HashMap::new();
        for (host, s) in self.topo.hosts.iter().zip(&spans.hosts) {
            let Some(node) = host.mesh_node() else {
                continue;
            };
            if let Some(other) = nodes.insert(node.node.as_str(), host.name.as_str()) {
                self.problem(Diagnostic::error(
                    "cvlan-lab::duplicate-node",
                    format!("node `{}` already runs on host `{other}`", node.node),
                    s.name,
                    "same node twice",
                ));
            }
            if self.topo.network.is_none() {
                self.problem(
                    Diagnostic::error(
                        "cvlan-lab::no-network",
                        format!(
                            "host `{}` is a node of a network, but the lab names no network.kdl",
                            host.name
                        ),
                        s.name,
                        "needs network.kdl",
                    )
                    .with_help(r#"add at top level: network "network.kdl""#),
                );
            }
        }
    }

    fn check(&mut self, check: &Check, from_span: Span, to_span: Span) {
        let Check::Ping { from, to } = check;
        if self.topo.host(from).is_none() {
            self.problem(Diagnostic::error(
                "cvlan-lab::unknown-host",
                format!("no host is called `{from}`"),
                from_span,
                "unknown host",
            ));
        }
        if let PingTarget::Host(target) = to {
            match self.topo.host(target) {
                None => self.problem(
                    Diagnostic::error(
                        "cvlan-lab::unknown-host",
                        format!("`{target}` is neither an IPv4 address nor a host"),
                        to_span,
                        "unknown target",
                    )
                    .with_help("ping an address, or a host that is a node (its overlay address)"),
                ),
                Some(h) if h.mesh_node().is_none() => self.problem(Diagnostic::error(
                    "cvlan-lab::not-a-node",
                    format!("host `{target}` runs no cvland or wireguard-go, so it has no overlay address"),
                    to_span,
                    "not a node",
                )),
                Some(_) => {}
            }
        }
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
