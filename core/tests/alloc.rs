//! Address allocation: determinism, stability under change, uniqueness, overlay bounds.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use cvlan_core::alloc::{ADDRESS_COLLISION, OVERLAY_FULL, Origin};
use cvlan_core::builder::{NetworkBuilder, NodeSpec, VrouterSpec};
use cvlan_core::{Allocation, allocate};
use cvlan_schema::model::Network;
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CVLAN_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn network(names: &[String], overlay: &str, pins: &BTreeMap<String, Ipv4Addr>) -> Network {
    let mut b = NetworkBuilder::new("t")
        .overlay(overlay.parse().unwrap())
        .overlay6("fd7a:115c:a1e0::/48".parse().unwrap());
    for n in names {
        let mut spec = NodeSpec::new(n);
        if let Some(p) = pins.get(n) {
            spec = spec.address(IpAddr::V4(*p));
        }
        b = b.node(spec);
    }
    b.build()
}

/// name → (v4, v4 probe) for every node.
fn by_name(net: &Network, alloc: &Allocation) -> BTreeMap<String, (Option<Ipv4Addr>, Option<u64>)> {
    alloc
        .entries()
        .map(|(e, a)| {
            let probe = a.v4.and_then(|x| match x.origin {
                Origin::Derived { probe } => Some(probe),
                Origin::Pinned => None,
            });
            (e.name(net).to_string(), (a.v4.map(|x| x.address), probe))
        })
        .collect()
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z][a-z0-9]{0,5}", 1..60).prop_map(|s| s.into_iter().collect())
}

/// Small overlays force collisions; the big one almost never collides.
fn overlay() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("10.9.8.0/25"),
        Just("10.9.8.0/26"),
        Just("100.64.0.0/10")
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn same_set_in_any_order_gives_the_same_addresses(
        names in names(), overlay in overlay(), seed in any::<u64>()
    ) {
        let mut shuffled = names.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let a = network(&names, overlay, &BTreeMap::new());
        let b = network(&shuffled, overlay, &BTreeMap::new());
        let (aa, ab) = (allocate(&a), allocate(&b));
        prop_assert_eq!(by_name(&a, &aa), by_name(&b, &ab));
        let msgs = |alloc: &Allocation| alloc.diagnostics().iter().map(|d| d.message.clone()).collect::<BTreeSet<_>>();
        prop_assert_eq!(msgs(&aa), msgs(&ab));
    }

    #[test]
    fn adding_a_node_moves_only_collided_nodes_or_the_one_it_displaces(
        names in names(), overlay in overlay()
    ) {
        let (newcomer, rest) = names.split_last().unwrap();
        let before_net = network(rest, overlay, &BTreeMap::new());
        let after_net = network(&names, overlay, &BTreeMap::new());
        let before = by_name(&before_net, &allocate(&before_net));
        let after = by_name(&after_net, &allocate(&after_net));
        let (new_addr, new_probe) = after[newcomer];
        for (name, (addr, probe)) in &before {
            if *probe == Some(0) && after[name].0 != *addr {
                // Only the newcomer, taking this exact slot as its own first choice, moves it.
                prop_assert_eq!(new_addr, *addr, "{} moved without a first-choice collision", name);
                prop_assert_eq!(new_probe, Some(0));
            }
        }
    }

    #[test]
    fn removing_a_node_never_moves_a_node_at_its_first_choice(
        names in names(), overlay in overlay()
    ) {
        let (gone, rest) = names.split_last().unwrap();
        let full_net = network(&names, overlay, &BTreeMap::new());
        let fewer_net = network(rest, overlay, &BTreeMap::new());
        let full = by_name(&full_net, &allocate(&full_net));
        let fewer = by_name(&fewer_net, &allocate(&fewer_net));
        for (name, (addr, probe)) in &full {
            if name != gone && *probe == Some(0) {
                prop_assert_eq!(fewer[name].0, *addr);
            }
        }
    }

    #[test]
    fn addresses_are_unique_inside_the_overlay_and_pins_are_honoured(
        names in names(), overlay in overlay(), pin_every in 2usize..6
    ) {
        let net4: Ipv4Net = overlay.parse().unwrap();
        let hosts: Vec<Ipv4Addr> = net4.hosts().collect();
        let pins: BTreeMap<String, Ipv4Addr> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % pin_every == 0)
            .map(|(i, n)| (n.clone(), hosts[(i * 7) % hosts.len()]))
            .filter(|(_, a)| !a.octets()[3].is_multiple_of(97))
            .collect();
        // Distinct pins only (duplicates are a schema error, not an allocation input).
        let mut seen = BTreeSet::new();
        let pins: BTreeMap<_, _> = pins.into_iter().filter(|(_, a)| seen.insert(*a)).collect();
        let net = network(&names, overlay, &pins);
        let alloc = allocate(&net);
        let got = by_name(&net, &alloc);
        let mut used = BTreeSet::new();
        for (name, (addr, _)) in &got {
            let addr = addr.expect("a /25 or larger has room for 60 nodes");
            prop_assert!(net4.contains(&addr));
            prop_assert!(addr != net4.network() && addr != net4.broadcast());
            prop_assert!(used.insert(addr), "{} duplicated", addr);
            if let Some(p) = pins.get(name) {
                prop_assert_eq!(addr, *p);
            }
        }
        let net6: Ipv6Net = "fd7a:115c:a1e0::/48".parse().unwrap();
        let mut used6 = BTreeSet::new();
        for (_, a) in alloc.entries() {
            let v6 = a.v6.expect("overlay6 set").address;
            prop_assert!(net6.contains(&v6) && v6 != net6.network());
            prop_assert!(used6.insert(v6));
        }
    }
}

