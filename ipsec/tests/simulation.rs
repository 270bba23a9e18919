//! Our initiator against our responder on a simulated network with virtual time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use cvlan_ipsec::transforms::{DhGroup, Integrity, Prf};
use cvlan_ipsec::{DownReason, Event, IkeState, SaError, Side};

const SECOND: Duration = Duration::from_secs(1);

fn assert_up(sim: &Sim) {
    for n in 0..2 {
        let sas = sim.nodes[n].ep.list_sas(sim.now);
        assert_eq!(sas.len(), 1, "node {n}: {sas:#?}");
        assert_eq!(sas[0].state, IkeState::Established, "node {n}");
        assert_eq!(sas[0].children.len(), 1, "node {n}: {sas:#?}");
    }
}

fn assert_traffic(sim: &mut Sim, tag: &str) {
    let before = [sim.nodes[0].inner.len(), sim.nodes[1].inner.len()];
    for i in 0..5 {
        assert!(
            sim.send_inner(0, format!("{tag} a->b {i}").as_bytes()),
            "A could not seal"
        );
        assert!(
            sim.send_inner(1, format!("{tag} b->a {i}").as_bytes()),
            "B could not seal"
        );
    }
    sim.run_for(SECOND);
    assert_eq!(sim.nodes[1].inner.len() - before[1], 5, "{tag}: B received");
    assert_eq!(sim.nodes[0].inner.len() - before[0], 5, "{tag}: A received");
    let last = sim.nodes[1].inner.last().unwrap();
    assert!(last.ends_with(format!("{tag} a->b 4").as_bytes()));
}

fn assert_clean(sim: &Sim) {
    for n in 0..2 {
        assert_eq!(
            sim.nodes[n].ep.ike_sa_count(),
            0,
            "node {n}: {:#?}",
            sim.nodes[n].ep.list_sas(sim.now)
        );
        assert_eq!(sim.nodes[n].ep.child_sa_count(), 0, "node {n}");
    }
}

#[test]
fn every_proposal_pair_establishes_and_carries_traffic() {
    let pairs = [
        (ike_gcm_x25519(), esp(gcm(256), None, None)),
        (
            ike_cbc_ecp256(),
            esp(cbc(256), Some(Integrity::HmacSha256_128), None),
        ),
        (
            ike_cbc_modp2048(),
            esp(cbc(256), Some(Integrity::HmacSha256_128), None),
        ),
        (
            ike(gcm(128), None, Prf::HmacSha384, DhGroup::Ecp256),
            esp(gcm(128), None, None),
        ),
        (
            ike(
                cbc(128),
                Some(Integrity::HmacSha384_192),
                Prf::HmacSha512,
                DhGroup::Curve25519,
            ),
            esp(cbc(128), Some(Integrity::HmacSha512_256), None),
        ),
        (
            ike(
                cbc(256),
                Some(Integrity::HmacSha512_256),
                Prf::HmacSha384,
                DhGroup::Curve25519,
            ),
            esp(cbc(256), Some(Integrity::HmacSha384_192), None),
        ),
    ];
    for (i, (ike_p, esp_p)) in pairs.into_iter().enumerate() {
        let mut sim = Sim::pair(i as u64, vec![ike_p], vec![esp_p]);
        sim.establish(SECOND);
        assert_up(&sim);
        let a = &sim.nodes[0].ep.list_sas(sim.now)[0];
        assert_eq!(a.proposal, Some(ike_p));
        assert_eq!(a.children[0].proposal, esp_p);
        assert!(sim.count(0, |e| matches!(e, Event::IkeSaUp { .. })) == 1);
        assert!(sim.count(1, |e| matches!(e, Event::ChildSaUp { .. })) == 1);
        assert_traffic(&mut sim, &format!("pair {i}"));
        let a_child = &sim.nodes[0].ep.list_sas(sim.now)[0].children[0];
        assert_eq!(a_child.counters.packets_out, 5);
        assert_eq!(a_child.counters.packets_in, 5);
    }
}

fn pfs_sim(seed: u64) -> Sim {
    let mut sim = Sim::pair(
        seed,
        vec![ike_gcm_x25519()],
        vec![esp(gcm(256), None, Some(DhGroup::Curve25519))],
    );
    sim.establish(SECOND);
    assert_up(&sim);
    sim
}

fn child_spi(sim: &Sim, node: usize) -> u32 {
    sim.nodes[node].ep.list_sas(sim.now)[0].children[0].spi_in
}

