//! Simulation tests of the engine: virtual time, an in-memory network of 2–3 engines.

mod sim;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cvlan_mesh::{
    DropReason, Engine, Event, IpPacket, PacketFilter, PeerConfig, PeerSetError, PrivateKey,
    PublicKey, Verdict,
};
use ipnet::IpNet;
use sim::{Net, addr, ip_packet, overlay, payload};

#[test]
fn handshake_then_data_both_ways() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"hello");
    assert_eq!(
        net.nodes[1].received.len(),
        1,
        "queued packet delivered after handshake"
    );
    assert_eq!(payload(&net.nodes[1].received[0]), b"hello");
    net.ping(1, 0, b"back");
    assert_eq!(payload(&net.nodes[0].received[0]), b"back");

    let a_on_b = net.stats(1, 0);
    let b_on_a = net.stats(0, 1);
    assert_eq!((b_on_a.handshakes, a_on_b.handshakes), (1, 1));
    assert_eq!(b_on_a.handshake_attempts, 1);
    assert_eq!((b_on_a.tx_packets, b_on_a.rx_packets), (1, 1));
    assert_eq!((a_on_b.tx_packets, a_on_b.rx_packets), (1, 1));
    assert!(b_on_a.tx_bytes > 148 && a_on_b.rx_bytes == b_on_a.tx_bytes);
    assert_eq!(b_on_a.last_handshake, Some(net.now));
    assert!(
        b_on_a.handshake_rtt.is_some(),
        "initiator measured the handshake"
    );
    assert_eq!(a_on_b.handshake_rtt, None, "responder did not");
    assert!(net.nodes[0].events.iter().any(|e| matches!(e,
        Event::HandshakeCompleted { peer, endpoint } if *peer == net.nodes[1].key() && *endpoint == addr(2))));
    assert!(
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::HandshakeCompleted { .. }))
    );
}

#[test]
fn ipv6_overlay_and_longest_prefix_routing() {
    let mut net = Net::full_mesh(3);
    // Node 1 also routes fd00::/64 and 10.0.0.0/8; node 2 owns the more specific 10.1.0.0/16.
    let mut peers = vec![net.nodes[1].as_peer(), net.nodes[2].as_peer()];
    peers[0].allowed_ips.extend([
        "fd00::/64".parse::<IpNet>().unwrap(),
        "10.0.0.0/8".parse().unwrap(),
    ]);
    peers[1].allowed_ips.push("10.1.0.0/16".parse().unwrap());
    net.nodes[0].engine.set_peers(peers).unwrap();
    let src: IpAddr = "100.64.0.1".parse().unwrap();
    net.send_ip(0, src, "10.1.2.3".parse().unwrap(), b"to-c");
    net.send_ip(0, src, "10.2.2.3".parse().unwrap(), b"to-b");
    assert_eq!(payload(&net.nodes[2].received[0]), b"to-c");
    assert_eq!(payload(&net.nodes[1].received[0]), b"to-b");
    // Node 1 accepts node 0's IPv6 source prefix.
    let mut a = net.nodes[0].as_peer();
    a.allowed_ips.push("fd01::/64".parse().unwrap());
    let c = net.nodes[2].as_peer();
    net.nodes[1].engine.set_peers(vec![a, c]).unwrap();
    net.send_ip(
        0,
        "fd01::1".parse().unwrap(),
        "fd00::9".parse().unwrap(),
        b"six",
    );
    assert_eq!(payload(&net.nodes[1].received[1]), b"six");
    net.send_ip(0, src, "203.0.113.1".parse().unwrap(), b"nowhere");
    assert_eq!(
        net.nodes[0].engine.stats().drops.get(DropReason::NoRoute),
        1
    );
}