#[test]
fn a_collision_warns_and_tells_to_pin() {
    // 2 usable addresses and 2 names: any first-choice collision must be reported.
    let names: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
    let net = network(&names, "10.0.0.0/24", &BTreeMap::new());
    let alloc = allocate(&net);
    let collided: Vec<_> = alloc
        .entries()
        .filter(|(_, a)| matches!(a.v4.unwrap().origin, Origin::Derived { probe } if probe > 0))
        .collect();
    // 40 names in 254 slots collide with probability > 95 %; this fixed set does.
    assert!(!collided.is_empty());
    let warnings: Vec<_> = alloc
        .diagnostics()
        .iter()
        .filter(|d| d.code == ADDRESS_COLLISION)
        .collect();
    assert!(warnings.len() >= collided.len());
    for (e, a) in collided {
        let name = e.name(&net);
        let w = warnings
            .iter()
            .find(|d| d.message.contains(&format!("\"{name}\"")))
            .expect("a warning names the node");
        let got = a.v4.unwrap().address.to_string();
        assert!(
            w.help
                .as_deref()
                .unwrap()
                .contains(&format!("address \"{got}\""))
        );
        assert_eq!(w.labels.len(), 2, "labels the node and the holder");
    }
}

#[test]
fn a_full_overlay_gives_errors_not_duplicates() {
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let net = network(&names, "10.0.0.0/29", &BTreeMap::new());
    let alloc = allocate(&net);
    let got = by_name(&net, &alloc);
    let placed: BTreeSet<_> = got.values().filter_map(|(a, _)| *a).collect();
    assert_eq!(placed.len(), 6, "a /29 has 6 hosts");
    let full = alloc
        .diagnostics()
        .iter()
        .filter(|d| d.code == OVERLAY_FULL)
        .count();
    assert_eq!(full, 4);
}

#[test]
fn vrouters_get_addresses_and_pins_keep_theirs() {
    let net = NetworkBuilder::new("t")
        .node(NodeSpec::new("gw"))
        .vrouter(VrouterSpec::new("gw"))
        .vrouter(VrouterSpec::new("dc1").address("100.64.0.2".parse().unwrap()))
        .build();
    let alloc = allocate(&net);
    let addrs: Vec<_> = alloc.entries().map(|(_, a)| a.v4.unwrap()).collect();
    assert_eq!(addrs[2].address, Ipv4Addr::new(100, 64, 0, 2));
    assert_eq!(addrs[2].origin, Origin::Pinned);
    // A node and a vrouter may share a name; they still get distinct addresses.
    assert_ne!(addrs[0].address, addrs[1].address);
    assert!(addrs.iter().all(|a| a.address.octets()[0] == 100));
    assert!(
        alloc.entries().all(|(_, a)| a.v6.is_none()),
        "no overlay6, no IPv6"
    );
}

#[test]
fn addresses_are_fixed_for_a_name() {
    // A regression anchor: changing the derivation would move every deployed node.
    let net = network(
        &["laptop-alice".to_string()],
        "100.64.0.0/10",
        &BTreeMap::new(),
    );
    let alloc = allocate(&net);
    let a = alloc.entries().next().unwrap().1;
    assert_eq!(a.v4.unwrap().address.to_string(), "100.71.220.2");
    assert_eq!(
        a.v6.unwrap().address.to_string(),
        "fd7a:115c:a1e0:42b6:8905:155f:b7a4:99a9"
    );
}