#[test]
fn child_rekey_by_either_side_keeps_traffic_flowing() {
    for side in 0..2 {
        let mut sim = pfs_sim(10 + side as u64);
        let old = child_spi(&sim, side);
        let now = sim.now;
        sim.nodes[side].ep.rekey_child(now, old).unwrap();
        // Traffic while the rekey is in flight.
        sim.send_inner(0, b"during");
        sim.send_inner(1, b"during");
        sim.run_for(SECOND);
        assert_up(&sim);
        let new = child_spi(&sim, side);
        assert_ne!(old, new);
        for n in 0..2 {
            assert_eq!(
                sim.count(n, |e| matches!(e, Event::ChildSaRekeyed { .. })),
                1,
                "node {n}: {:?}",
                sim.events(n)
            );
            assert_eq!(
                sim.count(n, |e| matches!(
                    e,
                    Event::ChildSaDown {
                        reason: DownReason::Rekeyed,
                        ..
                    }
                )),
                1
            );
        }
        assert_traffic(&mut sim, "after child rekey");
        assert_eq!(
            sim.nodes[0].ep.stats().dropped_total() + sim.nodes[1].ep.stats().dropped_total(),
            0
        );
    }
}

#[test]
fn ike_rekey_by_either_side_moves_children() {
    for side in 0..2 {
        let mut sim = pfs_sim(20 + side as u64);
        let old = sim.nodes[side].ep.list_sas(sim.now)[0].id;
        let child = child_spi(&sim, side);
        let now = sim.now;
        sim.nodes[side].ep.rekey_ike(now, old).unwrap();
        sim.send_inner(0, b"during");
        sim.run_for(SECOND);
        assert_up(&sim);
        let sa = &sim.nodes[side].ep.list_sas(sim.now)[0];
        assert_ne!(sa.id, old);
        assert_eq!(
            sa.children[0].spi_in, child,
            "children move to the new IKE SA"
        );
        for n in 0..2 {
            assert_eq!(
                sim.count(n, |e| matches!(e, Event::IkeSaRekeyed { .. })),
                1,
                "node {n}"
            );
            assert_eq!(
                sim.count(n, |e| matches!(e, Event::IkeSaDown { .. })),
                0,
                "node {n}: {:?}",
                sim.events(n)
            );
        }
        assert_traffic(&mut sim, "after IKE rekey");
        // The new IKE SA works: rekey a child over it, then a liveness check.
        let now = sim.now;
        sim.nodes[1 - side]
            .ep
            .rekey_child(now, child_spi(&sim, 1 - side))
            .unwrap();
        sim.run_for(SECOND);
        assert_up(&sim);
        assert_traffic(&mut sim, "child rekey on new IKE SA");
    }
}

#[test]
fn simultaneous_child_rekeys_leave_one_child() {
    for seed in 0..4 {
        let mut sim = pfs_sim(30 + seed);
        let (a, b) = (child_spi(&sim, 0), child_spi(&sim, 1));
        let now = sim.now;
        sim.nodes[0].ep.rekey_child(now, a).unwrap();
        sim.nodes[1].ep.rekey_child(now, b).unwrap();
        sim.run_for(5 * SECOND);
        assert_up(&sim);
        assert_ne!(child_spi(&sim, 0), a);
        assert_traffic(&mut sim, "after collision");
    }
}

#[test]
fn simultaneous_ike_rekeys_leave_one_ike_sa() {
    for seed in 0..4 {
        let mut sim = pfs_sim(40 + seed);
        let (a, b) = (
            sim.nodes[0].ep.list_sas(sim.now)[0].id,
            sim.nodes[1].ep.list_sas(sim.now)[0].id,
        );
        let now = sim.now;
        sim.nodes[0].ep.rekey_ike(now, a).unwrap();
        sim.nodes[1].ep.rekey_ike(now, b).unwrap();
        sim.run_for(5 * SECOND);
        assert_up(&sim);
        let (sa_a, sa_b) = (
            &sim.nodes[0].ep.list_sas(sim.now)[0],
            &sim.nodes[1].ep.list_sas(sim.now)[0],
        );
        assert_eq!(
            (sa_a.spi_i, sa_a.spi_r),
            (sa_b.spi_i, sa_b.spi_r),
            "both sides keep the same IKE SA"
        );
        for n in 0..2 {
            assert_eq!(
                sim.count(n, |e| matches!(e, Event::IkeSaDown { .. })),
                0,
                "node {n}: {:?}",
                sim.events(n)
            );
        }
        assert_traffic(&mut sim, "after IKE collision");
    }
}

