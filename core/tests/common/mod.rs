//! Shared proptest strategies: small random networks that use every selector kind, and
//! random packets between their addresses.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::IpAddr;

use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec, VrouterSpec};
use cvlan_core::{Allocation, allocate};
use cvlan_schema::model::{Network, Proto, Selector, TestPort, Transport};
use ipnet::IpNet;
use proptest::prelude::*;

/// Proptest cases: modest by default, `CVLAN_PROPTEST_CASES` for a heavier run.
pub fn cases(default: u32) -> u32 {
    std::env::var("CVLAN_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub const TAGS: [&str; 3] = ["t0", "t1", "t2"];
pub const USERS: [&str; 3] = ["u0@x.example", "u1@x.example", "u2@x.example"];
pub const ROUTES: [&str; 3] = ["10.1.0.0/24", "10.2.0.0/16", "10.2.5.0/24"];
pub const REMOTE_TS: [&str; 2] = ["192.168.1.0/24", "192.168.2.0/25"];

#[derive(Debug, Clone)]
pub struct NodeGen {
    pub tags: Vec<usize>,
    pub owner: Option<usize>,
    pub route: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct RuleGen {
    pub allow: bool,
    pub from: Vec<Selector>,
    pub to: Vec<Selector>,
    pub proto: Option<Proto>,
    pub ports: Vec<(Transport, u16, u16)>,
}

#[derive(Debug, Clone)]
pub struct NetGen {
    pub nodes: Vec<NodeGen>,
    pub vrouter: bool,
    pub rules: Vec<RuleGen>,
}

fn node_gen() -> impl Strategy<Value = NodeGen> {
    (
        prop::collection::vec(0..TAGS.len(), 0..3),
        prop::option::of(0..USERS.len()),
        prop::option::weighted(0.25, 0..ROUTES.len()),
    )
        .prop_map(|(mut tags, owner, route)| {
            tags.sort_unstable();
            tags.dedup();
            NodeGen { tags, owner, route }
        })
}

pub fn selector(nodes: usize) -> impl Strategy<Value = Selector> {
    prop_oneof![
        2 => Just(Selector::Any),
        2 => (0..nodes).prop_map(|i| Selector::Node(format!("n{i}"))),
        3 => (0..TAGS.len()).prop_map(|i| Selector::Tag(TAGS[i].into())),
        1 => (0..2usize).prop_map(|i| Selector::Group(format!("g{i}"))),
        1 => (0..USERS.len()).prop_map(|i| Selector::User(USERS[i].into())),
        1 => Just(Selector::Vrouter("v0".into())),
        1 => (0..2usize).prop_map(|i| Selector::Ipsec(format!("p{i}"))),
        1 => (0..nodes).prop_map(|i| Selector::Route(format!("n{i}"))),
        1 => prop_oneof![
            Just("100.64.0.0/10"), Just("100.96.0.0/11"), Just("10.2.0.0/17"), Just("192.168.0.0/16")
        ].prop_map(|s| Selector::Prefix(s.parse().unwrap())),
    ]
}

fn ports() -> impl Strategy<Value = Vec<(Transport, u16, u16)>> {
    let item = prop_oneof![
        Just((Transport::Tcp, 22, 22)),
        Just((Transport::Both, 22, 22)),
        Just((Transport::Tcp, 80, 443)),
        Just((Transport::Udp, 1000, 2000)),
        Just((Transport::Both, 0, u16::MAX)),
        Just((Transport::Tcp, 443, 443)),
    ];
    prop::collection::vec(item, 0..3)
}

fn rule_gen(nodes: usize) -> impl Strategy<Value = RuleGen> {
    (
        any::<bool>(),
        prop::collection::vec(selector(nodes), 1..3),
        prop::collection::vec(selector(nodes), 1..3),
        prop::option::weighted(
            0.3,
            prop_oneof![
                Just(Proto::Tcp),
                Just(Proto::Udp),
                Just(Proto::Icmp),
                Just(Proto::Any)
            ],
        ),
        ports(),
    )
        .prop_map(|(allow, from, to, proto, ports)| RuleGen {
            allow,
            from,
            to,
            proto,
            ports,
        })
}

pub fn net_gen(max_nodes: usize, max_rules: usize) -> impl Strategy<Value = NetGen> {
    (1..=max_nodes).prop_flat_map(move |n| {
        (
            prop::collection::vec(node_gen(), n),
            any::<bool>(),
            prop::collection::vec(rule_gen(n), 0..=max_rules),
        )
            .prop_map(|(nodes, vrouter, rules)| NetGen {
                nodes,
                vrouter,
                rules,
            })
    })
}

pub fn rule_spec(i: usize, r: &RuleGen) -> RuleSpec {
    let name = format!("r{i}");
    let mut spec = if r.allow {
        RuleSpec::allow(&name)
    } else {
        RuleSpec::deny(&name)
    };
    for s in &r.from {
        spec = spec.from(s.clone());
    }
    for s in &r.to {
        spec = spec.to(s.clone());
    }
    if let Some(p) = r.proto {
        spec = spec.proto(p);
    }
    for &(t, a, b) in &r.ports {
        spec = spec.ports(t, a, b);
    }
    spec
}

/// The network a generator describes, plus `extra` rules appended after its own.
pub fn build(g: &NetGen, extra_nodes: &[NodeSpec]) -> Network {
    let mut b = NetworkBuilder::new("t")
        .overlay6("fd00:1::/48".parse().unwrap())
        .group("g0", [USERS[0], USERS[1]])
        .group("g1", [USERS[2]]);
    for (i, n) in g.nodes.iter().enumerate() {
        let mut spec = NodeSpec::new(&format!("n{i}"));
        for &t in &n.tags {
            spec = spec.tag(TAGS[t]);
        }
        if let Some(o) = n.owner {
            spec = spec.owner(USERS[o]);
        }
        if let Some(r) = n.route {
            spec = spec.route(ROUTES[r].parse().unwrap());
        }
        b = b.node(spec);
    }
    for spec in extra_nodes {
        b = b.node(spec.clone());
    }
    if g.vrouter {
        b = b.vrouter(
            VrouterSpec::new("v0")
                .ipsec_peer("p0", [REMOTE_TS[0].parse::<IpNet>().unwrap()])
                .ipsec_peer("p1", [REMOTE_TS[1].parse::<IpNet>().unwrap()]),
        );
    }
    for (i, r) in g.rules.iter().enumerate() {
        b = b.rule(rule_spec(i, r));
    }
    b.build()
}

/// Interesting addresses: every overlay address, a few inside routes and remote-ts, one outside.
pub fn addresses(net: &Network, alloc: &Allocation) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = alloc.entries().flat_map(|(_, a)| a.ips()).collect();
    for s in [
        "10.1.0.9",
        "10.2.5.1",
        "10.2.200.1",
        "192.168.1.7",
        "192.168.2.200",
        "8.8.8.8",
    ] {
        out.push(s.parse().unwrap());
    }
    let _ = net;
    out
}

pub fn test_port() -> impl Strategy<Value = TestPort> {
    prop_oneof![
        Just(TestPort::Tcp(22)),
        Just(TestPort::Udp(22)),
        Just(TestPort::Tcp(80)),
        Just(TestPort::Tcp(443)),
        Just(TestPort::Udp(1500)),
        Just(TestPort::Icmp),
        Just(TestPort::Tcp(9999)),
    ]
}

/// A network with its allocation.
pub fn network_and_alloc(g: &NetGen) -> (Network, Allocation) {
    let net = build(g, &[]);
    let alloc = allocate(&net);
    (net, alloc)
}
