//! Fuzzes cvland's resolver on its query path (`cvlan_agent::dns::answer`), over UDP and TCP,
//! against the zone of a small network with a domain: it never panics; a packet is either
//! dropped (malformed or oversized) or answered with a well-formed response carrying the
//! query's id, never a recursion offer, and over UDP within the size the query allows (512
//! bytes, or its EDNS payload).
#![no_main]

use std::net::IpAddr;

use cvlan_agent::dns::answer::{Transport, answer};
use cvlan_agent::dns::zone::Zone;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::netmap::netmap_for;
use cvlan_schema::model::Selector;
use hickory_proto::op::{Message, MessageType};
use hickory_proto::serialize::binary::BinDecodable;
use libfuzzer_sys::fuzz_target;

fn zone() -> Option<Zone> {
    let ip = |s: &str| s.parse::<IpAddr>().ok();
    let network = NetworkBuilder::new("corp")
        .overlay6("fd7a:115c:a1e0::/48".parse().ok()?)
        .dns_domain("corp.cvlan")
        .node(NodeSpec::new("alpha").address(ip("100.64.0.1")?))
        .node(NodeSpec::new("bravo").address(ip("100.64.0.2")?))
        .node(NodeSpec::new("charlie").address(ip("100.64.0.3")?))
        .rule(
            RuleSpec::allow("a-to-b")
                .from(Selector::Node("alpha".into()))
                .to(Selector::Node("bravo".into())),
        )
        .build();
    let map = netmap_for(&network, &cvlan_core::allocate(&network), "alpha").ok()?;
    Zone::from_netmap(&map).ok().flatten()
}

fuzz_target!(|data: &[u8]| {
    let Some(zone) = zone() else {
        return;
    };
    for transport in [Transport::Udp, Transport::Tcp] {
        let Ok(reply) = answer(&zone, data, transport) else {
            continue;
        };
        let message = Message::from_bytes(&reply.bytes).expect("a reply parses");
        assert_eq!(message.metadata.message_type, MessageType::Response);
        assert_eq!(message.metadata.response_code, reply.code);
        assert!(!message.metadata.recursion_available);
        assert_eq!(Some(&data[..2]), reply.bytes.get(..2), "the query's id");
        if transport == Transport::Udp {
            // What the query allows (its EDNS payload, never below 512), as the server reads it.
            let allowed = Message::from_bytes(data)
                .ok()
                .and_then(|q| q.edns.map(|e| e.max_payload()))
                .unwrap_or(512)
                .max(512);
            assert!(reply.bytes.len() <= usize::from(allowed));
        }
    }
});
