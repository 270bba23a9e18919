//! The policy filter inside two engines, in virtual time: allowed traffic and its replies
//! cross, denied connections get ICMP "administratively prohibited" back through the right
//! path (the local TUN when the sender denies, the tunnel when the receiver does), and that
//! answer passes the sender's filter as related to its flow.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod sim;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::netmap::netmap_for;
use cvlan_core::policy::compiled::CompiledPolicy;
use cvlan_mesh::firewall::{FilterConfig, PolicyFilter};
use cvlan_mesh::{Engine, PrivateKey};
use cvlan_schema::model::{Selector, Transport};
use sim::{Net, overlay};

/// n1 may query n2 on UDP `ports`; nothing else is allowed.
fn policy(node: &str, ports: &[u16]) -> Arc<CompiledPolicy> {
    let mut b = NetworkBuilder::new("t");
    for n in 1..=2u8 {
        b = b.node(NodeSpec::new(&format!("n{n}")).address(overlay(n)));
    }
    for &p in ports {
        b = b.rule(
            RuleSpec::allow(&format!("dns-{p}"))
                .from(Selector::Node("n1".into()))
                .to(Selector::Node("n2".into()))
                .ports(Transport::Udp, p, p),
        );
    }
    let net = b.build();
    let map = netmap_for(&net, &allocate(&net), node).unwrap();
    Arc::new(CompiledPolicy::from_netmap(&map))
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 12, 0, 0]);
    t.extend_from_slice(b"data");
    t
}

fn net(n1_ports: &[u16], n2_ports: &[u16]) -> Net<PolicyFilter> {
    let now = Instant::now();
    let engines = [(1u8, n1_ports), (2, n2_ports)]
        .into_iter()
        .map(|(i, ports)| {
            let mut filter = PolicyFilter::new(FilterConfig::default());
            filter.set_policy(policy(&format!("n{i}"), ports));
            Engine::with_filter(PrivateKey::generate(), filter, now)
        })
        .collect();
    Net::full_mesh_of(engines, now)
}

fn is_prohibited(packet: &[u8], to: IpAddr) -> bool {
    packet.len() >= 28
        && packet[9] == 1
        && (packet[20], packet[21]) == (3, 13)
        && IpAddr::from([packet[16], packet[17], packet[18], packet[19]]) == to
}

#[test]
fn allowed_queries_and_replies_cross_and_denied_ones_fail_fast() {
    let mut net = net(&[53], &[53]);
    let (o1, o2) = (overlay(1), overlay(2));
    net.send_ip(0, o1, o2, &udp(5000, 53));
    assert_eq!(net.nodes[1].received.len(), 1, "the query arrived");
    net.send_ip(1, o2, o1, &udp(53, 5000));
    assert_eq!(
        net.nodes[0].received.len(),
        1,
        "the reply rode the flow back"
    );
    // n2 may not open anything towards n1: its own filter answers on its TUN.
    net.send_ip(1, o2, o1, &udp(6000, 53));
    assert_eq!(net.nodes[1].received.len(), 2);
    assert!(is_prohibited(&net.nodes[1].received[1], o2));
    assert_eq!(net.nodes[0].received.len(), 1, "nothing reached n1");
    let hits = net.nodes[1].engine.filter_mut().hits();
    assert_eq!(hits[0].inbound.packets, 1);
    assert_eq!(hits[0].outbound.packets, 1);
    assert_eq!(hits[1].name, "default-deny");
    assert_eq!(hits[1].outbound.packets, 1);
}

#[test]
fn a_receiver_that_denies_answers_through_the_tunnel_and_the_sender_accepts_it() {
    // n1 still runs a policy allowing port 5353 that n2 has already dropped.
    let mut net = net(&[53, 5353], &[53]);
    let (o1, o2) = (overlay(1), overlay(2));
    net.send_ip(0, o1, o2, &udp(5000, 5353));
    assert!(net.nodes[1].received.is_empty(), "denied on arrival");
    assert_eq!(net.nodes[0].received.len(), 1, "the answer came back");
    assert!(is_prohibited(&net.nodes[0].received[0], o1));
    let n1 = net.nodes[0].engine.filter_mut().hits();
    assert_eq!(
        (n1[1].name.as_str(), n1[1].inbound.packets),
        ("dns-5353", 1)
    );
    let n2 = net.nodes[1].engine.filter_mut();
    assert_eq!(n2.hits()[1].inbound.packets, 1, "default-deny on n2");
    assert_eq!(n2.stats().icmp_sent, 1);
}
