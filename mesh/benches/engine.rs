//! Per-packet cost of the engine against bare boringtun, in the same run: a 1400-byte packet
//! encrypted by one side and decrypted by the other. The difference is what routing, the
//! filter hook, counters and output queues add on top of the crypto.
//!
//! Run: `cargo bench -p cvlan-mesh --bench engine`.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use boringtun::noise::{Tunn, TunnResult};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cvlan_mesh::{Engine, PeerConfig, PrivateKey};
use ipnet::IpNet;
use rand_core::OsRng;
use x25519_dalek::{PublicKey, StaticSecret};

const SIZES: [usize; 2] = [64, 1400];

/// An IPv4 packet of `len` bytes from 100.64.0.1 to 100.64.0.2.
fn packet(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(len).expect("small").to_be_bytes());
    p[9] = 17;
    p[12..16].copy_from_slice(&[100, 64, 0, 1]);
    p[16..20].copy_from_slice(&[100, 64, 0, 2]);
    p
}

fn expect_network(r: TunnResult<'_>) -> Vec<u8> {
    match r {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("expected a datagram, got {other:?}"),
    }
}

fn raw_pair() -> (Tunn, Tunn) {
    let (ka, kb) = (
        StaticSecret::random_from_rng(OsRng),
        StaticSecret::random_from_rng(OsRng),
    );
    let (pa, pb) = (PublicKey::from(&ka), PublicKey::from(&kb));
    let mut a = Tunn::new(ka, pb, None, None, 1, None);
    let mut b = Tunn::new(kb, pa, None, None, 2, None);
    let mut buf = vec![0u8; 2048];
    let init = expect_network(a.format_handshake_initiation(&mut buf, false));
    let resp = expect_network(b.decapsulate(None, &init, &mut buf));
    let keepalive = expect_network(a.decapsulate(None, &resp, &mut buf));
    assert!(matches!(
        b.decapsulate(None, &keepalive, &mut buf),
        TunnResult::Done
    ));
    (a, b)
}

struct EnginePair {
    a: Engine,
    b: Engine,
    now: Instant,
    wire: Vec<u8>,
    tun: Vec<u8>,
}

const ADDR_A: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)), 1);
const ADDR_B: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)), 2);

impl EnginePair {
    fn new() -> Self {
        let now = Instant::now();
        let (ka, kb) = (PrivateKey::generate(), PrivateKey::generate());
        let net = |s: &str| s.parse::<IpNet>().expect("prefix");
        let mut a = Engine::new(ka.clone(), now);
        let mut b = Engine::new(kb.clone(), now);
        a.set_peers(vec![
            PeerConfig::new(kb.public_key(), [net("100.64.0.2/32")]).with_endpoint(ADDR_B),
        ])
        .expect("peers");
        b.set_peers(vec![
            PeerConfig::new(ka.public_key(), [net("100.64.0.1/32")]).with_endpoint(ADDR_A),
        ])
        .expect("peers");
        let mut pair = Self {
            a,
            b,
            now,
            wire: Vec::new(),
            tun: Vec::new(),
        };
        pair.round_trip(&packet(100));
        pair
    }

    /// Sends `p` from a to b and moves every datagram until quiet; returns bytes delivered.
    fn round_trip(&mut self, p: &[u8]) -> usize {
        self.a.handle_tun_packet(self.now, p);
        let mut delivered = 0;
        loop {
            let mut moved = false;
            self.wire.clear();
            while let Some(t) = self.a.poll_transmit(&mut self.wire, 1) {
                self.b
                    .handle_datagram(self.now, ADDR_A, &self.wire[self.wire.len() - t.size..]);
                moved = true;
            }
            self.wire.clear();
            while let Some(t) = self.b.poll_transmit(&mut self.wire, 1) {
                self.a
                    .handle_datagram(self.now, ADDR_B, &self.wire[self.wire.len() - t.size..]);
                moved = true;
            }
            self.tun.clear();
            while let Some(n) = self.b.poll_tun_packet(&mut self.tun) {
                delivered += n;
            }
            if !moved {
                return delivered;
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("encrypt+decrypt");
    for size in SIZES {
        let p = packet(size);
        group.throughput(Throughput::Bytes(size as u64));
        let (mut a, mut b) = raw_pair();
        let (mut enc, mut dec) = (vec![0u8; 2048], vec![0u8; 2048]);
        group.bench_with_input(BenchmarkId::new("boringtun Tunn", size), &p, |bench, p| {
            bench.iter(|| {
                let TunnResult::WriteToNetwork(d) = a.encapsulate(p, &mut enc) else {
                    panic!("no session");
                };
                match b.decapsulate(None, d, &mut dec) {
                    TunnResult::WriteToTunnelV4(out, _) => out.len(),
                    other => panic!("{other:?}"),
                }
            });
        });
        let mut pair = EnginePair::new();
        group.bench_with_input(
            BenchmarkId::new("cvlan-mesh Engine", size),
            &p,
            |bench, p| {
                bench.iter(|| assert_eq!(pair.round_trip(p), p.len()));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
