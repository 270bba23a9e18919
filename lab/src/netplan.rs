//! The network a topology becomes, as a list of steps (namespaces, bridges, veth links,
//! addresses, routes, forwarding, NAT rules). Pure: building the list needs no root, and the
//! executor in [`crate::build`] runs it.

use std::net::Ipv4Addr;

use crate::naming::{self, LabId, NAT_LAN, NAT_WAN};
use crate::nat;
use crate::topology::{Attachment, Topology};

/// One thing to do to build a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a namespace and bring its loopback up.
    Namespace(String),
    /// `ip ARGS…` in the root namespace (veth pairs are created straight into their
    /// namespaces, so their names only need to be unique there).
    Ip(Vec<String>),
    /// `ip -n NS ARGS…`.
    IpIn {
        /// The namespace.
        ns: String,
        /// The arguments after `ip -n NS`.
        args: Vec<String>,
    },
    /// `sysctl -w KEY=VALUE` inside a namespace.
    Sysctl {
        /// The namespace.
        ns: String,
        /// The key, e.g. `net.ipv4.ip_forward`.
        key: &'static str,
        /// The value.
        value: &'static str,
    },
    /// `nft -f -` inside a namespace.
    Nft {
        /// The namespace.
        ns: String,
        /// The ruleset text.
        ruleset: String,
    },
}

/// Every step that builds `topo` for lab `id`, in order.
pub fn plan(topo: &Topology, id: &LabId) -> Vec<Step> {
    let mut p = Planner {
        topo,
        id,
        steps: Vec::new(),
        ports: vec![0; topo.switches.len()],
    };
    let sw = id.switch_namespace();
    p.steps.push(Step::Namespace(sw.clone()));
    for i in 0..topo.switches.len() {
        let br = naming::bridge(i);
        p.ip_in(&sw, &["link", "add", &br, "type", "bridge"]);
        p.ip_in(&sw, &["link", "set", &br, "up"]);
    }
    for nat in &topo.nats {
        let ns = id.namespace(&nat.name);
        p.steps.push(Step::Namespace(ns.clone()));
        p.link(&ns, NAT_WAN, &nat.wan);
        p.link(&ns, NAT_LAN, &nat.lan);
        p.steps.push(Step::Sysctl {
            ns: ns.clone(),
            key: "net.ipv4.ip_forward",
            value: "1",
        });
        if let Some(lan) = topo.switch(&nat.lan.switch) {
            p.steps.push(Step::Nft {
                ns: ns.clone(),
                ruleset: nat::ruleset(nat.mapping, lan.subnet),
            });
        }
        p.default_route(&ns, &nat.name, None, std::slice::from_ref(&nat.wan));
    }
    for host in &topo.hosts {
        let ns = id.namespace(&host.name);
        p.steps.push(Step::Namespace(ns.clone()));
        for (i, link) in host.links.iter().enumerate() {
            p.link(&ns, &naming::host_interface(i), link);
        }
        for net in &host.loopback {
            p.ip_in(&ns, &["addr", "add", &net.to_string(), "dev", "lo"]);
        }
        p.default_route(&ns, &host.name, host.gateway, &host.links);
    }
    p.steps
}

/// The default gateway of a machine: the explicit one, else the LAN address of the NAT
/// router serving one of its switches.
pub fn gateway(
    topo: &Topology,
    machine: &str,
    explicit: Option<Ipv4Addr>,
    links: &[Attachment],
) -> Option<Ipv4Addr> {
    explicit.or_else(|| {
        links.iter().find_map(|l| {
            topo.nat_serving(&l.switch)
                .filter(|nat| nat.name != machine)
                .map(|nat| nat.lan.address)
        })
    })
}

struct Planner<'a> {
    topo: &'a Topology,
    id: &'a LabId,
    steps: Vec<Step>,
    /// Next free port number per switch.
    ports: Vec<usize>,
}

impl Planner<'_> {
    fn ip_in(&mut self, ns: &str, args: &[&str]) {
        self.steps.push(Step::IpIn {
            ns: ns.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        });
    }

    /// A veth from `ns`/`ifname` to a new port of the attachment's switch, addressed and up.
    fn link(&mut self, ns: &str, ifname: &str, att: &Attachment) {
        let Some(index) = self.topo.switches.iter().position(|s| s.name == att.switch) else {
            return;
        };
        let subnet = self.topo.switches[index].subnet;
        let port = naming::bridge_port(index, self.ports[index]);
        self.ports[index] += 1;
        let sw = self.id.switch_namespace();
        self.steps.push(Step::Ip(
            [
                "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ]
            .map(str::to_owned)
            .to_vec(),
        ));
        self.ip_in(
            &sw,
            &["link", "set", &port, "master", &naming::bridge(index), "up"],
        );
        let cidr = format!("{}/{}", att.address, subnet.prefix_len());
        self.ip_in(ns, &["addr", "add", &cidr, "dev", ifname]);
        self.ip_in(ns, &["link", "set", ifname, "up"]);
    }

    fn default_route(
        &mut self,
        ns: &str,
        machine: &str,
        explicit: Option<Ipv4Addr>,
        links: &[Attachment],
    ) {
        if let Some(gw) = gateway(self.topo, machine, explicit, links) {
            self.ip_in(ns, &["route", "add", "default", "via", &gw.to_string()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const TOPO: &str = r#"
switch "wan" subnet="203.0.113.0/24"
switch "home" subnet="192.168.1.0/24"
nat "nat1" {
    mapping "symmetric"
    wan "wan" address="203.0.113.1"
    lan "home" address="192.168.1.1"
}
host "a" { link "wan" address="203.0.113.10"; }
host "b" {
    link "home" address="192.168.1.10"
    loopback "10.1.0.1/32"
}
"#;

    #[test]
    fn hosts_behind_a_nat_route_through_it_and_public_hosts_have_no_default() {
        let topo = Topology::parse(Path::new("t.kdl"), TOPO).unwrap();
        let id = LabId::parse("abc123").unwrap();
        let steps = plan(&topo, &id);
        let routes: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::IpIn { ns, args } if args[0] == "route" => {
                    Some((ns.as_str(), args[4].as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(routes, vec![("cvlab-abc123-b", "192.168.1.1")]);
        assert!(
            steps.contains(&Step::IpIn {
                ns: "cvlab-abc123-b".into(),
                args: ["addr", "add", "10.1.0.1/32", "dev", "lo"]
                    .map(str::to_owned)
                    .to_vec(),
            })
        );
        assert!(steps.contains(&Step::Sysctl {
            ns: "cvlab-abc123-nat1".into(),
            key: "net.ipv4.ip_forward",
            value: "1"
        }));
        let nft = steps.iter().find_map(|s| match s {
            Step::Nft { ruleset, .. } => Some(ruleset),
            _ => None,
        });
        assert!(
            nft.unwrap()
                .contains("ip saddr 192.168.1.0/24 masquerade random,fully-random")
        );
    }

    #[test]
    fn every_interface_name_fits_and_ports_are_unique_per_switch() {
        let topo = Topology::parse(Path::new("t.kdl"), TOPO).unwrap();
        let steps = plan(&topo, &LabId::parse("zz9zz9").unwrap());
        let mut ports = Vec::new();
        for s in &steps {
            if let Step::Ip(args) = s {
                assert!(args[2].len() <= 15 && args[9].len() <= 15, "{args:?}");
                ports.push(args[9].clone());
            }
        }
        let n = ports.len();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), n);
        assert_eq!(n, 4);
    }
}
