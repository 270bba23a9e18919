//! The simulation's own models, tested alone: the link fault model, the delivery queue and
//! the NAT box. The engine tests on top of them are only as good as these.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sim::{Datagram, DeliveryQueue, Faults, Filtering, Link, Nat, NatConfig, nat_ip};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// `n` transmissions on a fresh link: the delays of every copy of every datagram.
fn sample(faults: Faults, seed: u64, stream: u64, n: usize) -> Vec<Vec<Duration>> {
    let mut link = Link::new(faults, seed, stream);
    (0..n).map(|_| link.transmit()).collect()
}

#[test]
fn a_perfect_link_delivers_one_copy_at_once() {
    let sent = sample(Faults::default(), 7, 0, 1000);
    assert!(sent.iter().all(|copies| copies == &[Duration::ZERO]));
}

#[test]
fn a_link_is_reproducible_from_its_seed_and_stream() {
    let faults = Faults::lossy(0.3, 0.2, 0.2).with_latency(10 * MS, 5 * MS);
    let run = sample(faults, 42, 3, 500);
    assert_eq!(run, sample(faults, 42, 3, 500), "same seed, same stream");
    assert_ne!(run, sample(faults, 43, 3, 500), "another seed");
    assert_ne!(
        run,
        sample(faults, 42, 4, 500),
        "another link of the same run"
    );
}

#[test]
fn loss_duplication_and_reordering_happen_at_their_rates() {
    let faults = Faults::lossy(0.25, 0.1, 0.2).with_latency(10 * MS, 4 * MS);
    let n = 20_000;
    let sent = sample(faults, 1, 0, n);
    let copies: usize = sent.iter().map(Vec::len).sum();
    // Expected copies: n * (1 + dup) * (1 - loss) = 16,500; datagrams with two: n * dup * 0.5625.
    let doubled = sent.iter().filter(|c| c.len() == 2).count();
    let held: usize = sent.iter().flatten().filter(|d| **d >= 30 * MS).count();
    let rate = |k: usize, of: usize| k as f64 / of as f64;
    assert!((rate(copies, n) - 0.825).abs() < 0.02, "{copies} copies");
    assert!(
        (rate(doubled, n) - 0.05625).abs() < 0.01,
        "{doubled} doubled"
    );
    assert!((rate(held, copies) - 0.2).abs() < 0.02, "{held} held back");
    for delay in sent.iter().flatten() {
        let base = if *delay >= 30 * MS { 30 * MS } else { 10 * MS };
        assert!(*delay >= base && *delay < base + 4 * MS, "{delay:?}");
    }
}

#[test]
fn the_queue_hands_out_by_arrival_time_then_by_sending_order() {
    let now = Instant::now();
    let mut queue = DeliveryQueue::default();
    let datagram = |tag: u8| Datagram {
        from: at("192.0.2.1:1"),
        to: at("192.0.2.2:2"),
        bytes: vec![tag],
    };
    queue.push(now + 20 * MS, datagram(1));
    queue.push(now + 10 * MS, datagram(2));
    queue.push(now + 20 * MS, datagram(3));
    queue.push(now + 10 * MS, datagram(4));
    assert_eq!(queue.next_at(), Some(now + 10 * MS));
    let order: Vec<u8> = std::iter::from_fn(|| queue.pop())
        .map(|d| d.bytes[0])
        .collect();
    assert_eq!(order, [2, 4, 1, 3]);
    assert_eq!(queue.len(), 0);
}

const HOST: &str = "10.0.0.1:51820";
const ONE: &str = "192.0.2.1:51820";
const ONE_OTHER_PORT: &str = "192.0.2.1:60000";
const TWO: &str = "192.0.2.2:51820";

fn eim(filtering: Filtering) -> Nat {
    Nat::new(NatConfig::endpoint_independent(nat_ip(1), filtering))
}

#[test]
fn endpoint_independent_mapping_keeps_one_port_for_every_destination() {
    let now = Instant::now();
    let mut nat = eim(Filtering::AddressAndPortDependent);
    let to_one = nat.outbound(now, at(HOST), at(ONE));
    let to_two = nat.outbound(now, at(HOST), at(TWO));
    assert_eq!(to_one, to_two);
    assert_eq!(to_one, SocketAddr::new(nat_ip(1), 40_000));
    assert_eq!(nat.mapped(now, at(HOST), at(TWO)), Some(to_one));
    let other_host = nat.outbound(now, at("10.0.0.2:51820"), at(ONE));
    assert_ne!(other_host, to_one, "another inside address, another port");
    assert_eq!(nat.stats().mappings_created, 2);
}

