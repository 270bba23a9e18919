//! A simulated network for two endpoints with a virtual clock: loss, duplication and
//! reordering from a seeded RNG, an optional NAT in front of node A, partitions, and
//! helpers to build peers, proposals and inner packets.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cvlan_ipsec::transforms::{DhGroup, Encryption, EspProposal, IkeProposal, Integrity, Prf};
use cvlan_ipsec::ts::TrafficSelector;
use cvlan_ipsec::{Endpoint, EndpointConfig, Event, PeerConfig, PeerId, Psk, Received};
use cvlan_types::Remote;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const NAT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const A_NET: &str = "192.168.1.0/24";
pub const B_NET: &str = "192.168.2.0/24";

pub fn ike(
    encryption: Encryption,
    integrity: Option<Integrity>,
    prf: Prf,
    dh: DhGroup,
) -> IkeProposal {
    IkeProposal {
        encryption,
        integrity,
        prf,
        dh,
    }
}

pub fn gcm(bits: u16) -> Encryption {
    Encryption::AesGcm16 { key_bits: bits }
}

pub fn cbc(bits: u16) -> Encryption {
    Encryption::AesCbc { key_bits: bits }
}

/// `aes256gcm16-prfsha256-x25519`.
pub fn ike_gcm_x25519() -> IkeProposal {
    ike(gcm(256), None, Prf::HmacSha256, DhGroup::Curve25519)
}

/// `aes256-sha256-ecp256`.
pub fn ike_cbc_ecp256() -> IkeProposal {
    ike(
        cbc(256),
        Some(Integrity::HmacSha256_128),
        Prf::HmacSha256,
        DhGroup::Ecp256,
    )
}

/// `aes256-sha256-modp2048`.
pub fn ike_cbc_modp2048() -> IkeProposal {
    ike(
        cbc(256),
        Some(Integrity::HmacSha256_128),
        Prf::HmacSha256,
        DhGroup::Modp2048,
    )
}

pub fn esp(
    encryption: Encryption,
    integrity: Option<Integrity>,
    dh: Option<DhGroup>,
) -> EspProposal {
    EspProposal {
        encryption,
        integrity,
        dh,
    }
}

pub fn ts(net: &str) -> TrafficSelector {
    TrafficSelector::from_net(net.parse().unwrap())
}

/// A peer with the usual lab settings; `remote` None means `%any`.
pub fn peer(
    remote: Option<Ipv4Addr>,
    local_id: &str,
    remote_id: &str,
    psk: &str,
    local_net: &str,
    remote_net: &str,
) -> PeerConfig {
    PeerConfig {
        name: format!("peer-{remote_id}"),
        remote: remote.map_or(Remote::Any, |a| Remote::Address(IpAddr::V4(a))),
        remote_port: 500,
        local_id: local_id.into(),
        remote_id: remote_id.into(),
        psk: Psk::new(psk.as_bytes()),
        local_ts: vec![ts(local_net)],
        remote_ts: vec![ts(remote_net)],
        ike_proposals: vec![ike_gcm_x25519()],
        esp_proposals: vec![esp(gcm(256), None, None)],
        ike_lifetime: Duration::from_secs(24 * 3600),
        child_lifetime: Duration::from_secs(3600),
        dpd: Some(Duration::from_secs(30)),
        child_limits: Default::default(),
    }
}

/// A minimal IPv4/UDP packet from `src` to `dst` with `payload`.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[
        0x30,
        0x39,
        0x00,
        0x35,
        (payload.len() as u16 + 8).to_be_bytes()[0],
        (payload.len() as u16 + 8).to_be_bytes()[1],
        0,
        0,
    ]);
    p.extend_from_slice(payload);
    p
}

pub struct Node {
    pub ep: Endpoint,
    pub ip: Ipv4Addr,
    pub events: Vec<Event>,
    pub inner: Vec<Vec<u8>>,
    pub peer: PeerId,
}

struct InFlight {
    at: Instant,
    seq: u64,
    src: SocketAddr,
    dst: SocketAddr,
    bytes: Vec<u8>,
}

