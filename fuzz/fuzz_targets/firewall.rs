//! The stateful policy filter: a sequence of packets (each `direction byte, u16 length,
//! bytes`, time advancing) through a filter with a real policy never panics, and every packet
//! that parses as IP is counted exactly once (a rule's or default-deny's hit, or a drop).
//! A second filter whose policy allows nothing never accepts anything.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::netmap::netmap_for;
use cvlan_core::policy::compiled::{CompiledPolicy, Direction};
use cvlan_mesh::firewall::{FilterConfig, PolicyFilter};
use cvlan_mesh::{IpPacket, Verdict};
use cvlan_schema::model::{Selector, Transport};
use libfuzzer_sys::fuzz_target;

fn filter(with_rules: bool) -> PolicyFilter {
    let pinned = |n: &str, a: &str| NodeSpec::new(n).address(a.parse().expect("address"));
    let mut b = NetworkBuilder::new("fuzz")
        .overlay6("fd00:1::/48".parse().expect("cidr"))
        .node(pinned("a", "100.64.0.1").tag("eng"))
        .node(pinned("b", "100.64.0.2").route("10.9.0.0/16".parse().expect("cidr")));
    if with_rules {
        b = b
            .rule(
                RuleSpec::allow("web")
                    .from(Selector::Tag("eng".into()))
                    .to(Selector::Node("b".into()))
                    .ports(Transport::Both, 0, 1024),
            )
            .rule(
                RuleSpec::allow("any")
                    .from(Selector::Any)
                    .to(Selector::Route("b".into())),
            );
    }
    let net = b.build();
    let map = netmap_for(&net, &allocate(&net), "b").expect("node b");
    let mut f = PolicyFilter::new(FilterConfig {
        max_flows: 8,
        ..FilterConfig::default()
    });
    f.set_policy(Arc::new(CompiledPolicy::from_netmap(&map)));
    f
}

fn counted(f: &PolicyFilter) -> u64 {
    let hits: u64 = f
        .hits()
        .iter()
        .map(|h| h.inbound.packets + h.outbound.packets)
        .sum();
    let d = f.stats().drops;
    hits + d.malformed + d.fragments + d.not_local + d.no_peer + d.table_full
}

fuzz_target!(|data: &[u8]| {
    let (mut f, mut deny_all) = (filter(true), filter(false));
    let mut now = Instant::now();
    let mut seen = 0u64;
    let mut rest = data;
    while rest.len() >= 3 {
        let direction = if rest[0] & 1 == 0 {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        now += Duration::from_millis(u64::from(rest.first().copied().unwrap_or(0)) * 100);
        let Ok(ip) = IpPacket::parse(bytes) else {
            continue;
        };
        seen += 1;
        let _ = f.check(now, direction, &ip);
        assert_ne!(deny_all.check(now, direction, &ip), Verdict::Accept);
    }
    assert_eq!(counted(&f), seen);
    assert_eq!(counted(&deny_all), seen);
});