#[test]
fn each_filtering_admits_its_own_senders() {
    let now = Instant::now();
    let cases = [
        (Filtering::EndpointIndependent, [true, true, true]),
        (Filtering::AddressDependent, [true, true, false]),
        (Filtering::AddressAndPortDependent, [true, false, false]),
    ];
    for (filtering, expected) in cases {
        let mut nat = eim(filtering);
        let public = nat.outbound(now, at(HOST), at(ONE));
        let admitted = [ONE, ONE_OTHER_PORT, TWO].map(|from| {
            nat.inbound(now, at(from), public)
                .inspect(|inside| assert_eq!(*inside, at(HOST)))
                .is_some()
        });
        assert_eq!(admitted, expected, "{filtering:?}");
        let refused = expected.iter().filter(|a| !**a).count() as u64;
        assert_eq!(nat.stats().dropped_filtered, refused, "{filtering:?}");
        let unmapped = SocketAddr::new(nat_ip(1), public.port() + 1);
        assert_eq!(nat.inbound(now, at(ONE), unmapped), None, "{filtering:?}");
        assert_eq!(nat.stats().dropped_unmapped, 1, "{filtering:?}");
    }
}

#[test]
fn symmetric_mapping_uses_a_new_port_per_destination_and_admits_only_it() {
    let now = Instant::now();
    let mut nat = Nat::new(NatConfig::symmetric(nat_ip(1)));
    let to_one = nat.outbound(now, at(HOST), at(ONE));
    let to_two = nat.outbound(now, at(HOST), at(TWO));
    assert_ne!(to_one, to_two, "what ONE sees is not what TWO will see");
    assert_eq!(
        nat.outbound(now, at(HOST), at(ONE)),
        to_one,
        "a mapping is reused"
    );
    assert_eq!(nat.mapped(now, at(HOST), at(TWO)), Some(to_two));
    assert_eq!(nat.inbound(now, at(ONE), to_one), Some(at(HOST)));
    assert_eq!(
        nat.inbound(now, at(TWO), to_one),
        None,
        "TWO may not use ONE's port"
    );
    assert_eq!(nat.inbound(now, at(TWO), to_two), Some(at(HOST)));
    assert_eq!(nat.stats().mappings_created, 2);
}

#[test]
fn mappings_expire_without_outbound_traffic_and_come_back_on_a_new_port() {
    let start = Instant::now();
    let mut nat = eim(Filtering::AddressDependent);
    let first = nat.outbound(start, at(HOST), at(ONE));
    // Inbound traffic does not keep it alive; outbound does.
    assert!(nat.inbound(start + 20 * SECOND, at(ONE), first).is_some());
    assert!(nat.inbound(start + 31 * SECOND, at(ONE), first).is_none());
    let second = nat.outbound(start + 31 * SECOND, at(HOST), at(ONE));
    assert_ne!(second, first);
    assert_eq!(nat.outbound(start + 55 * SECOND, at(HOST), at(ONE)), second);
    assert!(nat.inbound(start + 80 * SECOND, at(ONE), second).is_some());
    assert_eq!(nat.mapped(start + 86 * SECOND, at(HOST), at(ONE)), None);
}

#[test]
fn each_permission_of_a_filter_expires_on_its_own() {
    let start = Instant::now();
    let mut nat = eim(Filtering::AddressDependent);
    let public = nat.outbound(start, at(HOST), at(ONE));
    nat.outbound(start + 20 * SECOND, at(HOST), at(TWO));
    let later = start + 35 * SECOND;
    assert!(
        nat.inbound(later, at(ONE), public).is_none(),
        "ONE's permission lapsed"
    );
    assert!(
        nat.inbound(later, at(TWO), public).is_some(),
        "TWO's did not"
    );
}

#[test]
fn rebinding_moves_to_a_new_port_and_closes_the_old_one() {
    let now = Instant::now();
    let mut nat = eim(Filtering::AddressAndPortDependent);
    let old = nat.outbound(now, at(HOST), at(ONE));
    nat.rebind();
    assert_eq!(nat.inbound(now, at(ONE), old), None);
    let new = nat.outbound(now, at(HOST), at(ONE));
    assert_ne!(new, old);
    assert_eq!(nat.inbound(now, at(ONE), new), Some(at(HOST)));
}