/// Two endpoints on a simulated network.
pub struct Sim {
    pub now: Instant,
    pub nodes: [Node; 2],
    flights: Vec<InFlight>,
    rng: ChaCha20Rng,
    seq: u64,
    pub loss: f64,
    pub dup: f64,
    pub jitter: Duration,
    pub latency: Duration,
    /// Node A sits behind a NAT that maps its ports to `NAT_IP:nat_base+port`.
    pub nat: bool,
    /// Where the NAT maps node A's ports; changing it simulates a NAT rebinding.
    pub nat_base: u16,
    /// Datagrams to or from this node are dropped.
    pub partitioned: Option<usize>,
    pub delivered: u64,
    /// Every datagram delivered, for replay tests: (to node, local, remote, bytes).
    pub transcript: Vec<(usize, SocketAddr, SocketAddr, Vec<u8>)>,
}

pub fn config(ip: Ipv4Addr) -> EndpointConfig {
    EndpointConfig {
        local_ip: IpAddr::V4(ip),
        ..EndpointConfig::default()
    }
}

impl Sim {
    /// Node A initiates to node B; both get the given peer configs.
    pub fn new(seed: u64, a_peer: PeerConfig, b_peer: PeerConfig) -> Self {
        Self::with_configs(seed, a_peer, b_peer, config(A_IP), config(B_IP))
    }

    pub fn with_configs(
        seed: u64,
        a_peer: PeerConfig,
        b_peer: PeerConfig,
        a_cfg: EndpointConfig,
        b_cfg: EndpointConfig,
    ) -> Self {
        let now = Instant::now();
        let mut a = Endpoint::new(
            a_cfg,
            Box::new(ChaCha20Rng::seed_from_u64(seed * 2 + 1)),
            now,
        );
        let mut b = Endpoint::new(
            b_cfg,
            Box::new(ChaCha20Rng::seed_from_u64(seed * 2 + 2)),
            now,
        );
        let pa = a.add_peer(a_peer);
        let pb = b.add_peer(b_peer);
        Self {
            now,
            nodes: [
                Node {
                    ep: a,
                    ip: A_IP,
                    events: Vec::new(),
                    inner: Vec::new(),
                    peer: pa,
                },
                Node {
                    ep: b,
                    ip: B_IP,
                    events: Vec::new(),
                    inner: Vec::new(),
                    peer: pb,
                },
            ],
            flights: Vec::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            seq: 0,
            loss: 0.0,
            dup: 0.0,
            jitter: Duration::ZERO,
            latency: Duration::from_millis(5),
            nat: false,
            nat_base: 40000,
            partitioned: None,
            delivered: 0,
            transcript: Vec::new(),
        }
    }