#[test]
fn inbound_source_must_be_in_the_senders_allowed_ips() {
    let mut net = Net::full_mesh(3);
    net.ping(0, 1, b"warm-up");
    // Node 0 routes 10.9.0.0/16 to node 1, but node 1 does not allow node 0 to send from there:
    // a spoofed inner source (node 2's overlay address) must be dropped and counted.
    let mut peers = vec![net.nodes[1].as_peer(), net.nodes[2].as_peer()];
    peers[0].allowed_ips.push("10.9.0.0/16".parse().unwrap());
    net.nodes[0].engine.set_peers(peers).unwrap();
    net.send_ip(0, overlay(3), overlay(2), b"spoofed");
    net.send_ip(0, "10.9.0.1".parse().unwrap(), overlay(2), b"not yours");
    assert_eq!(net.nodes[1].received.len(), 1);
    let drops = net.nodes[1].engine.stats().drops;
    assert_eq!(drops.get(DropReason::NotAllowedSource), 2);
    assert_eq!(net.stats(1, 0).rx_dropped, 2, "counted on the sending peer");
    assert_eq!(
        net.stats(1, 2).rx_dropped,
        0,
        "not on the peer it pretended to be"
    );
    assert!(net.nodes[1].events.iter().any(|e| matches!(e,
        Event::PacketDropped { reason: DropReason::NotAllowedSource, peer: Some(p) } if *p == net.nodes[0].key())));
}

/// Node 1 restarts (same key, no sessions) while node 0 still holds a session with its
/// previous run, and peers come back in `order`. Node 0's next packet cannot be decrypted;
/// node 1 answers it with a handshake, so the packet after it arrives with no timer run
/// (without that, node 0 would keep sending into the void until its ~15 s rekey timeout).
fn restarted_node_is_reached_again(nodes: u8, order: &[usize]) {
    let keys: Vec<PrivateKey> = (0..nodes).map(|_| PrivateKey::generate()).collect();
    let mut net = Net::full_mesh_with(&keys);
    net.ping(0, 1, b"before");
    assert_eq!(net.nodes[1].received.len(), 1);
    net.restart(1, &keys[1], order);
    net.ping(0, 1, b"stale");
    assert!(
        net.nodes[1].received.is_empty(),
        "a packet on the old session cannot be read"
    );
    net.ping(0, 1, b"after");
    let got: Vec<&[u8]> = net.nodes[1].received.iter().map(|p| payload(p)).collect();
    assert_eq!(got, [b"after".as_slice()]);
    assert_eq!(net.stats(1, 0).handshakes, 1, "one new handshake");
    net.ping(1, 0, b"back");
    assert_eq!(
        payload(net.nodes[0].received.last().expect("a reply")),
        b"back"
    );
}

#[test]
fn a_restarted_node_is_reached_again_at_once() {
    restarted_node_is_reached_again(2, &[0]);
}

#[test]
fn a_restarted_node_finds_the_stale_sender_by_endpoint() {
    // Peers in another order: the stale session index names node 2's slot, not node 0's.
    restarted_node_is_reached_again(3, &[2, 0]);
}

#[test]
fn a_stale_looking_packet_from_a_stranger_starts_nothing() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"warm-up");
    let before = net.captured.len();
    let mut data = vec![4u8, 0, 0, 0];
    data.extend_from_slice(&0x0100u32.to_le_bytes());
    data.extend_from_slice(&[0; 40]);
    net.inject(addr(9), 1, &data);
    assert_eq!(
        net.captured.len(),
        before + 1,
        "only the injected datagram: no handshake to anyone"
    );
}

#[test]
fn endpoint_follows_authenticated_packets() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"one");
    let moved = SocketAddr::from(([198, 51, 100, 9], 40000));
    net.nodes[0].addr = moved;
    net.ping(0, 1, b"two");
    assert_eq!(net.stats(1, 0).endpoint, Some(moved));
    assert!(net.nodes[1].events.iter().any(|e| matches!(e,
        Event::EndpointChanged { old: Some(o), new, .. } if *o == addr(1) && *new == moved)));
    net.ping(1, 0, b"reply to the new place");
    assert_eq!(
        payload(&net.nodes[0].received[0]),
        b"reply to the new place"
    );
    // An unauthenticated datagram from elsewhere does not move it.
    net.inject(
        addr(77),
        1,
        &[
            4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
            22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        ],
    );
    assert_eq!(net.stats(1, 0).endpoint, Some(moved));
}

