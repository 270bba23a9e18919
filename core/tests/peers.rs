//! The visible-peer relation against a brute force over packets, and its class structure.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::net::IpAddr;

use common::{REMOTE_TS, ROUTES, cases, net_gen, network_and_alloc};
use cvlan_core::alloc::Entity;
use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec, VrouterSpec};
use cvlan_core::peers::VisiblePeers;
use cvlan_core::policy::{Packet, PolicyIndex};
use cvlan_schema::model::{Network, Selector, TestPort, Transport, Verdict};
use ipnet::IpNet;
use proptest::prelude::*;

/// Every CIDR the generator can put in a selector, a route or a remote-ts.
const CIDRS: [&str; 9] = [
    ROUTES[0],
    ROUTES[1],
    ROUTES[2],
    REMOTE_TS[0],
    REMOTE_TS[1],
    "100.64.0.0/10",
    "100.96.0.0/11",
    "10.2.0.0/17",
    "192.168.0.0/16",
];

/// Points of an entity's space: its addresses, and inside its routed prefixes one point on
/// each side of every CIDR edge (enough to meet every piece of constant membership).
fn points(net: &Network, index: &PolicyIndex<'_>, e: Entity) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = index.allocation().addresses(e).ips().collect();
    let routed: Vec<IpNet> = index.routed_prefixes(e).into_iter().copied().collect();
    for c in CIDRS {
        let c: IpNet = c.parse().unwrap();
        if let (IpAddr::V4(lo), IpAddr::V4(hi)) = (c.network(), c.broadcast()) {
            let (lo, hi) = (u32::from(lo), u32::from(hi));
            for p in [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)] {
                let ip = IpAddr::V4(p.into());
                if routed.iter().any(|r| r.contains(&ip)) {
                    out.push(ip);
                }
            }
        }
    }
    let _ = net;
    out
}

fn services() -> Vec<TestPort> {
    let mut out = vec![TestPort::Icmp];
    for p in [
        0, 21, 22, 23, 79, 80, 443, 444, 999, 1000, 2000, 2001, 65535,
    ] {
        out.push(TestPort::Tcp(p));
        out.push(TestPort::Udp(p));
    }
    out
}

fn brute_visible(net: &Network, index: &PolicyIndex<'_>, a: Entity, b: Entity) -> bool {
    let (pa, pb) = (points(net, index, a), points(net, index, b));
    let svc = services();
    let accepts = |src: IpAddr, dst: IpAddr| {
        src.is_ipv4() == dst.is_ipv4()
            && svc
                .iter()
                .any(|&port| index.evaluate(&Packet { src, dst, port }).verdict == Verdict::Accept)
    };
    pa.iter()
        .any(|&x| pb.iter().any(|&y| accepts(x, y) || accepts(y, x)))
}

fn entities(net: &Network) -> Vec<Entity> {
    (0..net.nodes.len())
        .map(Entity::Node)
        .chain((0..net.vrouters.len()).map(Entity::Vrouter))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn visibility_agrees_with_brute_force(g in net_gen(5, 8)) {
        let (net, alloc) = network_and_alloc(&g);
        let index = PolicyIndex::new(&net, &alloc);
        let vp = VisiblePeers::new(&index);
        let all = entities(&net);
        for &a in &all {
            let peers = vp.peers_of(a);
            for &b in &all {
                if a == b {
                    prop_assert!(!peers.contains(&b));
                    continue;
                }
                let expected = brute_visible(&net, &index, a, b);
                prop_assert_eq!(vp.is_visible(a, b), expected, "{:?} {:?}", a, b);
                prop_assert_eq!(peers.contains(&b), expected, "{:?} {:?}", a, b);
            }
        }
    }
}

fn tag(t: &str) -> Selector {
    Selector::Tag(t.into())
}