    /// The standard pair: A (fixed address of B) initiates, B answers `%any`.
    pub fn pair(seed: u64, ike: Vec<IkeProposal>, esp: Vec<EspProposal>) -> Self {
        let mut a = peer(
            Some(B_IP),
            "a.example",
            "b.example",
            "secret-psk-123",
            A_NET,
            B_NET,
        );
        let mut b = peer(
            None,
            "b.example",
            "a.example",
            "secret-psk-123",
            B_NET,
            A_NET,
        );
        a.ike_proposals = ike.clone();
        b.ike_proposals = ike;
        a.esp_proposals = esp.clone();
        b.esp_proposals = esp;
        Self::new(seed, a, b)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u32() as f64 / u32::MAX as f64) < p
    }

    fn send(&mut self, from: usize, mut src: SocketAddr, dst: SocketAddr, bytes: Vec<u8>) {
        if self
            .partitioned
            .is_some_and(|p| p == from || self.node_of(dst) == Some(p))
        {
            return;
        }
        if self.nat && from == 0 {
            src = SocketAddr::new(IpAddr::V4(NAT_IP), self.nat_base + src.port());
        }
        let copies = if self.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            if self.chance(self.loss) {
                continue;
            }
            let extra = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.jitter
                    .mul_f64(self.rng.next_u32() as f64 / u32::MAX as f64)
            };
            self.seq += 1;
            self.flights.push(InFlight {
                at: self.now + self.latency + extra,
                seq: self.seq,
                src,
                dst,
                bytes: bytes.clone(),
            });
        }
    }

    fn node_of(&self, dst: SocketAddr) -> Option<usize> {
        match dst.ip() {
            IpAddr::V4(ip) if ip == B_IP => Some(1),
            IpAddr::V4(ip) if ip == A_IP && !self.nat => Some(0),
            IpAddr::V4(ip) if ip == NAT_IP && self.nat => Some(0),
            _ => None,
        }
    }

    fn collect(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.nodes[i].ep.poll_transmit() {
                self.send(i, t.src, t.dst, t.bytes);
            }
            while let Some(e) = self.nodes[i].ep.poll_event() {
                self.nodes[i].events.push(e);
            }
        }
    }

    fn deliver(&mut self, f: InFlight) {
        let Some(to) = self.node_of(f.dst) else {
            return;
        };
        let local = if to == 0 && self.nat {
            // A mapping from before a rebinding is gone: such datagrams are lost.
            let Some(port) = f
                .dst
                .port()
                .checked_sub(self.nat_base)
                .filter(|p| *p == 500 || *p == 4500)
            else {
                return;
            };
            SocketAddr::new(IpAddr::V4(A_IP), port)
        } else {
            f.dst
        };
        let mut bytes = f.bytes;
        self.transcript.push((to, local, f.src, bytes.clone()));
        self.delivered += 1;
        let now = self.now;
        let r = self.nodes[to]
            .ep
            .handle_datagram(now, local, f.src, &mut bytes);
        if let Received::Decrypted { packet, .. } = r {
            self.nodes[to].inner.push(bytes[packet].to_vec());
        }
    }

    /// Runs the network until `until`, delivering datagrams and firing timers in order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.collect();
            let next_flight = self.flights.iter().map(|f| (f.at, f.seq)).min();
            let next_timer = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
            let t_flight = next_flight.map(|f| f.0);
            let next = [t_flight, next_timer].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            if t_flight == Some(next) {
                let key = next_flight.unwrap();
                let idx = self
                    .flights
                    .iter()
                    .position(|f| (f.at, f.seq) == key)
                    .unwrap();
                let f = self.flights.swap_remove(idx);
                self.deliver(f);
            } else {
                let now = self.now;
                for n in &mut self.nodes {
                    if n.ep.poll_timeout().is_some_and(|t| t <= now) {
                        n.ep.handle_timeout(now);
                    }
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// A initiates and the network runs for `d`.
    pub fn establish(&mut self, d: Duration) {
        let now = self.now;
        let peer = self.nodes[0].peer;
        self.nodes[0].ep.initiate(now, peer).unwrap();
        self.run_for(d);
    }

    /// Sends one inner packet from node `from` through the tunnel; returns whether it was sealed.
    pub fn send_inner(&mut self, from: usize, payload: &[u8]) -> bool {
        let (src, dst) = if from == 0 {
            (
                Ipv4Addr::new(192, 168, 1, 10),
                Ipv4Addr::new(192, 168, 2, 20),
            )
        } else {
            (
                Ipv4Addr::new(192, 168, 2, 20),
                Ipv4Addr::new(192, 168, 1, 10),
            )
        };
        let pkt = ipv4_udp(src, dst, payload);
        let mut out = Vec::new();
        let now = self.now;
        let peer = self.nodes[from].peer;
        match self.nodes[from].ep.encrypt(now, peer, &pkt, &mut out) {
            Ok(t) => {
                self.send(from, t.src, t.dst, out);
                true
            }
            Err(_) => false,
        }
    }

    pub fn events(&self, node: usize) -> &[Event] {
        &self.nodes[node].events
    }

    pub fn count(&self, node: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.nodes[node].events.iter().filter(|e| f(e)).count()
    }
}
