//! Reconciliation plans: what each change to a network file does to a node, Display, and the
//! laws (applying a plan then planning again is empty; unrelated changes touch no peer).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{build, cases, net_gen};
use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::netmap::{NetMap, netmap_for};
use cvlan_core::plan::network::{MemberChange, NetworkState, network_plan};
use cvlan_core::plan::{Action, plan};
use cvlan_schema::PublicKey;
use cvlan_schema::model::{Network, Proto, Selector};
use proptest::prelude::*;

fn map(net: &Network, node: &str) -> NetMap {
    netmap_for(net, &allocate(net), node).unwrap()
}

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

/// alpha, bravo, carol (all keyed, bravo with an endpoint), everyone pings everyone.
fn lab(edit: impl FnOnce(NetworkBuilder) -> NetworkBuilder) -> Network {
    let b = NetworkBuilder::new("lab")
        .dns_domain("lab.cvlan")
        .node(
            NodeSpec::new("alpha")
                .key(key(1))
                .address("100.64.0.1".parse().unwrap()),
        )
        .node(
            NodeSpec::new("bravo")
                .key(key(2))
                .address("100.64.0.2".parse().unwrap())
                .endpoint("198.51.100.11:51820".parse().unwrap()),
        )
        .rule(
            RuleSpec::allow("ping")
                .from(Selector::Any)
                .to(Selector::Any)
                .proto(Proto::Icmp),
        );
    edit(b).build()
}

fn carol(k: u8) -> NodeSpec {
    NodeSpec::new("carol")
        .key(key(k))
        .address("100.64.0.3".parse().unwrap())
}

#[test]
fn the_same_map_plans_nothing() {
    let net = lab(|b| b.node(carol(3)));
    let p = plan(&map(&net, "alpha"), &map(&net, "alpha"));
    assert!(p.is_empty());
    assert_eq!(p.to_string(), "no changes\n");
}

#[test]
fn a_new_node_is_one_added_peer_and_dns_record() {
    let before = map(&lab(|b| b), "alpha");
    let after = map(&lab(|b| b.node(carol(3))), "alpha");
    let p = plan(&after, &before);
    let kinds: Vec<_> = p.actions.iter().map(|a| (a.kind(), a.target())).collect();
    assert_eq!(kinds, [("peer.add", "carol"), ("dns.update", "")]);
    assert!(!p.restarts_device());
    assert!(p.changes_peers());
    let text = p.to_string();
    assert!(
        text.starts_with("+ peer carol: 100.64.0.3, key AwMDAwMD…\n"),
        "{text}"
    );
    assert!(
        text.contains("~ dns: 1 added, 0 removed, 0 changed"),
        "{text}"
    );
    assert_eq!(p.apply(&before), after);
}

#[test]
fn a_removed_node_is_a_removed_peer_with_its_key() {
    let before = map(&lab(|b| b.node(carol(3))), "alpha");
    let after = map(&lab(|b| b), "alpha");
    let p = plan(&after, &before);
    assert!(matches!(
        &p.actions[0],
        Action::RemovePeer { id, public_key: Some(k) } if id.name == "carol" && *k == key(3)
    ));
    assert!(p.to_string().starts_with("- peer carol (key AwMDAwMD…)\n"));
    assert_eq!(p.apply(&before), after);
}

#[test]
fn a_changed_key_rekeys_the_peer_and_nothing_else() {
    let before = map(&lab(|b| b.node(carol(3))), "alpha");
    let after = map(&lab(|b| b.node(carol(9))), "alpha");
    let p = plan(&after, &before);
    assert_eq!(p.actions.len(), 1, "{p}");
    assert_eq!(p.actions[0].kind(), "peer.rekey");
    assert_eq!(
        p.to_string(),
        "! peer carol: key AwMDAwMD… -> CQkJCQkJ… (new session)\n"
    );
}

#[test]
fn an_endpoint_or_route_change_updates_in_place() {
    let before = map(&lab(|b| b.node(carol(3))), "alpha");
    let after = map(
        &lab(|b| {
            b.node(
                carol(3)
                    .endpoint("192.0.2.7:51820".parse().unwrap())
                    .route("10.9.0.0/16".parse().unwrap()),
            )
        }),
        "alpha",
    );
    let p = plan(&after, &before);
    let [Action::UpdatePeer { peer, changes }] = p.actions.as_slice() else {
        panic!("one in-place update expected: {p}");
    };
    assert_eq!(peer.name, "carol");
    assert_eq!(
        changes,
        &[
            "allowed-ips +10.9.0.0/16".to_owned(),
            "endpoints - -> 192.0.2.7:51820".to_owned()
        ]
    );
    assert!(!p.restarts_device());
}

