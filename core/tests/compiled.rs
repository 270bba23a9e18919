//! The compiled matcher agrees with the reference evaluator on every packet between a node and
//! its peers, over random networks, policies and packets; outside that domain it says why.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::net::IpAddr;

use common::{NetGen, addresses, cases, net_gen, network_and_alloc, test_port};
use cvlan_core::Entity;
use cvlan_core::netmap::NetMapBuilder;
use cvlan_core::policy::compiled::{CompiledPolicy, Direction, Outcome};
use cvlan_core::policy::service::service_point;
use cvlan_core::policy::{Packet, PolicyIndex};
use cvlan_schema::model::{TestPort, Verdict};
use proptest::prelude::*;

/// Points on and around the edges of the generators' routes, remote-ts and CIDR selectors.
const EDGES: [&str; 8] = [
    "10.1.0.0",
    "10.1.0.255",
    "10.2.0.0",
    "10.2.127.255",
    "10.2.128.0",
    "10.2.255.255",
    "192.168.2.127",
    "192.168.2.128",
];

type Probe = (usize, usize, TestPort);

fn case() -> impl Strategy<Value = (NetGen, Vec<Probe>)> {
    (
        net_gen(6, 12),
        prop::collection::vec((any::<usize>(), any::<usize>(), test_port()), 1..24),
    )
}

/// Checks every probe against every node and vrouter of the network.
fn check_agreement(g: &NetGen, probes: &[Probe]) -> Result<(), TestCaseError> {
    let (net, alloc) = network_and_alloc(g);
    let index = PolicyIndex::new(&net, &alloc);
    let builder = NetMapBuilder::new(&net, &alloc);
    let mut points = addresses(&net, &alloc);
    points.extend(EDGES.iter().map(|s| s.parse::<IpAddr>().unwrap()));
    let entities = (0..net.nodes.len())
        .map(Entity::Node)
        .chain((0..net.vrouters.len()).map(Entity::Vrouter));
    for entity in entities {
        let map = builder.netmap(entity);
        let compiled = CompiledPolicy::from_netmap(&map);
        let is_local = |a: IpAddr| map.node.allowed_ips.iter().any(|n| n.contains(&a));
        let is_peer = |a: IpAddr| {
            map.peers
                .iter()
                .any(|p| p.allowed_ips.iter().any(|n| n.contains(&a)))
        };
        // Anybody's space: overlay addresses, routes, remote traffic selectors.
        let is_someones = |a: IpAddr| {
            alloc.owner(a).is_some()
                || net
                    .nodes
                    .iter()
                    .any(|n| n.routes.iter().any(|r| r.value.contains(&a)))
                || net.vrouters.iter().any(|v| {
                    v.peers
                        .iter()
                        .any(|p| p.remote_ts.iter().any(|t| t.value.contains(&a)))
                })
        };
        let local: Vec<IpAddr> = points.iter().copied().filter(|&a| is_local(a)).collect();
        for &(i, j, port) in probes {
            let remote = points[j % points.len()];
            let service = service_point(port);
            if let Some(&l) = local.get(i % local.len().max(1))
                && l.is_ipv4() == remote.is_ipv4()
            {
                for (direction, src, dst) in [
                    (Direction::Outbound, l, remote),
                    (Direction::Inbound, remote, l),
                ] {
                    let outcome = compiled.decide(direction, src, dst, service);
                    let reference = index.evaluate(&Packet { src, dst, port });
                    if is_peer(remote) {
                        prop_assert_eq!(
                            compiled.decision(outcome),
                            Some(reference),
                            "{:?} {} -> {} {:?} at {}",
                            direction,
                            src,
                            dst,
                            port,
                            map.node.name
                        );
                    } else {
                        prop_assert_eq!(outcome, Outcome::NoPeer);
                        if is_someones(remote) && !is_local(remote) {
                            // Not a peer: the policy accepts nothing between them.
                            prop_assert_eq!(reference.verdict, Verdict::Reject);
                        }
                    }
                }
            }
            // A local end outside the node's space is never decided.
            let other = points[i % points.len()];
            if !is_local(remote) && other.is_ipv4() == remote.is_ipv4() {
                prop_assert_eq!(
                    compiled.decide(Direction::Outbound, remote, other, service),
                    Outcome::NotLocal
                );
                prop_assert_eq!(
                    compiled.decide(Direction::Inbound, other, remote, service),
                    Outcome::NotLocal
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(10_000)))]

    #[test]
    fn compiled_policy_agrees_with_the_reference_evaluator((g, probes) in case()) {
        check_agreement(&g, &probes)?;
    }
}