#[test]
fn identical_nodes_share_a_class_so_work_is_per_class() {
    let mut b = NetworkBuilder::new("t");
    for i in 0..3000 {
        b = b.node(NodeSpec::new(&format!("n{i}")).tag(["web", "db", "ops"][i % 3]));
    }
    let net = b
        .rule(
            RuleSpec::allow("web-db")
                .from(tag("web"))
                .to(tag("db"))
                .ports(Transport::Tcp, 5432, 5432),
        )
        .rule(
            RuleSpec::allow("ops")
                .from(tag("ops"))
                .to(Selector::Any)
                .ports(Transport::Tcp, 22, 22),
        )
        .build();
    let alloc = allocate(&net);
    let index = PolicyIndex::new(&net, &alloc);
    let vp = VisiblePeers::new(&index);
    assert_eq!(vp.class_count(), 3);
    let web = vp.class_of(Entity::Node(0));
    let db = vp.class_of(Entity::Node(1));
    let ops = vp.class_of(Entity::Node(2));
    assert_eq!(vp.visible_classes(web), {
        let mut v = vec![db, ops];
        v.sort_unstable();
        v
    });
    // ops may ssh to ops, so ops nodes see each other; web nodes do not.
    assert!(vp.visible_classes(ops).contains(&ops));
    assert_eq!(vp.peers_of(Entity::Node(0)).len(), 2000);
    assert_eq!(vp.peers_of(Entity::Node(2)).len(), 2999);
}

#[test]
fn earlier_denies_remove_pairs() {
    let net = NetworkBuilder::new("t")
        .node(NodeSpec::new("a1").tag("a"))
        .node(NodeSpec::new("a2").tag("a"))
        .node(NodeSpec::new("b1").tag("b"))
        .rule(RuleSpec::deny("a-b").from(tag("a")).to(tag("b")))
        .rule(RuleSpec::deny("b-a").from(tag("b")).to(tag("a")))
        .rule(RuleSpec::allow("all").from(Selector::Any).to(Selector::Any))
        .build();
    let alloc = allocate(&net);
    let index = PolicyIndex::new(&net, &alloc);
    let vp = VisiblePeers::new(&index);
    assert_eq!(vp.peers_of(Entity::Node(0)), vec![Entity::Node(1)]);
    assert_eq!(vp.peers_of(Entity::Node(2)), vec![]);
}

#[test]
fn subnet_routers_and_vrouters_are_seen_through_what_they_carry() {
    let net = NetworkBuilder::new("t")
        .node(NodeSpec::new("laptop").tag("eng"))
        .node(NodeSpec::new("router").route("10.20.0.0/16".parse().unwrap()))
        .node(NodeSpec::new("other"))
        .vrouter(VrouterSpec::new("dc1").ipsec_peer("branch", ["192.168.17.0/24".parse().unwrap()]))
        .rule(
            RuleSpec::allow("dns")
                .from(tag("eng"))
                .to(Selector::Prefix("10.20.5.0/24".parse().unwrap()))
                .ports(Transport::Both, 53, 53),
        )
        .rule(
            RuleSpec::allow("branch")
                .from(Selector::Ipsec("branch".into()))
                .to(tag("eng"))
                .ports(Transport::Tcp, 80, 80),
        )
        .build();
    let alloc = allocate(&net);
    let index = PolicyIndex::new(&net, &alloc);
    let vp = VisiblePeers::new(&index);
    assert_eq!(
        vp.peers_of(Entity::Node(0)),
        vec![Entity::Node(1), Entity::Vrouter(0)]
    );
    assert_eq!(vp.peers_of(Entity::Node(1)), vec![Entity::Node(0)]);
    assert_eq!(vp.peers_of(Entity::Vrouter(0)), vec![Entity::Node(0)]);
    assert_eq!(vp.peers_of(Entity::Node(2)), vec![]);
    // The rules that concern the router with its peers: only "dns".
    let router = vp.class_of(Entity::Node(1));
    let peer_classes: Vec<_> = vp.visible_classes(router);
    assert_eq!(vp.rules_between(router, &peer_classes), vec![0]);
}
