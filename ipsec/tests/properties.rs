//! Property tests: the anti-replay window against a reference model, codec round-trips,
//! traffic-selector narrowing, and ESP seal/open for every transform.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cvlan_ipsec::crypto::sym::SymKey;
use cvlan_ipsec::esp::replay::{REPLAY_WINDOW, ReplayWindow};
use cvlan_ipsec::esp::{EspSa, TrafficLimits};
use cvlan_ipsec::transforms::{Encryption, Integrity};
use cvlan_ipsec::ts::{TrafficSelector, narrow};
use cvlan_ipsec::wire::{
    Delete, ExchangeType, Header, IdType, Identification, Message, Notify, NotifyType, Payload,
    Proposal, ProtocolId, Transform, TransformType,
};
use proptest::prelude::*;

/// The reference: a set of accepted numbers and the highest one.
#[derive(Default)]
struct Model {
    seen: BTreeSet<u32>,
    top: u32,
}

impl Model {
    fn acceptable(&self, seq: u32) -> bool {
        seq != 0 && !self.seen.contains(&seq) && (seq > self.top || self.top - seq < REPLAY_WINDOW)
    }
    fn accept(&mut self, seq: u32) {
        self.seen.insert(seq);
        self.top = self.top.max(seq);
    }
}

/// Sequence numbers as a receiver meets them: mostly near the top, some old, some jumps,
/// some duplicates, some at the edges of the window and of the 32-bit space.
fn seq_ops() -> impl Strategy<Value = Vec<(u8, u32)>> {
    proptest::collection::vec((0u8..6, any::<u32>()), 1..400)
}

proptest! {
    #[test]
    fn replay_window_matches_reference_model(ops in seq_ops(), start in prop_oneof![Just(0u32), Just(u32::MAX - 5000), any::<u32>()]) {
        let mut w = ReplayWindow::default();
        let mut m = Model::default();
        let mut last = start;
        for (kind, r) in ops {
            let top = m.top.max(start);
            let seq = match kind {
                0 => top.saturating_add(1 + r % 3),
                1 => top.saturating_sub(r % (REPLAY_WINDOW + 2)),
                2 => top.saturating_sub(REPLAY_WINDOW - 1 + r % 3),
                3 => last,
                4 => top.saturating_add(r % (3 * REPLAY_WINDOW)),
                _ => r,
            };
            last = seq;
            let want = m.acceptable(seq);
            prop_assert_eq!(w.check(seq).is_ok(), want, "seq {} top {}", seq, m.top);
            if want {
                prop_assert!(w.accept(seq).is_ok());
                m.accept(seq);
            } else {
                prop_assert!(w.accept(seq).is_err());
            }
            prop_assert_eq!(w.top(), m.top);
        }
    }
}

#[test]
fn replay_window_edges_and_the_end_of_the_sequence_space() {
    let mut w = ReplayWindow::default();
    assert!(w.check(0).is_err());
    w.accept(5000).unwrap();
    assert!(
        w.check(5000 - REPLAY_WINDOW + 1).is_ok(),
        "oldest number inside the window"
    );
    assert!(
        w.check(5000 - REPLAY_WINDOW).is_err(),
        "just below the window"
    );
    w.accept(u32::MAX).unwrap();
    assert!(
        w.check(u32::MAX).is_err(),
        "no wrap: the last number cannot repeat"
    );
    assert!(w.check(u32::MAX - 1).is_ok());
    assert!(
        w.check(1).is_err(),
        "numbers do not wrap around to the start"
    );
}

