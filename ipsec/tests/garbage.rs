//! Bad input on ports 500 and 4500: garbage, truncated, bit-flipped, oversized and replayed
//! datagrams never panic, never create state without a valid exchange, and are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use cvlan_ipsec::transforms::DhGroup;
use cvlan_ipsec::{DropReason, Endpoint, Received};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn responder() -> Endpoint {
    let mut ep = Endpoint::new(
        config(B_IP),
        Box::new(ChaCha20Rng::seed_from_u64(1)),
        Instant::now(),
    );
    ep.add_peer(peer(None, "b.example", "a.example", "k", B_NET, A_NET));
    ep
}

fn addrs(port: u16) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(B_IP.into(), port),
        SocketAddr::new(A_IP.into(), 40000),
    )
}

proptest! {
    #[test]
    fn random_datagrams_create_nothing(data in proptest::collection::vec(any::<u8>(), 0..2000), natt in any::<bool>(), marker in any::<bool>()) {
        let mut ep = responder();
        let (local, remote) = addrs(if natt { 4500 } else { 500 });
        let mut d = if marker { [vec![0, 0, 0, 0], data].concat() } else { data };
        let r = ep.handle_datagram(Instant::now(), local, remote, &mut d);
        prop_assert!(!matches!(r, Received::Decrypted { .. }), "decrypted garbage");
        prop_assert_eq!(ep.ike_sa_count(), 0);
        prop_assert_eq!(ep.child_sa_count(), 0);
        prop_assert!(ep.poll_event().is_none());
    }

    #[test]
    fn ike_headers_with_random_bodies_create_nothing(
        spi_i in any::<u64>(), spi_r in any::<u64>(), exchange in 30u8..40, flags in any::<u8>(),
        next in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut ep = responder();
        let mut d = spi_i.to_be_bytes().to_vec();
        d.extend_from_slice(&spi_r.to_be_bytes());
        d.extend_from_slice(&[next, 0x20, exchange, flags, 0, 0, 0, 0]);
        d.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
        d.extend_from_slice(&body);
        let (local, remote) = addrs(500);
        let r = ep.handle_datagram(Instant::now(), local, remote, &mut d);
        prop_assert!(matches!(r, Received::Dropped(_)), "{:?}", r);
        prop_assert_eq!(ep.ike_sa_count(), 0);
        prop_assert_eq!(ep.stats().dropped_total(), 1);
    }
}

#[test]
fn oversized_and_tiny_datagrams_are_counted() {
    let mut ep = responder();
    let now = Instant::now();
    let (l500, remote) = addrs(500);
    let (l4500, _) = addrs(4500);
    for mut d in [vec![0u8; 65535], vec![0xff; 65535], vec![1, 2], vec![]] {
        ep.handle_datagram(now, l500, remote, &mut d);
        ep.handle_datagram(now, l4500, remote, &mut d);
    }
    assert_eq!(ep.ike_sa_count(), 0);
    assert_eq!(ep.stats().dropped_total(), 8);
    assert!(ep.stats().dropped(DropReason::Truncated) >= 3);
    assert_eq!(ep.stats().dropped(DropReason::UnknownEspSpi), 1);
}

fn established() -> Sim {
    let mut sim = Sim::pair(
        7,
        vec![ike_cbc_ecp256()],
        vec![esp(
            cbc(256),
            Some(cvlan_ipsec::transforms::Integrity::HmacSha256_128),
            Some(DhGroup::Ecp256),
        )],
    );
    sim.establish(Duration::from_secs(1));
    for _ in 0..3 {
        sim.send_inner(0, b"hello");
        sim.send_inner(1, b"world");
    }
    let now = sim.now;
    let spi = sim.nodes[0].ep.list_sas(now)[0].children[0].spi_in;
    sim.nodes[0].ep.rekey_child(now, spi).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.nodes[1].inner.len(), 3);
    sim
}

fn counts(sim: &Sim) -> [(usize, usize); 2] {
    [0, 1].map(|n| {
        (
            sim.nodes[n].ep.ike_sa_count(),
            sim.nodes[n].ep.child_sa_count(),
        )
    })
}

#[test]
fn replaying_a_whole_exchange_changes_nothing() {
    let mut sim = established();
    let before = counts(&sim);
    let drops_before: u64 = (0..2)
        .map(|n| sim.nodes[n].ep.stats().dropped_total())
        .sum();
    let transcript = sim.transcript.clone();
    let now = sim.now;
    for (to, local, remote, bytes) in &transcript {
        let mut b = bytes.clone();
        let r = sim.nodes[*to]
            .ep
            .handle_datagram(now, *local, *remote, &mut b);
        assert!(
            !matches!(r, Received::Decrypted { .. }),
            "a replayed ESP packet was accepted"
        );
    }
    for n in 0..2 {
        assert_eq!(
            sim.nodes[n].ep.poll_event(),
            None,
            "a replay produced an event"
        );
    }
    assert_eq!(counts(&sim), before);
    let drops_after: u64 = (0..2)
        .map(|n| sim.nodes[n].ep.stats().dropped_total())
        .sum();
    assert!(drops_after > drops_before);
    let replays: u64 = (0..2)
        .map(|n| sim.nodes[n].ep.stats().dropped(DropReason::Replay))
        .sum();
    let unknown: u64 = (0..2)
        .map(|n| sim.nodes[n].ep.stats().dropped(DropReason::UnknownEspSpi))
        .sum();
    assert_eq!(
        replays + unknown,
        6,
        "every ESP packet is a replay or for a deleted child"
    );
    // The tunnel still works.
    sim.send_inner(0, b"after");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.nodes[1].inner.last().map(|p| p.ends_with(b"after")),
        Some(true)
    );
}

#[test]
fn truncated_and_flipped_copies_of_real_datagrams_change_nothing() {
    let mut sim = established();
    let before = counts(&sim);
    let transcript = sim.transcript.clone();
    let now = sim.now;
    for (to, local, remote, bytes) in &transcript {
        let is_init =
            bytes.len() > 17 && bytes[17 + if local.port() == 4500 { 4 } else { 0 } + 1] == 34;
        for cut in (0..bytes.len()).step_by(7) {
            let mut b = bytes[..cut].to_vec();
            sim.nodes[*to]
                .ep
                .handle_datagram(now, *local, *remote, &mut b);
        }
        if is_init {
            continue;
        }
        for i in (4..bytes.len()).step_by(5) {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            let r = sim.nodes[*to]
                .ep
                .handle_datagram(now, *local, *remote, &mut b);
            assert!(!matches!(r, Received::Decrypted { .. }));
        }
    }
    assert_eq!(counts(&sim), before);
    for n in 0..2 {
        assert!(sim.nodes[n].ep.poll_event().is_none());
    }
    sim.send_inner(1, b"still fine");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.nodes[0]
            .inner
            .last()
            .map(|p| p.ends_with(b"still fine")),
        Some(true)
    );
}