#[test]
fn set_peers_changes_only_what_differs() {
    let mut net = Net::full_mesh(3);
    net.ping(0, 1, b"b");
    net.ping(0, 2, b"c");
    let before_b = net.stats(0, 1);
    let before_c = net.stats(0, 2);
    let before_on_b = net.stats(1, 0);

    // Same set again: nothing happens.
    let same = vec![net.nodes[1].as_peer(), net.nodes[2].as_peer()];
    assert!(net.nodes[0].engine.set_peers(same).unwrap().is_empty());

    // Change C's allowed IPs and keepalive, add D: B must not notice, C keeps its session.
    let d = PrivateKey::generate().public_key();
    let mut c = net.nodes[2].as_peer();
    c.allowed_ips.push("10.3.0.0/16".parse().unwrap());
    let desired = vec![
        net.nodes[1].as_peer(),
        c.with_keepalive(25),
        PeerConfig::new(d, ["100.64.0.4/32".parse().unwrap()]),
    ];
    let changes = net.nodes[0].engine.set_peers(desired).unwrap();
    assert_eq!(changes.added, vec![d]);
    assert_eq!(changes.updated, vec![net.nodes[2].key()]);
    assert!(changes.removed.is_empty() && changes.rekeyed.is_empty());
    assert_eq!(
        changes.to_string(),
        "1 added, 0 removed, 1 updated, 0 rekeyed"
    );

    net.ping(0, 1, b"b again");
    net.send_ip(0, overlay(1), "10.3.1.1".parse().unwrap(), b"c subnet");
    let after_b = net.stats(0, 1);
    let after_c = net.stats(0, 2);
    assert_eq!(after_b.handshakes, before_b.handshakes);
    assert_eq!(after_b.handshake_attempts, before_b.handshake_attempts);
    assert_eq!(after_b.last_handshake, before_b.last_handshake);
    assert_eq!(after_c.handshakes, before_c.handshakes);
    assert_eq!(after_c.handshake_attempts, before_c.handshake_attempts);
    assert_eq!(after_c.persistent_keepalive, Some(25));
    assert_eq!(net.stats(1, 0).handshakes, before_on_b.handshakes);
    assert_eq!(payload(net.nodes[1].received.last().unwrap()), b"b again");
    assert_eq!(payload(net.nodes[2].received.last().unwrap()), b"c subnet");

    // Removing C leaves B alone and stops routing to C.
    let b = net.nodes[1].as_peer();
    let changes = net.nodes[0].engine.set_peers(vec![b]).unwrap();
    assert_eq!(changes.removed.len(), 2);
    net.ping(0, 2, b"gone");
    assert_eq!(
        net.nodes[0].engine.stats().drops.get(DropReason::NoRoute),
        1
    );
    net.ping(0, 1, b"still here");
    assert_eq!(net.stats(0, 1).handshakes, before_b.handshakes);
}

#[test]
fn a_peer_set_applied_in_parts_carries_traffic_between_them_and_ends_as_one_call_would() {
    let mut net = Net::full_mesh(3);
    net.ping(0, 1, b"before");
    let extra: Vec<PeerConfig> = (0..3u8)
        .map(|i| {
            let key = PrivateKey::generate().public_key();
            PeerConfig::new(key, [format!("100.64.9.{i}/32").parse().unwrap()])
        })
        .collect();
    let mut desired = vec![net.nodes[1].as_peer()];
    desired.extend(extra.iter().cloned());
    let keys: Vec<PublicKey> = desired.iter().map(|p| p.public_key).collect();

    // Node 2 leaves the set as the set begins; node 1 keeps working between the parts.
    let mut job = net.nodes[0].engine.begin_peer_set(&keys).unwrap();
    net.nodes[0]
        .engine
        .upsert_peers(&mut job, desired[..2].to_vec());
    net.ping(0, 1, b"between parts");
    assert_eq!(
        payload(net.nodes[1].received.last().unwrap()),
        b"between parts"
    );
    net.nodes[0]
        .engine
        .upsert_peers(&mut job, desired[2..].to_vec());
    let changes = net.nodes[0].engine.finish_peer_set(job);
    assert_eq!(changes.removed, vec![net.nodes[2].key()]);
    assert_eq!(
        changes.added,
        extra.iter().map(|p| p.public_key).collect::<Vec<_>>()
    );
    assert!(changes.updated.is_empty() && changes.rekeyed.is_empty());

    // The same set in one call now changes nothing: the parts made exactly that set.
    assert!(net.nodes[0].engine.set_peers(desired).unwrap().is_empty());
    assert_eq!(net.nodes[0].engine.stats().peers, 4);
    net.ping(0, 1, b"after");
    assert_eq!(payload(net.nodes[1].received.last().unwrap()), b"after");
}

