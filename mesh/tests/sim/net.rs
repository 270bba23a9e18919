//! The virtual network: nodes (an engine each, perhaps behind a NAT box), the links between
//! them, and the virtual clock that delivers datagrams and runs timers in time order.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cvlan_mesh::{Engine, Event, PacketFilter, PassAll, PeerConfig, PrivateKey, PublicKey};
use ipnet::IpNet;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::link::{Faults, Links};
use super::nat::{Nat, NatConfig};
use super::pacing::Pacing;
use super::packet::ip_packet;
use super::queue::{Datagram, DeliveryQueue};

/// More events than any test needs without a bug (a datagram storm, a timer that never moves).
const EVENT_LIMIT: usize = 1_000_000;

/// One simulated host.
pub struct Node<F: PacketFilter = PassAll> {
    /// Its engine.
    pub engine: Engine<F>,
    /// The address it sends from and receives at (behind a NAT: its inside address).
    pub addr: SocketAddr,
    /// Its overlay address.
    pub overlay: IpAddr,
    /// Every packet its engine wrote to the TUN.
    pub received: Vec<Vec<u8>>,
    /// Every event its engine reported.
    pub events: Vec<Event>,
    /// The NAT box in front of it, if any.
    pub nat: Option<Nat>,
}

impl<F: PacketFilter> Node<F> {
    /// Its public key.
    pub fn key(&self) -> PublicKey {
        self.engine.public_key()
    }

    /// This node as a peer of others: its overlay /32 (or /128), its address as endpoint.
    pub fn as_peer(&self) -> PeerConfig {
        self.as_peer_at(Some(self.addr))
    }

    /// This node as a peer of others, with the given endpoint (none: learnt when it calls).
    pub fn as_peer_at(&self, endpoint: Option<SocketAddr>) -> PeerConfig {
        PeerConfig {
            endpoint,
            ..PeerConfig::new(self.key(), [IpNet::from(self.overlay)])
        }
    }

    /// Whether a datagram to `to` on the wire is for this node (its NAT's address, or its own).
    fn answers_to(&self, to: SocketAddr) -> bool {
        match &self.nat {
            Some(nat) => nat.config().public == to.ip(),
            None => self.addr == to,
        }
    }
}

/// Nodes, links, datagrams in flight and the virtual clock.
pub struct Net<F: PacketFilter = PassAll> {
    /// The hosts, node `i` at `addr(i + 1)` unless moved.
    pub nodes: Vec<Node<F>>,
    /// The virtual clock.
    pub now: Instant,
    /// Every datagram that arrived at its destination address, as it was on the wire (from,
    /// to, bytes): after link faults, before any NAT filter. For replay tests and counting.
    pub captured: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    wire: DeliveryQueue,
    links: Links,
    pacing: Option<Pacing>,
}

/// Node `n`'s public address (node `i` is `n = i + 1`).
pub fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 51820))
}

/// Node `n`'s overlay address.
pub fn overlay(n: u8) -> IpAddr {
    IpAddr::from([100, 64, 0, n])
}

/// Node `n`'s inside address when it sits behind a NAT.
pub fn inside(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 51820))
}

/// The public address of the NAT box in front of node `n`, by convention.
pub fn nat_ip(n: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, n])
}

impl Net<PassAll> {
    /// `n` nodes, all peers of each other.
    pub fn full_mesh(n: u8) -> Self {
        let keys: Vec<PrivateKey> = (1..=n).map(|_| PrivateKey::generate()).collect();
        Self::full_mesh_with(&keys)
    }

    /// A full mesh of one node per key, node `i` at `addr(i + 1)`.
    pub fn full_mesh_with(keys: &[PrivateKey]) -> Self {
        let now = Instant::now();
        Net::full_mesh_of(
            keys.iter().map(|k| Engine::new(k.clone(), now)).collect(),
            now,
        )
    }

    /// A full mesh of `n` nodes whose keys and link faults all come from `seed`.
    pub fn seeded(n: u8, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        let keys: Vec<PrivateKey> = (0..n)
            .map(|_| {
                let mut bytes = [0; 32];
                rng.fill_bytes(&mut bytes);
                PrivateKey::from_bytes(bytes)
            })
            .collect();
        let mut net = Self::full_mesh_with(&keys);
        net.links = Links::new(seed);
        net
    }

