//! Lazy peers: a configured peer holds no tunnel until a packet goes to or comes from it,
//! goes cold again after [`COLD_AFTER`] without traffic (keeping its counters), and the packet
//! that wakes it waits for one handshake round trip instead of being lost.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod sim;

use std::time::Duration;

use cvlan_mesh::engine::COLD_AFTER;
use cvlan_mesh::{PeerConfig, PrivateKey, PublicKey};
use sim::{Faults, Net, addr, payload};

const MS: Duration = Duration::from_millis(1);
const ONE_WAY: Duration = Duration::from_millis(10);

/// Queues a packet from `from` to `to` and runs the network 1 ms at a time until it arrives:
/// how long it took.
fn first_delivery(net: &mut Net, from: usize, to: usize, body: &[u8]) -> Duration {
    let before = net.nodes[to].received.len();
    let start = net.now;
    net.queue_ping(from, to, body);
    for _ in 0..1_000 {
        if net.nodes[to].received.len() > before {
            let got = net.nodes[to].received.last().unwrap();
            assert_eq!(payload(got), body);
            return net.now - start;
        }
        net.advance(MS);
    }
    panic!("{body:?} never arrived");
}

#[test]
fn configured_peers_start_cold_and_traffic_warms_both_ends() {
    let mut net = Net::full_mesh(2);
    assert!(!net.stats(0, 1).warm && !net.stats(1, 0).warm);
    assert_eq!(net.nodes[0].engine.stats().warm_peers, 0);
    net.ping(0, 1, b"hello");
    assert_eq!(payload(&net.nodes[1].received[0]), b"hello");
    // The sender woke on its outbound packet, the receiver on the inbound handshake.
    assert!(net.stats(0, 1).warm && net.stats(1, 0).warm);
    assert_eq!(net.nodes[1].engine.stats().warm_peers, 1);
}

#[test]
fn an_idle_peer_goes_cold_keeps_its_counters_and_wakes_on_the_next_packet() {
    let mut net = Net::full_mesh(2);
    net.ping(0, 1, b"one");
    net.ping(1, 0, b"two");
    let before = net.stats(0, 1);
    assert_eq!(
        (before.tx_packets, before.rx_packets, before.handshakes),
        (1, 1, 1)
    );

    // Still warm just before the timeout, cold after it, on both ends.
    net.advance(COLD_AFTER - Duration::from_secs(1));
    assert!(net.stats(0, 1).warm, "cooled before {COLD_AFTER:?}");
    net.advance(Duration::from_secs(2));
    let cold = net.stats(0, 1);
    assert!(!cold.warm && !net.stats(1, 0).warm);
    assert_eq!(
        (
            cold.tx_packets,
            cold.rx_packets,
            cold.tx_bytes,
            cold.rx_bytes
        ),
        (
            before.tx_packets,
            before.rx_packets,
            before.tx_bytes,
            before.rx_bytes
        ),
        "going cold keeps the counters"
    );
    assert_eq!(net.nodes[0].engine.stats().warm_peers, 0);

    // Woken from the far end this time: the packet is queued behind a new handshake.
    net.ping(1, 0, b"three");
    assert_eq!(payload(net.nodes[0].received.last().unwrap()), b"three");
    let woken = net.stats(0, 1);
    assert!(woken.warm);
    assert_eq!(woken.handshakes, before.handshakes + 1);
    assert_eq!(woken.rx_packets, before.rx_packets + 1);
}

#[test]
fn changes_since_an_instant_list_the_peers_that_moved_and_the_ones_that_cooled() {
    let mut net = Net::full_mesh(3);
    let start = net.now;
    net.ping(0, 1, b"one");
    let key = |net: &Net, i: usize| net.nodes[i].engine.public_key();
    let moved = |net: &Net, since| -> Vec<PublicKey> {
        let stats = net.nodes[0].engine.peers_stats_since(since);
        stats.iter().map(|p| p.public_key).collect()
    };
    assert_eq!(
        moved(&net, start),
        [key(&net, 1)],
        "only the peer that had traffic"
    );

    net.advance(COLD_AFTER + Duration::from_secs(1));
    let cooled_by = net.now;
    let cooled = net.nodes[0]
        .engine
        .peers_stats_since(cooled_by - Duration::from_secs(5));
    assert_eq!(cooled.len(), 1, "going cold is a change: {cooled:?}");
    assert!(!cooled[0].warm);
    net.advance(Duration::from_secs(2));
    assert!(
        moved(&net, cooled_by + Duration::from_secs(1)).is_empty(),
        "nothing moved since"
    );
    // A reader older than the engine's memory of cooled peers still gets every change.
    assert_eq!(moved(&net, start), [key(&net, 1)]);
}

#[test]
fn a_cold_first_packet_costs_one_handshake_round_trip() {
    let mut net = Net::full_mesh(2);
    net.set_faults(Faults::default().with_latency(ONE_WAY, Duration::ZERO));
    let cold = first_delivery(&mut net, 0, 1, b"cold");
    let warm = first_delivery(&mut net, 0, 1, b"warm");
    assert!(warm <= ONE_WAY + MS, "warm packet took {warm:?}");
    let rtt = 2 * ONE_WAY;
    assert!(
        cold <= warm + rtt + MS,
        "cold first packet took {cold:?}, warm {warm:?}"
    );
}

#[test]
fn a_peer_with_persistent_keepalive_stays_warm() {
    let mut net = Net::full_mesh(2);
    let mut b = net.nodes[1].as_peer();
    b.persistent_keepalive = Some(25);
    net.nodes[0].engine.set_peers(vec![b]).unwrap();
    // No traffic at all: the timers still visit it and its keepalives wake it.
    net.advance(COLD_AFTER * 2);
    assert!(net.stats(0, 1).warm);
    assert!(net.stats(0, 1).handshakes >= 1);
}

#[test]
fn ten_thousand_cold_peers_leave_the_timers_nothing_to_do() {
    let mut net = Net::full_mesh(2);
    let mut peers: Vec<PeerConfig> = (0..10_000u32)
        .map(|i| {
            let key: PublicKey = PrivateKey::generate().public_key();
            let net = format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap();
            let mut p = PeerConfig::new(key, [net]);
            p.endpoint = Some(addr(200));
            p
        })
        .collect();
    peers.push(net.nodes[1].as_peer());
    net.nodes[0].engine.set_peers(peers).unwrap();
    net.ping(0, 1, b"only this one");
    let stats = net.nodes[0].engine.stats();
    assert_eq!((stats.peers, stats.warm_peers), (10_001, 1));
    // An hour of timers sends nothing to the idle peers.
    let sent_before = net.captured.len();
    net.advance(Duration::from_secs(3600));
    assert!(
        net.captured[sent_before..]
            .iter()
            .all(|(_, to, _)| *to != addr(200)),
        "a cold peer was sent something"
    );
    assert_eq!(net.nodes[0].engine.stats().warm_peers, 0);
}