#[test]
fn a_peer_set_with_a_bad_key_is_refused_before_any_part() {
    let mut net = Net::full_mesh(2);
    let own = net.nodes[0].key();
    let b = net.nodes[1].key();
    let err = net.nodes[0].engine.begin_peer_set(&[b, own]).unwrap_err();
    assert_eq!(err, PeerSetError::OwnKey(own));
    assert_eq!(
        net.nodes[0].engine.stats().peers,
        1,
        "the running set is untouched"
    );
}

#[test]
fn invalid_peer_sets_are_refused_and_change_nothing() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"x");
    let own = PeerConfig::new(net.nodes[0].key(), []);
    let err = net.nodes[0].engine.set_peers(vec![own]).unwrap_err();
    assert!(matches!(err, PeerSetError::OwnKey(_)));
    let b = net.nodes[1].as_peer();
    let err = net.nodes[0]
        .engine
        .set_peers(vec![b.clone(), b])
        .unwrap_err();
    assert!(matches!(err, PeerSetError::DuplicateKey(_)));
    assert_eq!(net.nodes[0].engine.stats().peers, 1);
    net.ping(0, 1, b"y");
    assert_eq!(net.nodes[1].received.len(), 2);
    assert_eq!(net.stats(0, 1).handshakes, 1);
}

#[test]
fn a_changed_key_is_a_new_peer_and_handshakes_again() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"old key");
    let old = net.nodes[1].key();
    net.nodes[1].engine.set_private_key(PrivateKey::generate());
    let new = net.nodes[1].key();
    assert_ne!(old, new);
    let b = net.nodes[1].as_peer();
    let changes = net.nodes[0].engine.set_peers(vec![b]).unwrap();
    assert_eq!((changes.added, changes.removed), (vec![new], vec![old]));
    net.ping(0, 1, b"new key");
    assert_eq!(payload(net.nodes[1].received.last().unwrap()), b"new key");
    assert_eq!(net.stats(0, 1).handshakes, 1);
    assert_eq!(net.nodes[0].engine.peer_stats(&old), None);
}

#[test]
fn garbage_truncated_and_replayed_datagrams_are_counted_and_harmless() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"first");
    let init = net
        .captured
        .iter()
        .find(|(_, _, b)| b[0] == 1)
        .unwrap()
        .2
        .clone();
    let data = net
        .captured
        .iter()
        .rev()
        .find(|(_, _, b)| b[0] == 4 && b.len() > 32)
        .unwrap()
        .2
        .clone();
    let stranger = SocketAddr::from(([203, 0, 113, 5], 999));

    net.inject(stranger, 1, b"");
    net.inject(stranger, 1, b"garbage that is not wireguard");
    net.inject(stranger, 1, &init[..100]);
    let mut bad_mac = init.clone();
    bad_mac[120] ^= 1;
    net.inject(stranger, 1, &bad_mac);
    net.inject(addr(1), 1, &init); // replayed initiation: old timestamp
    net.inject(addr(1), 1, &data); // replayed data: duplicate counter
    let mut forged = data.clone();
    forged[8..16].copy_from_slice(&1000u64.to_le_bytes()); // fresh counter, wrong tag
    forged[20] ^= 0xff;
    net.inject(addr(1), 1, &forged);
    let mut other_index = data.clone();
    other_index[4..8].copy_from_slice(&0x7777_7700u32.to_le_bytes());
    net.inject(stranger, 1, &other_index);

    let drops = net.nodes[1].engine.stats().drops;
    assert_eq!(drops.get(DropReason::BadPacket), 5, "{drops:?}");
    assert_eq!(drops.get(DropReason::Replay), 2, "{drops:?}");
    assert_eq!(drops.get(DropReason::UnknownPeer), 1, "{drops:?}");
    assert_eq!(net.nodes[1].received.len(), 1);
    assert_eq!(
        net.stats(1, 0).endpoint,
        Some(addr(1)),
        "no roaming to the stranger"
    );

    net.ping(0, 1, b"still fine");
    net.ping(1, 0, b"both ways");
    assert_eq!(
        payload(net.nodes[1].received.last().unwrap()),
        b"still fine"
    );
    assert_eq!(payload(net.nodes[0].received.last().unwrap()), b"both ways");
    assert_eq!(net.stats(0, 1).handshakes, 1);
}