#[test]
fn lifetimes_rekey_automatically_and_traffic_survives() {
    let mut a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let mut b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    for p in [&mut a, &mut b] {
        p.child_lifetime = Duration::from_secs(60);
        p.ike_lifetime = Duration::from_secs(150);
        p.esp_proposals = vec![esp(gcm(256), None, Some(DhGroup::Ecp256))];
    }
    let mut sim = Sim::new(50, a, b);
    sim.establish(SECOND);
    for _ in 0..40 {
        sim.send_inner(0, b"tick");
        sim.send_inner(1, b"tock");
        sim.run_for(10 * SECOND);
    }
    assert_up(&sim);
    let rekeys: usize = (0..2)
        .map(|n| sim.count(n, |e| matches!(e, Event::ChildSaRekeyed { .. })))
        .sum();
    let ike_rekeys: usize = (0..2)
        .map(|n| sim.count(n, |e| matches!(e, Event::IkeSaRekeyed { .. })))
        .sum();
    assert!(rekeys >= 10, "child rekeys: {rekeys}");
    assert!(ike_rekeys >= 4, "IKE rekeys: {ike_rekeys}");
    assert_eq!(sim.nodes[1].inner.len(), 40);
    assert_eq!(sim.nodes[0].inner.len(), 40);
    for n in 0..2 {
        assert_eq!(sim.count(n, |e| matches!(e, Event::IkeSaDown { .. })), 0);
    }
}

#[test]
fn byte_limits_trigger_rekey() {
    let mut a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    a.child_limits.soft_bytes = Some(5_000);
    a.child_limits.hard_bytes = Some(1_000_000);
    let mut sim = Sim::new(51, a, b);
    sim.establish(SECOND);
    let old = child_spi(&sim, 0);
    for _ in 0..20 {
        sim.send_inner(0, &[7u8; 500]);
    }
    sim.run_for(SECOND);
    assert_ne!(child_spi(&sim, 0), old);
    assert_eq!(
        sim.count(0, |e| matches!(e, Event::ChildSaRekeyed { .. })),
        1
    );
    assert_eq!(sim.nodes[1].inner.len(), 20);
}

#[test]
fn dpd_detects_a_dead_peer_and_removes_its_sas() {
    let mut sim = pfs_sim(60);
    sim.partitioned = Some(1);
    sim.run_for(Duration::from_secs(200));
    let a = &sim.nodes[0];
    assert_eq!(a.ep.ike_sa_count(), 0);
    assert_eq!(a.ep.child_sa_count(), 0);
    assert_eq!(
        sim.count(0, |e| matches!(
            e,
            Event::IkeSaDown {
                reason: DownReason::PeerDead,
                ..
            }
        )),
        1
    );
    assert_eq!(
        sim.count(0, |e| matches!(
            e,
            Event::ChildSaDown {
                reason: DownReason::PeerDead,
                ..
            }
        )),
        1
    );
    assert!(a.ep.stats().retransmits >= 5);
}

#[test]
fn dpd_stays_quiet_while_esp_flows() {
    let mut sim = pfs_sim(61);
    let a_before = sim.nodes[0].ep.stats().ike_out;
    let b_before = sim.nodes[1].ep.stats().ike_out;
    for _ in 0..12 {
        sim.send_inner(1, b"alive");
        sim.run_for(5 * SECOND);
    }
    // A hears ESP from B all the time, so it only answers B's liveness checks (B hears
    // nothing from A) and never starts one of its own.
    let b_sent = sim.nodes[1].ep.stats().ike_out - b_before;
    assert!(b_sent >= 1);
    assert_eq!(sim.nodes[0].ep.stats().ike_out - a_before, b_sent);
}

#[test]
fn nat_is_detected_and_ike_moves_to_4500() {
    let mut sim = Sim::pair(70, vec![ike_gcm_x25519()], vec![esp(gcm(256), None, None)]);
    sim.nat = true;
    sim.establish(SECOND);
    assert_up(&sim);
    let a = &sim.nodes[0].ep.list_sas(sim.now)[0];
    let b = &sim.nodes[1].ep.list_sas(sim.now)[0];
    assert!(a.nat_local, "A sees it is behind NAT");
    assert!(b.nat_remote, "B sees A behind NAT");
    assert_eq!(a.local.port(), 4500);
    assert_eq!(b.remote, "203.0.113.1:44500".parse().unwrap());
    assert_traffic(&mut sim, "through NAT");
    let ka = sim.nodes[0].ep.stats().keepalives_out;
    sim.run_for(Duration::from_secs(61));
    assert!(sim.nodes[0].ep.stats().keepalives_out >= ka + 3);
    assert!(sim.nodes[1].ep.stats().keepalives_in >= 3);
    assert_eq!(
        sim.nodes[1].ep.stats().keepalives_out,
        0,
        "B is not behind NAT"
    );
}