#[test]
fn a_new_address_for_this_node_restarts_the_device() {
    let before = map(&lab(|b| b.node(carol(3))), "carol");
    let moved = lab(|b| {
        b.node(
            NodeSpec::new("carol")
                .key(key(3))
                .address("100.64.0.33".parse().unwrap()),
        )
    });
    let after = map(&moved, "carol");
    let p = plan(&after, &before);
    assert!(p.restarts_device());
    assert_eq!(p.actions[0].kind(), "device.restart");
    assert!(
        p.to_string()
            .starts_with("! restart the device: addresses 100.64.0.3 -> 100.64.0.33\n"),
        "{p}"
    );
    // The other nodes see carol's new address as an in-place change of her peer entry.
    let pa = plan(
        &map(&moved, "alpha"),
        &map(&lab(|b| b.node(carol(3))), "alpha"),
    );
    assert!(!pa.restarts_device());
    assert!(pa.actions.iter().any(|a| a.kind() == "peer.update"));
}

#[test]
fn a_policy_change_that_keeps_the_peer_set_touches_no_peer() {
    let before = map(&lab(|b| b.node(carol(3))), "alpha");
    let after = map(
        &lab(|b| {
            b.node(carol(3)).rule(
                RuleSpec::allow("web")
                    .from(Selector::Any)
                    .to(Selector::Any)
                    .ports(cvlan_schema::model::Transport::Tcp, 443, 443),
            )
        }),
        "alpha",
    );
    let p = plan(&after, &before);
    assert!(!p.changes_peers(), "{p}");
    assert_eq!(p.to_string(), "~ policy: 2 rules (ping, web)\n");
}

#[test]
fn a_network_plan_lists_joins_leaves_and_updates() {
    let (a, b) = (
        lab(|b| b.node(carol(3))),
        lab(|b| b.node(NodeSpec::new("delta").key(key(4)))),
    );
    let (aa, ba) = (allocate(&a), allocate(&b));
    let p = network_plan(
        NetworkState {
            network: &b,
            allocation: &ba,
        },
        Some(NetworkState {
            network: &a,
            allocation: &aa,
        }),
    );
    let members: Vec<_> = p
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.change.as_str()))
        .collect();
    assert_eq!(
        members,
        [
            ("alpha", "update"),
            ("bravo", "update"),
            ("carol", "leave"),
            ("delta", "join")
        ]
    );
    let text = p.to_string();
    assert!(text.contains("- node carol leaves\n"), "{text}");
    assert!(text.contains("~ node alpha:\n    - peer carol"), "{text}");
    assert!(text.contains("+ node delta joins: 100."), "{text}");
    let same = network_plan(
        NetworkState {
            network: &a,
            allocation: &aa,
        },
        Some(NetworkState {
            network: &a,
            allocation: &aa,
        }),
    );
    assert!(same.is_empty());
    assert_eq!(same.to_string(), "no changes\n");
    let fresh = network_plan(
        NetworkState {
            network: &a,
            allocation: &aa,
        },
        None,
    );
    assert!(
        fresh
            .members
            .iter()
            .all(|m| matches!(m.change, MemberChange::Join(_)))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn applying_a_plan_then_planning_again_is_empty(a in net_gen(6, 8), b in net_gen(6, 8)) {
        let (old, new) = (map(&build(&a, &[]), "n0"), map(&build(&b, &[]), "n0"));
        let p = plan(&new, &old);
        let applied = p.apply(&old);
        prop_assert_eq!(&applied, &new);
        prop_assert!(plan(&new, &applied).is_empty());
        prop_assert_eq!(p.is_empty(), old == new);
    }

    #[test]
    fn peers_that_did_not_change_get_no_action(a in net_gen(6, 8), b in net_gen(6, 8)) {
        let (old, new) = (map(&build(&a, &[]), "n0"), map(&build(&b, &[]), "n0"));
        let p = plan(&new, &old);
        for action in &p.actions {
            if action.kind().starts_with("peer.") {
                let before = old.peers.iter().find(|x| x.name == action.target());
                let after = new.peers.iter().find(|x| x.name == action.target());
                prop_assert_ne!(before, after, "{} planned for an unchanged peer", action);
            }
        }
    }
}