#[test]
fn a_flood_of_initiations_gets_cookies_and_established_peers_keep_working() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"established");
    let target = net.nodes[1].as_peer();
    let mut flood = Vec::new();
    for i in 0..400u32 {
        // Strangers who know node 1's public key: valid MAC1, unknown static key.
        let mut e = Engine::new(PrivateKey::generate(), net.now);
        e.set_peers(vec![target.clone()]).unwrap();
        e.handle_tun_packet(net.now, &ip_packet(overlay(9), overlay(2), b"x"));
        let mut buf = Vec::new();
        e.poll_transmit(&mut buf, 1).unwrap();
        let from = SocketAddr::from(([203, 0, 113, (i % 250) as u8], 1000 + i as u16));
        flood.push((from, buf));
    }
    let now = net.now;
    let mut cookies = 0;
    for (from, init) in &flood {
        net.nodes[1].engine.handle_datagram(now, *from, init);
        let mut buf = Vec::new();
        while let Some(t) = net.nodes[1].engine.poll_transmit(&mut buf, 1) {
            assert_eq!(t.destination, *from);
            assert_eq!(buf[0], 3, "only cookie replies go to strangers");
            cookies += 1;
            buf.clear();
        }
        // Data between the established peers flows in the middle of the flood.
        net.ping(0, 1, b"during");
    }
    let drops = net.nodes[1].engine.stats().drops;
    assert!(
        drops.get(DropReason::RateLimited) > 0 && cookies > 0,
        "{drops:?}"
    );
    assert_eq!(drops.get(DropReason::RateLimited), cookies);
    assert_eq!(
        drops.get(DropReason::UnknownPeer) + drops.get(DropReason::RateLimited),
        400
    );
    assert_eq!(net.nodes[1].received.len(), 401);
    assert_eq!(net.stats(0, 1).handshakes, 1);
    assert!(net.nodes[1].engine.stats().events_lost == 0);
}

/// Drops UDP to port 9 outbound, rejects inbound packets whose payload starts with "deny",
/// counting what it saw.
#[derive(Default)]
struct TestFilter {
    seen_out: usize,
    seen_in: usize,
}

impl PacketFilter for TestFilter {
    fn outbound(&mut self, _: Instant, _: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        self.seen_out += 1;
        if packet.transport().starts_with(b"drop") {
            Verdict::Drop
        } else if packet.transport().starts_with(b"unreachable") {
            Verdict::Reject(ip_packet(packet.dst(), packet.src(), b"icmp-ish"))
        } else {
            Verdict::Accept
        }
    }

    fn inbound(&mut self, _: Instant, _: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        self.seen_in += 1;
        if packet.transport().starts_with(b"deny") {
            Verdict::Reject(ip_packet(packet.dst(), packet.src(), b"prohibited"))
        } else {
            Verdict::Accept
        }
    }
}

