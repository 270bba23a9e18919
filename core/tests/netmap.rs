//! Netmaps: contents, determinism, serde, and diff/apply.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{NetGen, build, cases, net_gen};
use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec, VrouterSpec};
use cvlan_core::netmap::{NetMap, NetMapBuilder, PeerKind, RuleAction, apply, diff, netmap_for};
use cvlan_schema::PublicKey;
use cvlan_schema::model::{Network, Selector, Transport};
use proptest::prelude::*;

fn map(net: &Network, node: &str) -> NetMap {
    netmap_for(net, &allocate(net), node).unwrap()
}

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

fn corp() -> Network {
    NetworkBuilder::new("corp")
        .dns_domain("corp.cvlan")
        .group("eng", ["alice@x.example"])
        .node(
            NodeSpec::new("laptop")
                .owner("alice@x.example")
                .tag("eng")
                .key(key(1))
                .endpoint("198.51.100.7:51820".parse().unwrap())
                .home_relay("fra1"),
        )
        .node(NodeSpec::new("db-1").tag("db").key(key(2)))
        .node(NodeSpec::new("db-2").tag("db").key(key(3)))
        .node(
            NodeSpec::new("router")
                .route("10.20.0.0/16".parse().unwrap())
                .key(key(4)),
        )
        .node(NodeSpec::new("lonely").key(key(5)))
        .vrouter(
            VrouterSpec::new("dc1")
                .key(key(6))
                .ipsec_peer("branch", ["192.168.17.0/24".parse().unwrap()]),
        )
        .rule(
            RuleSpec::allow("eng-db")
                .from(Selector::Group("eng".into()))
                .to(Selector::Tag("db".into()))
                .ports(Transport::Tcp, 5432, 5432),
        )
        .rule(
            RuleSpec::allow("lan")
                .from(Selector::Tag("eng".into()))
                .to(Selector::Route("router".into())),
        )
        .rule(
            RuleSpec::allow("branch")
                .from(Selector::Ipsec("branch".into()))
                .to(Selector::Tag("db".into())),
        )
        .rule(
            RuleSpec::deny("db-db")
                .from(Selector::Tag("db".into()))
                .to(Selector::Tag("db".into())),
        )
        .build()
}

#[test]
fn a_netmap_holds_what_the_node_may_see() {
    let net = corp();
    let m = map(&net, "laptop");
    assert_eq!(m.node.name, "laptop");
    assert_eq!(m.node.public_key, Some(key(1)));
    assert_eq!(m.node.home_relay.as_deref(), Some("fra1"));
    assert_eq!(m.node.endpoints[0].to_string(), "198.51.100.7:51820");
    let names: Vec<_> = m.peers.iter().map(|p| (p.name.as_str(), p.kind)).collect();
    assert_eq!(
        names,
        vec![
            ("db-1", PeerKind::Node),
            ("db-2", PeerKind::Node),
            ("router", PeerKind::Node)
        ]
    );
    let router = &m.peers[2];
    assert_eq!(router.allowed_ips.len(), 2);
    assert_eq!(router.allowed_ips[1].to_string(), "10.20.0.0/16");
    assert_eq!(m.dns_records.len(), 4);
    assert_eq!(m.dns_records[0].name, "db-1.corp.cvlan");
    // The rules that concern laptop: eng-db and lan; not branch nor db-db.
    let rules: Vec<_> = m
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.action))
        .collect();
    assert_eq!(
        rules,
        vec![("eng-db", RuleAction::Allow), ("lan", RuleAction::Allow)]
    );
    assert_eq!(m.rules[0].to.len(), 2, "the two db nodes, as /32s");

    let db = map(&net, "db-1");
    let names: Vec<_> = db.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["dc1", "laptop"], "db-db is denied both ways");
    let dc1 = &db.peers[0];
    assert_eq!(dc1.kind, PeerKind::Vrouter);
    assert!(
        dc1.allowed_ips
            .iter()
            .any(|n| n.to_string() == "192.168.17.0/24")
    );
    assert!(map(&net, "lonely").peers.is_empty());
    assert!(netmap_for(&net, &allocate(&net), "nobody").is_err());
}

#[test]
fn netmaps_survive_json() {
    let m = map(&corp(), "laptop");
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains(&key(1).to_base64()));
    let back: NetMap = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

fn reversed(g: &NetGen) -> Network {
    let mut net = build(g, &[]);
    // Same nodes in the opposite file order; selectors name nodes, not positions.
    net.nodes.reverse();
    net
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn netmaps_do_not_depend_on_file_order(g in net_gen(6, 8)) {
        let net = build(&g, &[]);
        prop_assert_eq!(map(&net, "n0"), map(&reversed(&g), "n0"));
    }

    #[test]
    fn one_builder_for_every_node_gives_each_its_own_map(g in net_gen(6, 8)) {
        // The builder shares a class's rules between its members: each map must still be
        // the one a builder for that node alone computes.
        let net = build(&g, &[]);
        let allocation = allocate(&net);
        let shared = NetMapBuilder::new(&net, &allocation);
        for node in &net.nodes {
            let name = node.name.value.as_str();
            let entity = shared.index().node(name).unwrap();
            prop_assert_eq!(shared.netmap(entity), map(&net, name), "{}", name);
        }
    }

    #[test]
    fn applying_the_diff_gives_the_new_map(a in net_gen(6, 8), b in net_gen(6, 8)) {
        let (old, new) = (map(&build(&a, &[]), "n0"), map(&build(&b, &[]), "n0"));
        let delta = diff(&old, &new);
        prop_assert_eq!(&apply(&old, &delta), &new);
        prop_assert!(diff(&new, &new).is_empty());
        prop_assert_eq!(delta.is_empty(), old == new);
        let json = serde_json::to_string(&delta).unwrap();
        prop_assert_eq!(serde_json::from_str::<cvlan_core::netmap::NetMapDelta>(&json).unwrap(), delta);
    }
}