#[test]
fn lossy_reordering_duplicating_network_still_converges() {
    for seed in 0..8 {
        let mut sim = pfs_sim_lossy(80 + seed);
        assert_up(&sim);
        let now = sim.now;
        let spi = child_spi(&sim, 0);
        sim.nodes[0].ep.rekey_child(now, spi).unwrap();
        let id = sim.nodes[1].ep.list_sas(now)[0].id;
        sim.nodes[1].ep.rekey_ike(now, id).unwrap();
        sim.run_for(Duration::from_secs(60));
        assert_up(&sim);
        sim.loss = 0.0;
        sim.dup = 0.0;
        sim.jitter = Duration::ZERO;
        sim.run_for(Duration::from_secs(30));
        assert_traffic(&mut sim, "after lossy rekeys");
    }
}

fn pfs_sim_lossy(seed: u64) -> Sim {
    let mut sim = Sim::pair(
        seed,
        vec![ike_gcm_x25519()],
        vec![esp(gcm(256), None, Some(DhGroup::Curve25519))],
    );
    sim.loss = 0.25;
    sim.dup = 0.2;
    sim.jitter = Duration::from_millis(300);
    sim.establish(Duration::from_secs(60));
    sim
}

#[test]
fn wrong_psk_fails_cleanly_on_both_sides() {
    let a = peer(Some(B_IP), "a.example", "b.example", "right", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "wrong", B_NET, A_NET);
    let mut sim = Sim::new(90, a, b);
    sim.establish(5 * SECOND);
    assert_eq!(
        sim.events(0),
        &[Event::IkeSaFailed {
            peer: Some(sim.nodes[0].peer),
            remote: "10.0.0.2:4500".parse().unwrap(),
            error: SaError::AuthenticationFailed(Side::Remote)
        }]
    );
    assert!(matches!(
        sim.events(1),
        [Event::IkeSaFailed {
            error: SaError::AuthenticationFailed(Side::Local),
            ..
        }]
    ));
    assert_clean(&sim);
}

#[test]
fn unknown_identity_fails_cleanly() {
    let a = peer(
        Some(B_IP),
        "intruder.example",
        "b.example",
        "k",
        A_NET,
        B_NET,
    );
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    let mut sim = Sim::new(91, a, b);
    sim.establish(5 * SECOND);
    assert!(matches!(
        sim.events(0),
        [Event::IkeSaFailed {
            error: SaError::AuthenticationFailed(Side::Remote),
            ..
        }]
    ));
    assert!(matches!(
        sim.events(1),
        [Event::IkeSaFailed {
            peer: None,
            error: SaError::NoMatchingPeer,
            ..
        }]
    ));
    assert_clean(&sim);
}

#[test]
fn ike_proposal_mismatch_fails_cleanly() {
    let mut a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    a.ike_proposals = vec![ike_cbc_modp2048()];
    let mut sim = Sim::new(92, a, b);
    sim.establish(5 * SECOND);
    assert!(matches!(
        sim.events(0),
        [Event::IkeSaFailed {
            error: SaError::NoProposalChosen(Side::Remote),
            ..
        }]
    ));
    assert!(matches!(
        sim.events(1),
        [Event::IkeSaFailed {
            error: SaError::NoProposalChosen(Side::Local),
            ..
        }]
    ));
    assert_clean(&sim);
}

#[test]
fn esp_proposal_mismatch_fails_cleanly() {
    let mut a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    a.esp_proposals = vec![esp(cbc(128), Some(Integrity::HmacSha512_256), None)];
    let mut sim = Sim::new(93, a, b);
    sim.establish(5 * SECOND);
    assert!(sim.events(0).contains(&Event::ChildSaFailed {
        peer: sim.nodes[0].peer,
        error: SaError::NoProposalChosen(Side::Remote)
    }));
    assert!(sim.events(1).contains(&Event::ChildSaFailed {
        peer: sim.nodes[1].peer,
        error: SaError::NoProposalChosen(Side::Local)
    }));
    // Both sides close the childless IKE SA; each sees it go exactly once.
    for n in 0..2 {
        assert_eq!(
            sim.count(n, |e| matches!(e, Event::IkeSaDown { .. })),
            1,
            "node {n}"
        );
    }
    assert_clean(&sim);
}