#[test]
fn the_filter_sees_both_directions_and_can_drop_or_reject() {
    let now = Instant::now();
    let engines = (0..2)
        .map(|_| Engine::with_filter(PrivateKey::generate(), TestFilter::default(), now))
        .collect();
    let mut net = Net::full_mesh_of(engines, now);
    net.ping(0, 1, b"ok");
    net.ping(0, 1, b"drop me");
    net.ping(0, 1, b"unreachable dest");
    net.ping(0, 1, b"deny me");
    // Outbound drop: nothing sent. Outbound reject: the reply goes to node 0's own TUN.
    assert_eq!(net.nodes[0].received.len(), 2);
    assert_eq!(payload(&net.nodes[0].received[0]), b"icmp-ish");
    // Inbound reject: the reply travels back through the tunnel to node 0.
    assert_eq!(payload(&net.nodes[0].received[1]), b"prohibited");
    assert_eq!(net.nodes[1].received.len(), 1);
    assert_eq!(net.nodes[0].engine.stats().drops.get(DropReason::Filter), 2);
    assert_eq!(net.nodes[1].engine.stats().drops.get(DropReason::Filter), 1);
    assert_eq!(net.nodes[0].engine.filter_mut().seen_out, 4);
    assert_eq!(net.nodes[1].engine.filter_mut().seen_in, 2);
}

#[test]
fn persistent_keepalive_runs_on_virtual_time() {
    let mut net = Net::full_mesh(2);
    let b = net.nodes[1].as_peer().with_keepalive(5);
    net.nodes[0].engine.set_peers(vec![b]).unwrap();
    // The first tick handshakes on its own (keepalive with no session), with no traffic.
    net.advance(Duration::from_millis(250));
    assert_eq!(net.stats(0, 1).handshakes, 1);
    let rx = net.stats(1, 0).rx_bytes;
    net.advance(Duration::from_secs(4));
    assert_eq!(net.stats(1, 0).rx_bytes, rx, "not due yet");
    net.advance(Duration::from_secs(1));
    assert_eq!(net.stats(1, 0).rx_bytes, rx + 32, "one keepalive after 5 s");
    net.advance(Duration::from_secs(10));
    assert_eq!(net.stats(1, 0).rx_bytes, rx + 3 * 32);
    assert_eq!(
        net.nodes[1].received.len(),
        0,
        "keepalives never reach the TUN"
    );
}

#[test]
fn packets_without_an_endpoint_are_counted() {
    let now = Instant::now();
    let mut e = Engine::new(PrivateKey::generate(), now);
    let peer = PrivateKey::generate().public_key();
    e.set_peers(vec![PeerConfig::new(
        peer,
        ["100.64.0.2/32".parse().unwrap()],
    )])
    .unwrap();
    e.handle_tun_packet(now, &ip_packet(overlay(1), overlay(2), b"x"));
    e.handle_tun_packet(now, b"\x45 not an ip packet");
    let drops = e.stats().drops;
    assert_eq!(drops.get(DropReason::NoEndpoint), 1);
    assert_eq!(drops.get(DropReason::BadPacket), 1);
    assert!(e.poll_transmit(&mut Vec::new(), 1).is_none());
    assert!(
        matches!(e.poll_event(), Some(Event::PacketDropped { reason: DropReason::NoEndpoint, peer: Some(p) }) if p == peer)
    );
}

#[test]
fn a_hundred_thousand_peers_route_and_update_without_disturbing_each_other() {
    let now = Instant::now();
    let mut e = Engine::new(PrivateKey::generate(), now);
    let peer = |i: u32| {
        let key = PublicKey(synthetic_key(i));
        let addr = std::net::Ipv4Addr::from(0x6440_0000 + i);
        PeerConfig::new(key, [IpNet::from(IpAddr::V4(addr))]).with_endpoint(SocketAddr::from((
            [198, 18, (i >> 8) as u8, i as u8],
            51820,
        )))
    };
    let all: Vec<PeerConfig> = (1..=100_000).map(peer).collect();
    assert_eq!(e.set_peers(all.clone()).unwrap().added.len(), 100_000);
    assert_eq!(e.stats().routes, 100_000);

    let target = std::net::Ipv4Addr::from(0x6440_0000 + 77_777);
    e.handle_tun_packet(now, &ip_packet(overlay(1), target.into(), b"x"));
    let mut buf = Vec::new();
    let t = e
        .poll_transmit(&mut buf, 1)
        .expect("a handshake initiation");
    assert_eq!(
        t.destination,
        SocketAddr::from(([198, 18, 0x2f, 0xd1], 51820))
    );
    assert_eq!(buf[0], 1);

    // Touch one peer's allowed IPs: one update, the other 99,999 untouched.
    let mut changed = all;
    changed[5].allowed_ips.push("10.5.0.0/16".parse().unwrap());
    let changes = e.set_peers(changed).unwrap();
    assert_eq!(
        (
            changes.updated.len(),
            changes.added.len(),
            changes.removed.len()
        ),
        (1, 0, 0)
    );
    assert_eq!(
        e.peer_stats(&PublicKey(synthetic_key(77_777)))
            .unwrap()
            .handshake_attempts,
        1
    );
}