    /// Node `i` restarts with `key`: a fresh engine (no sessions) given the other nodes as
    /// peers in `order`.
    pub fn restart(&mut self, i: usize, key: &PrivateKey, order: &[usize]) {
        self.nodes[i].engine = Engine::new(key.clone(), self.now);
        self.nodes[i].received.clear();
        let peers = order.iter().map(|&j| self.nodes[j].as_peer()).collect();
        self.nodes[i].engine.set_peers(peers).unwrap();
    }
}

impl<F: PacketFilter> Net<F> {
    /// A full mesh of these engines (made at `now`), engine `i` at `addr(i + 1)` with overlay
    /// address `overlay(i + 1)`.
    pub fn full_mesh_of(engines: Vec<Engine<F>>, now: Instant) -> Self {
        let nodes = (1..)
            .zip(engines)
            .map(|(i, engine)| Node {
                engine,
                addr: addr(i),
                overlay: overlay(i),
                received: Vec::new(),
                events: Vec::new(),
                nat: None,
            })
            .collect();
        let mut net = Net::from_nodes(nodes, now);
        net.connect_all();
        net
    }

    /// A network of these nodes with perfect links and the clock at `now`.
    pub fn from_nodes(nodes: Vec<Node<F>>, now: Instant) -> Self {
        Self {
            nodes,
            now,
            captured: Vec::new(),
            wire: DeliveryQueue::default(),
            links: Links::new(0),
            pacing: None,
        }
    }

