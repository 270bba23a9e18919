//! Benchmarks: IKE SA establishments per second on one core (our initiator against our
//! responder, in memory), with the raw DH work of one establishment as the baseline; and
//! ESP seal+open of 1400-byte packets, with bare AES-GCM encrypt+decrypt as the baseline.
//!
//! `cargo bench -p cvlan-ipsec --bench ipsec`
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cvlan_ipsec::crypto::dh::DhPrivate;
use cvlan_ipsec::crypto::sym::SymKey;
use cvlan_ipsec::esp::{EspSa, TrafficLimits};
use cvlan_ipsec::transforms::{DhGroup, Encryption, EspProposal, IkeProposal, Integrity, Prf};
use cvlan_ipsec::ts::TrafficSelector;
use cvlan_ipsec::{Endpoint, EndpointConfig, Event, PeerConfig, Psk};
use cvlan_types::Remote;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn peer(
    remote: Remote,
    local: &str,
    other: &str,
    ike: IkeProposal,
    esp: EspProposal,
) -> PeerConfig {
    let ts = |s: &str| TrafficSelector::from_net(s.parse().expect("cidr"));
    PeerConfig {
        name: other.into(),
        remote,
        remote_port: 500,
        local_id: local.into(),
        remote_id: other.into(),
        psk: Psk::new(&b"bench-psk"[..]),
        local_ts: vec![ts("192.168.1.0/24")],
        remote_ts: vec![ts("192.168.2.0/24")],
        ike_proposals: vec![ike],
        esp_proposals: vec![esp],
        ike_lifetime: Duration::from_secs(3600),
        child_lifetime: Duration::from_secs(600),
        dpd: None,
        child_limits: TrafficLimits::default(),
    }
}

/// One full IKE_SA_INIT + IKE_AUTH between fresh endpoints; returns the child count.
fn establish(seed: u64, ike: IkeProposal, esp: EspProposal) -> usize {
    let now = Instant::now();
    let cfg = |ip| EndpointConfig {
        local_ip: IpAddr::V4(ip),
        ..EndpointConfig::default()
    };
    let mut a = Endpoint::new(cfg(A), Box::new(ChaCha20Rng::seed_from_u64(seed)), now);
    let mut b = Endpoint::new(cfg(B), Box::new(ChaCha20Rng::seed_from_u64(!seed)), now);
    let pa = a.add_peer(peer(Remote::Address(IpAddr::V4(B)), "a", "b", ike, esp));
    let mut pb_cfg = peer(Remote::Any, "b", "a", ike, esp);
    std::mem::swap(&mut pb_cfg.local_ts, &mut pb_cfg.remote_ts);
    b.add_peer(pb_cfg);
    a.initiate(now, pa).expect("peer exists");
    loop {
        let mut moved = false;
        while let Some(mut t) = a.poll_transmit() {
            b.handle_datagram(now, t.dst, t.src, &mut t.bytes);
            moved = true;
        }
        while let Some(mut t) = b.poll_transmit() {
            a.handle_datagram(now, t.dst, t.src, &mut t.bytes);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let up = std::iter::from_fn(|| a.poll_event())
        .filter(|e| matches!(e, Event::ChildSaUp { .. }))
        .count();
    assert_eq!(up, 1, "establishment failed");
    b.child_sa_count()
}

/// The DH work one establishment needs: two key pairs and two shared secrets.
fn dh_only(seed: u64, group: DhGroup) -> usize {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x = DhPrivate::generate(group, &mut rng);
    let y = DhPrivate::generate(group, &mut rng);
    let (px, py) = (x.public(), y.public());
    x.shared(&py).expect("valid").len() + y.shared(&px).expect("valid").len()
}

fn ike_establishment(c: &mut Criterion) {
    let esp_gcm = EspProposal {
        encryption: Encryption::AesGcm16 { key_bits: 256 },
        integrity: None,
        dh: None,
    };
    let esp_cbc = EspProposal {
        encryption: Encryption::AesCbc { key_bits: 256 },
        integrity: Some(Integrity::HmacSha256_128),
        dh: None,
    };
    let cases = [
        (
            "aes256gcm16-prfsha256-x25519",
            DhGroup::Curve25519,
            Encryption::AesGcm16 { key_bits: 256 },
            None,
            esp_gcm,
        ),
        (
            "aes256-sha256-ecp256",
            DhGroup::Ecp256,
            Encryption::AesCbc { key_bits: 256 },
            Some(Integrity::HmacSha256_128),
            esp_cbc,
        ),
        (
            "aes256-sha256-modp2048",
            DhGroup::Modp2048,
            Encryption::AesCbc { key_bits: 256 },
            Some(Integrity::HmacSha256_128),
            esp_cbc,
        ),
    ];
    let mut g = c.benchmark_group("ike_sa_establishment");
    g.throughput(Throughput::Elements(1));
    for (name, dh, encryption, integrity, esp) in cases {
        let ike = IkeProposal {
            encryption,
            integrity,
            prf: Prf::HmacSha256,
            dh,
        };
        let mut seed = 0u64;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                seed += 1;
                black_box(establish(seed, ike, esp))
            })
        });
        g.bench_function(format!("{name}/dh-baseline"), |bch| {
            bch.iter(|| {
                seed += 1;
                black_box(dh_only(seed, dh))
            })
        });
    }
    g.finish();
}

fn esp_pair(enc: Encryption, integ: Option<Integrity>) -> (EspSa, EspSa) {
    let k = || {
        SymKey::new(
            enc,
            integ,
            &[7u8; 36][..if integ.is_some() { 32 } else { 36 }],
            &[9u8; 32],
        )
        .expect("keys")
    };
    let limits = TrafficLimits::default();
    (
        EspSa::new(1, 2, k(), k(), limits),
        EspSa::new(2, 1, k(), k(), limits),
    )
}

fn esp_throughput(c: &mut Criterion) {
    let mut packet = vec![0xabu8; 1400];
    packet[0] = 0x45;
    let mut g = c.benchmark_group("esp_seal_open_1400");
    g.throughput(Throughput::Bytes(1400));
    for (name, enc, integ) in [
        ("aes256gcm16", Encryption::AesGcm16 { key_bits: 256 }, None),
        ("aes128gcm16", Encryption::AesGcm16 { key_bits: 128 }, None),
        (
            "aes256-sha256",
            Encryption::AesCbc { key_bits: 256 },
            Some(Integrity::HmacSha256_128),
        ),
    ] {
        let (mut tx, mut rx) = esp_pair(enc, integ);
        let mut out = Vec::with_capacity(1500);
        g.bench_function(name, |bch| {
            bch.iter(|| {
                tx.seal(black_box(&packet), &mut out).expect("seal");
                black_box(rx.open(&mut out).expect("open").len())
            })
        });
    }
    // Baseline: the bare AEAD on the same bytes, no ESP framing, sequence or replay work.
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    let aead = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
    let mut buf = packet.clone();
    g.bench_function("aes256gcm-baseline", |bch| {
        bch.iter(|| {
            let nonce = aes_gcm::Nonce::from_slice(&[1u8; 12]);
            let tag = aead
                .encrypt_in_place_detached(nonce, b"spiseq00", &mut buf)
                .expect("encrypt");
            aead.decrypt_in_place_detached(nonce, b"spiseq00", &mut buf, &tag)
                .expect("decrypt");
            black_box(buf[0])
        })
    });
    g.finish();
}

criterion_group!(benches, ike_establishment, esp_throughput);
criterion_main!(benches);