/// A distinct, deterministic 32-byte key for synthetic peer `i`.
fn synthetic_key(i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k[31] = 0x42;
    k
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Random bytes, and valid messages with bytes flipped or cut, never panic the engine,
    /// are all counted as drops, and leave the established session working.
    #[test]
    fn random_and_mutated_datagrams_are_dropped_and_counted(
        garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        flips in proptest::collection::vec((0usize..200, 1u8..=255), 1..6),
        cut in 0usize..200,
    ) {
        let mut net = Net::full_mesh(2);
        net.ping(0, 1, b"setup");
        let before = net.nodes[1].engine.stats().drops.total();
        let valid: Vec<Vec<u8>> = net.captured.iter().filter(|(_, to, _)| *to == addr(2)).map(|(_, _, b)| b.clone()).collect();
        let stranger = SocketAddr::from(([203, 0, 113, 9], 4444));
        net.inject(stranger, 1, &garbage);
        let mut sent = 1;
        for message in &valid {
            let mut mutated = message.clone();
            for (at, x) in &flips {
                let at = at % mutated.len();
                mutated[at] ^= x;
            }
            net.inject(stranger, 1, &mutated);
            net.inject(stranger, 1, &message[..cut.min(message.len() - 1)]);
            sent += 2;
        }
        let drops = net.nodes[1].engine.stats().drops.total() - before;
        proptest::prop_assert!(drops >= sent, "{drops} drops for {sent} bad datagrams");
        proptest::prop_assert_eq!(net.nodes[1].received.len(), 1);
        net.ping(0, 1, b"after");
        proptest::prop_assert_eq!(payload(net.nodes[1].received.last().unwrap()), b"after");
    }
}

/// boringtun runs WireGuard's own timers on its real clock; the engine must pass what they
/// produce on. Real time (5 s REKEY_TIMEOUT), so this test sleeps.
#[test]
fn unanswered_handshakes_are_retransmitted_by_boringtuns_timers() {
    let start = Instant::now();
    let mut e = Engine::new(PrivateKey::generate(), start);
    let silent = SocketAddr::from(([192, 0, 2, 99], 51820));
    let peer = PrivateKey::generate().public_key();
    e.set_peers(vec![
        PeerConfig::new(peer, ["100.64.0.2/32".parse().unwrap()]).with_endpoint(silent),
    ])
    .unwrap();
    e.handle_tun_packet(start, &ip_packet(overlay(1), overlay(2), b"x"));
    let mut buf = Vec::new();
    assert_eq!(
        e.poll_transmit(&mut buf, 1).map(|t| t.destination),
        Some(silent)
    );
    // Nothing is due before REKEY_TIMEOUT, however often the timers run.
    e.handle_timeout(start + Duration::from_secs(1));
    assert!(e.poll_transmit(&mut buf, 1).is_none());
    std::thread::sleep(Duration::from_millis(5_300));
    let now = Instant::now();
    e.handle_timeout(now);
    buf.clear();
    let t = e
        .poll_transmit(&mut buf, 1)
        .expect("a retransmitted initiation");
    assert_eq!((t.destination, buf[0]), (silent, 1));
    assert_eq!(e.peer_stats(&peer).unwrap().handshake_attempts, 2);
}