    /// Makes every node a peer of every other, at its current address.
    pub fn connect_all(&mut self) {
        let configs: Vec<PeerConfig> = self.nodes.iter().map(Node::as_peer).collect();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let peers = configs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c.clone())
                .collect();
            node.engine.set_peers(peers).unwrap();
        }
    }

    /// Gives every link these faults.
    pub fn set_faults(&mut self, faults: Faults) {
        self.links.set_all(faults);
    }

    /// Gives the link from node `from` to node `to` (one direction) these faults.
    pub fn set_link_faults(&mut self, from: usize, to: usize, faults: Faults) {
        self.links.get(from, to).faults = faults;
    }

    /// Ties the virtual clock to real time from now on (or unties it): see [`Pacing`].
    pub fn pace_real_time(&mut self, paced: bool) {
        self.pacing = paced.then(|| Pacing::starting_at(self.now));
    }

    /// Puts node `i` behind a NAT box: it moves to `inside(i + 1)` and the box's public
    /// address answers for it. Its peers' configured endpoints are left as they were.
    pub fn behind_nat(&mut self, i: usize, config: NatConfig) {
        let n = u8::try_from(i + 1).unwrap();
        let node = &mut self.nodes[i];
        node.addr = inside(n);
        node.nat = Some(Nat::new(config));
    }

    /// The NAT box in front of node `i`.
    pub fn nat(&mut self, i: usize) -> &mut Nat {
        self.nodes[i].nat.as_mut().expect("node is behind a NAT")
    }

    /// Where node `on` currently sends to reach node `of`.
    pub fn endpoint(&self, on: usize, of: usize) -> Option<SocketAddr> {
        self.stats(on, of).endpoint
    }

    /// Node `from` writes an IP packet to its TUN addressed to `dst` with source `src`.
    pub fn send_ip(&mut self, from: usize, src: IpAddr, dst: IpAddr, payload: &[u8]) {
        let packet = ip_packet(src, dst, payload);
        let now = self.now;
        self.nodes[from].engine.handle_tun_packet(now, &packet);
        self.run();
    }

    /// Node `from` sends `payload` to node `to` over the overlay.
    pub fn ping(&mut self, from: usize, to: usize, payload: &[u8]) {
        let (src, dst) = (self.nodes[from].overlay, self.nodes[to].overlay);
        self.send_ip(from, src, dst, payload);
    }

    /// Node `from` writes a packet for node `to` to its TUN, without running the network.
    pub fn queue_ping(&mut self, from: usize, to: usize, payload: &[u8]) {
        let packet = ip_packet(self.nodes[from].overlay, self.nodes[to].overlay, payload);
        let now = self.now;
        self.nodes[from].engine.handle_tun_packet(now, &packet);
    }

    /// Injects a datagram as if `from` had sent it to node `to`'s address.
    pub fn inject(&mut self, from: SocketAddr, to: usize, bytes: &[u8]) {
        let dst = self.nodes[to].addr;
        self.inject_to(from, dst, bytes);
    }

    /// Injects a datagram from `from` to address `to`, past the fault model, and runs.
    pub fn inject_to(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let datagram = Datagram {
            from,
            to,
            bytes: bytes.to_vec(),
        };
        self.wire.push(self.now, datagram);
        self.run();
    }

    /// Delivers everything in flight, moving the clock to each arrival (and running the
    /// timers that fall due on the way), until nothing is left on the wire.
    pub fn run(&mut self) {
        for _ in 0..EVENT_LIMIT {
            if !self.step(None) {
                return;
            }
        }
        panic!("network never went quiet");
    }

    /// Runs the network for `by` of virtual time: arrivals and timers in time order.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        self.run_until(end);
    }

    /// Runs arrivals and timers in time order up to and including `end`, then sets the
    /// clock to `end`.
    pub fn run_until(&mut self, end: Instant) {
        for _ in 0..EVENT_LIMIT {
            if !self.step(Some(end)) {
                let end = end.max(self.now);
                self.set_now(end);
                return;
            }
        }
        panic!("too many events before {end:?}");
    }

    /// Node `on`'s view of node `of`.
    pub fn stats(&self, on: usize, of: usize) -> cvlan_mesh::PeerStats {
        let key = self.nodes[of].key();
        self.nodes[on]
            .engine
            .peer_stats(&key)
            .expect("peer configured")
    }

    /// Takes what the engines want done, then handles the next arrival or timer if there is
    /// one before `end` (with no end: only while datagrams are in flight). False when idle.
    fn step(&mut self, end: Option<Instant>) -> bool {
        self.collect();
        let arrival = self.wire.next_at();
        let timer = self.next_timer();
        let (at, is_arrival) = match arrival {
            Some(a) if timer.is_none_or(|t| a <= t) => (a, true),
            _ => match timer {
                Some(t) => (t, false),
                None => return false,
            },
        };
        let due = match end {
            Some(end) => at <= end,
            None => arrival.is_some(),
        };
        if !due {
            return false;
        }
        let at = at.max(self.now);
        self.set_now(at);
        if is_arrival {
            let datagram = self.wire.pop().expect("an arrival is due");
            self.deliver(datagram);
        } else {
            for node in &mut self.nodes {
                if node.engine.poll_timeout() <= at {
                    node.engine.handle_timeout(at);
                }
            }
        }
        true
    }

    fn next_timer(&self) -> Option<Instant> {
        self.nodes.iter().map(|n| n.engine.poll_timeout()).min()
    }

    fn set_now(&mut self, now: Instant) {
        if let Some(pacing) = &self.pacing {
            pacing.wait_until(now);
        }
        self.now = now;
    }

    /// The node that datagrams to `to` on the wire reach.
    fn host_of(&self, to: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.answers_to(to))
    }

    /// Node `from` sends a datagram to `to`: through its NAT, then its link to whoever
    /// answers for `to` (to nobody: it arrives at once and is captured, nothing more).
    fn send(&mut self, from: usize, to: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        let node = &mut self.nodes[from];
        let src = match &mut node.nat {
            Some(nat) => nat.outbound(now, node.addr, to),
            None => node.addr,
        };
        let datagram = Datagram {
            from: src,
            to,
            bytes,
        };
        let Some(host) = self.host_of(to) else {
            self.wire.push(now, datagram);
            return;
        };
        for delay in self.links.get(from, host).transmit() {
            self.wire.push(now + delay, datagram.clone());
        }
    }

    /// A datagram arrives at its address: through the NAT there, if any, to the node.
    fn deliver(&mut self, d: Datagram) {
        self.captured.push((d.from, d.to, d.bytes.clone()));
        let now = self.now;
        let Some(host) = self.host_of(d.to) else {
            return;
        };
        let node = &mut self.nodes[host];
        let local = match &mut node.nat {
            Some(nat) => nat.inbound(now, d.from, d.to),
            None => Some(d.to),
        };
        if local == Some(node.addr) {
            node.engine.handle_datagram(now, d.from, &d.bytes);
        }
    }

    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            let mut buf = Vec::new();
            while let Some(t) = self.nodes[i].engine.poll_transmit(&mut buf, 64) {
                let seg = t.segment_size.unwrap_or(t.size);
                let datagrams: Vec<Vec<u8>> = buf[buf.len() - t.size..]
                    .chunks(seg)
                    .map(<[u8]>::to_vec)
                    .collect();
                for datagram in datagrams {
                    self.send(i, t.destination, datagram);
                }
                buf.clear();
            }
            let node = &mut self.nodes[i];
            while node.engine.poll_tun_packet(&mut buf).is_some() {
                node.received.push(std::mem::take(&mut buf));
            }
            while let Some(e) = node.engine.poll_event() {
                node.events.push(e);
            }
        }
    }
}