fn ip() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (
            IpAddr::V4(Ipv4Addr::from(a.min(b))),
            IpAddr::V4(Ipv4Addr::from(a.max(b)))
        )),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (
            IpAddr::V6(Ipv6Addr::from(a.min(b))),
            IpAddr::V6(Ipv6Addr::from(a.max(b)))
        )),
    ]
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    (ip(), any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|((start, end), ip_proto, p1, p2)| {
        TrafficSelector {
            ip_proto,
            start_port: p1.min(p2),
            end_port: p1.max(p2),
            start,
            end,
        }
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    let transform =
        (1u8..6, any::<u16>(), proptest::option::of(any::<u16>())).prop_map(|(k, id, key_len)| {
            Transform {
                kind: TransformType(k),
                id,
                key_len,
            }
        });
    (
        1u8..10,
        prop_oneof![Just(ProtocolId::Ike), Just(ProtocolId::Esp)],
        proptest::collection::vec(any::<u8>(), 0..9),
        proptest::collection::vec(transform, 1..8),
    )
        .prop_map(|(num, protocol, spi, transforms)| Proposal {
            num,
            protocol,
            spi,
            transforms,
        })
}

fn payload() -> impl Strategy<Value = Payload> {
    let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n);
    prop_oneof![
        proptest::collection::vec(proposal(), 1..4).prop_map(Payload::Sa),
        (any::<u16>(), bytes(300)).prop_map(|(group, data)| Payload::Ke { group, data }),
        (
            prop_oneof![Just(1u8), Just(2), Just(3), Just(5), Just(11)],
            bytes(64)
        )
            .prop_map(|(t, data)| Payload::IdI(Identification {
                kind: IdType::from_u8(t),
                data
            })),
        bytes(64).prop_map(|data| Payload::IdR(Identification {
            kind: IdType::Fqdn,
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(method, data)| Payload::Auth { method, data }),
        proptest::collection::vec(any::<u8>(), 16..257).prop_map(Payload::Nonce),
        (any::<u16>(), bytes(8), bytes(40)).prop_map(|(kind, spi, data)| Payload::Notify(Notify {
            protocol: if spi.is_empty() {
                ProtocolId::Other(0)
            } else {
                ProtocolId::Esp
            },
            spi,
            kind: NotifyType(kind),
            data
        })),
        Just(Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: Vec::new()
        })),
        proptest::collection::vec(any::<u32>(), 1..6).prop_map(|spis| Payload::Delete(Delete {
            protocol: ProtocolId::Esp,
            spis
        })),
        bytes(32).prop_map(Payload::VendorId),
        proptest::collection::vec(selector(), 1..5).prop_map(Payload::TsI),
        proptest::collection::vec(selector(), 1..5).prop_map(Payload::TsR),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(payloads in proptest::collection::vec(payload(), 0..8), spi_i in any::<u64>(), spi_r in any::<u64>(), id in any::<u32>(), flags in any::<u8>()) {
        let msg = Message {
            header: Header { spi_i, spi_r, next_payload: 0, version: 0x20, exchange: ExchangeType::IkeAuth, flags, message_id: id, length: 0 },
            payloads,
        };
        let bytes = msg.encode();
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&back.payloads, &msg.payloads);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn truncated_messages_are_errors_not_panics(payloads in proptest::collection::vec(payload(), 1..5), cut in any::<prop::sample::Index>()) {
        let msg = Message {
            header: Header { spi_i: 1, spi_r: 2, next_payload: 0, version: 0x20, exchange: ExchangeType::IkeSaInit, flags: 8, message_id: 0, length: 0 },
            payloads,
        };
        let bytes = msg.encode();
        let n = cut.index(bytes.len());
        prop_assert!(Message::parse(&bytes[..n]).is_err());
    }

    #[test]
    fn narrowing_stays_inside_both_sides(p in proptest::collection::vec(selector(), 1..4), a in proptest::collection::vec(selector(), 1..4)) {
        for n in narrow(&p, &a) {
            prop_assert!(p.iter().any(|x| x.covers(&n)));
            prop_assert!(a.iter().any(|x| x.covers(&n)));
        }
    }

    #[test]
    fn esp_round_trips_and_detects_tampering(
        alg in 0usize..5,
        len in 20usize..1500,
        fill in any::<u8>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let (enc, integ) = [
            (Encryption::AesGcm16 { key_bits: 128 }, None),
            (Encryption::AesGcm16 { key_bits: 256 }, None),
            (Encryption::AesCbc { key_bits: 128 }, Some(Integrity::HmacSha256_128)),
            (Encryption::AesCbc { key_bits: 256 }, Some(Integrity::HmacSha384_192)),
            (Encryption::AesCbc { key_bits: 256 }, Some(Integrity::HmacSha512_256)),
        ][alg];
        let ekey = [7u8; 36];
        let akey = [9u8; 64];
        let elen = match enc { Encryption::AesGcm16 { key_bits } => key_bits as usize / 8 + 4, Encryption::AesCbc { key_bits } => key_bits as usize / 8 };
        let alen = integ.map_or(0, |i| match i { Integrity::HmacSha256_128 => 32, Integrity::HmacSha384_192 => 48, Integrity::HmacSha512_256 => 64 });
        let k = || SymKey::new(enc, integ, &ekey[..elen], &akey[..alen]).unwrap();
        let mut tx = EspSa::new(1, 2, k(), k(), TrafficLimits::default());
        let mut rx = EspSa::new(2, 1, k(), k(), TrafficLimits::default());
        let mut packet = vec![fill; len];
        packet[0] = 0x45;
        let mut out = Vec::new();
        tx.seal(&packet, &mut out).unwrap();
        let mut tampered = out.clone();
        let i = flip.index(tampered.len() - 8) + 8;
        tampered[i] ^= 1;
        prop_assert!(rx.open(&mut tampered).is_err());
        let r = rx.open(&mut out).unwrap();
        prop_assert_eq!(&out[r], &packet[..]);
    }
}