#[test]
fn disjoint_traffic_selectors_fail_cleanly() {
    let a = peer(
        Some(B_IP),
        "a.example",
        "b.example",
        "k",
        A_NET,
        "10.99.0.0/16",
    );
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    let mut sim = Sim::new(94, a, b);
    sim.establish(5 * SECOND);
    assert!(sim.events(0).contains(&Event::ChildSaFailed {
        peer: sim.nodes[0].peer,
        error: SaError::TsUnacceptable(Side::Remote)
    }));
    assert_clean(&sim);
}

#[test]
fn traffic_selectors_are_narrowed() {
    let a = peer(
        Some(B_IP),
        "a.example",
        "b.example",
        "k",
        A_NET,
        "192.168.0.0/16",
    );
    let b = peer(None, "b.example", "a.example", "k", B_NET, "0.0.0.0/0");
    let mut sim = Sim::new(95, a, b);
    sim.establish(SECOND);
    assert_up(&sim);
    let child = &sim.nodes[0].ep.list_sas(sim.now)[0].children[0];
    assert_eq!(child.remote_ts, vec![ts(B_NET)]);
    assert_eq!(child.local_ts, vec![ts(A_NET)]);
    assert_traffic(&mut sim, "narrowed");
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_right_group() {
    let mut a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let mut b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    a.ike_proposals = vec![
        ike_gcm_x25519(),
        ike(gcm(256), None, Prf::HmacSha256, DhGroup::Ecp256),
    ];
    b.ike_proposals = vec![ike(gcm(256), None, Prf::HmacSha256, DhGroup::Ecp256)];
    let mut sim = Sim::new(96, a, b);
    sim.establish(SECOND);
    assert_up(&sim);
    assert_eq!(
        sim.nodes[0].ep.list_sas(sim.now)[0].proposal.unwrap().dh,
        DhGroup::Ecp256
    );
    assert_eq!(
        sim.nodes[1]
            .ep
            .stats()
            .dropped(cvlan_ipsec::DropReason::InvalidKe),
        1
    );
}

#[test]
fn responder_under_load_demands_cookies_and_initiator_retries() {
    let a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    let b_cfg = cvlan_ipsec::EndpointConfig {
        cookie_threshold: 0,
        ..config(B_IP)
    };
    let mut sim = Sim::with_configs(97, a, b, config(A_IP), b_cfg);
    sim.establish(SECOND);
    assert_up(&sim);
    assert_eq!(
        sim.nodes[1]
            .ep
            .stats()
            .dropped(cvlan_ipsec::DropReason::CookieRequired),
        1
    );
    assert_traffic(&mut sim, "after cookie");
}

#[test]
fn delete_by_either_side_cleans_both() {
    for side in 0..2 {
        let mut sim = pfs_sim(100 + side as u64);
        let id = sim.nodes[side].ep.list_sas(sim.now)[0].id;
        let now = sim.now;
        sim.nodes[side].ep.delete_ike(now, id).unwrap();
        sim.run_for(SECOND);
        assert_clean(&sim);
        assert_eq!(
            sim.count(side, |e| matches!(
                e,
                Event::IkeSaDown {
                    reason: DownReason::DeletedLocally,
                    ..
                }
            )),
            1
        );
        assert_eq!(
            sim.count(1 - side, |e| matches!(
                e,
                Event::IkeSaDown {
                    reason: DownReason::DeletedByPeer,
                    ..
                }
            )),
            1
        );
    }
}

#[test]
fn unreachable_responder_times_out() {
    let mut sim = pfs_sim_lossy(110);
    let mut sim2 = Sim::pair(111, vec![ike_gcm_x25519()], vec![esp(gcm(256), None, None)]);
    sim2.partitioned = Some(1);
    sim2.establish(Duration::from_secs(200));
    assert!(matches!(
        sim2.events(0),
        [Event::IkeSaFailed {
            error: SaError::Timeout,
            ..
        }]
    ));
    assert_clean(&sim2);
    sim.run_for(SECOND);
}

#[test]
fn a_flood_of_half_open_sas_is_capped_by_cookies() {
    use cvlan_ipsec::{Endpoint, EndpointConfig};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let a = peer(Some(B_IP), "a.example", "b.example", "k", A_NET, B_NET);
    let b = peer(None, "b.example", "a.example", "k", B_NET, A_NET);
    let b_cfg = EndpointConfig {
        cookie_threshold: 5,
        ..config(B_IP)
    };
    let mut sim = Sim::with_configs(98, a, b, config(A_IP), b_cfg);
    // Twenty spoofed initiators send IKE_SA_INIT and never answer.
    for i in 0..20u8 {
        let ip = std::net::Ipv4Addr::new(198, 51, 100, i + 1);
        let mut x = Endpoint::new(
            config(ip),
            Box::new(ChaCha20Rng::seed_from_u64(1000 + i as u64)),
            sim.now,
        );
        let p = x.add_peer(peer(
            Some(B_IP),
            "x.example",
            "b.example",
            "k",
            A_NET,
            B_NET,
        ));
        x.initiate(sim.now, p).unwrap();
        let mut t = x.poll_transmit().unwrap();
        let now = sim.now;
        sim.nodes[1]
            .ep
            .handle_datagram(now, t.dst, t.src, &mut t.bytes);
        while sim.nodes[1].ep.poll_transmit().is_some() {}
    }
    assert_eq!(
        sim.nodes[1].ep.ike_sa_count(),
        5,
        "only the threshold's worth of half-open SAs"
    );
    assert_eq!(
        sim.nodes[1]
            .ep
            .stats()
            .dropped(cvlan_ipsec::DropReason::CookieRequired),
        15
    );
    // The real initiator is asked for a cookie, returns it and gets through.
    sim.establish(SECOND);
    let up = sim.nodes[1]
        .ep
        .list_sas(sim.now)
        .into_iter()
        .filter(|s| s.state == IkeState::Established)
        .count();
    assert_eq!(up, 1);
    assert_traffic(&mut sim, "after flood");
    // The spoofed half-open SAs expire.
    sim.run_for(Duration::from_secs(31));
    assert_eq!(sim.nodes[1].ep.ike_sa_count(), 1);
}

#[test]
fn psk_never_appears_in_debug_output() {
    let p = peer(
        Some(B_IP),
        "a.example",
        "b.example",
        "very-secret-psk",
        A_NET,
        B_NET,
    );
    let shown = format!("{p:?} {:?}", p.psk);
    assert!(!shown.contains("very-secret-psk"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn a_nat_rebinding_is_followed() {
    let mut sim = Sim::pair(99, vec![ike_gcm_x25519()], vec![esp(gcm(256), None, None)]);
    sim.nat = true;
    sim.establish(SECOND);
    assert_traffic(&mut sim, "before rebinding");
    // The NAT forgets its mappings and picks new ports for A.
    sim.nat_base = 41000;
    assert!(sim.send_inner(0, b"from the new port"));
    sim.run_for(SECOND);
    assert_eq!(
        sim.nodes[1].ep.list_sas(sim.now)[0].remote,
        "203.0.113.1:45500".parse().unwrap()
    );
    assert_traffic(&mut sim, "after rebinding");
    // IKE follows too: a rekey started by B reaches A at its new address.
    let now = sim.now;
    let id = sim.nodes[1].ep.list_sas(now)[0].id;
    sim.nodes[1].ep.rekey_ike(now, id).unwrap();
    sim.run_for(SECOND);
    assert_up(&sim);
    assert_eq!(sim.count(0, |e| matches!(e, Event::IkeSaRekeyed { .. })), 1);
}

#[test]
fn a_restarted_initiator_replaces_its_stale_sas_with_initial_contact() {
    use cvlan_ipsec::Endpoint;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let mut sim = pfs_sim(120);
    // A restarts: a fresh endpoint with the same configuration, B still holds the old SAs.
    let cfg = sim.nodes[0].ep.peer(sim.nodes[0].peer).unwrap().clone();
    let mut fresh = Endpoint::new(
        config(A_IP),
        Box::new(ChaCha20Rng::seed_from_u64(121)),
        sim.now,
    );
    sim.nodes[0].peer = fresh.add_peer(cfg);
    sim.nodes[0].ep = fresh;
    sim.nodes[0].events.clear();
    sim.establish(SECOND);
    assert_up(&sim);
    assert_eq!(
        sim.count(1, |e| matches!(
            e,
            Event::IkeSaDown {
                reason: DownReason::Replaced,
                ..
            }
        )),
        1
    );
    assert_eq!(
        sim.count(1, |e| matches!(
            e,
            Event::ChildSaDown {
                reason: DownReason::Replaced,
                ..
            }
        )),
        1
    );
    assert_traffic(&mut sim, "after restart");
}
