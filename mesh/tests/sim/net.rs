//! The virtual network: nodes with an engine each, in-memory datagrams, virtual time,
//! per-node addresses that tests can move (roaming) and a tap to inject or drop datagrams.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cvlan_mesh::{Engine, Event, PacketFilter, PassAll, PeerConfig, PrivateKey, PublicKey};
use ipnet::IpNet;

use super::packet::ip_packet;

/// One simulated host.
pub struct Node<F: PacketFilter = PassAll> {
    pub engine: Engine<F>,
    pub addr: SocketAddr,
    pub overlay: IpAddr,
    pub received: Vec<Vec<u8>>,
    pub events: Vec<Event>,
}

impl<F: PacketFilter> Node<F> {
    pub fn key(&self) -> PublicKey {
        self.engine.public_key()
    }

    /// This node as a peer of others: its overlay /32 (or /128), its address as endpoint.
    pub fn as_peer(&self) -> PeerConfig {
        PeerConfig::new(self.key(), [IpNet::from(self.overlay)]).with_endpoint(self.addr)
    }
}

/// Datagrams in flight: (from, to, bytes).
pub type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;

pub struct Net<F: PacketFilter = PassAll> {
    pub nodes: Vec<Node<F>>,
    pub now: Instant,
    /// Every datagram delivered, for replay tests.
    pub captured: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    wire: Wire,
}

pub fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 51820))
}

pub fn overlay(n: u8) -> IpAddr {
    IpAddr::from([100, 64, 0, n])
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
            })
            .collect();
        let mut net = Net::from_nodes(nodes, now);
        net.connect_all();
        net
    }

    pub fn from_nodes(nodes: Vec<Node<F>>, now: Instant) -> Self {
        Self {
            nodes,
            now,
            captured: Vec::new(),
            wire: Wire::new(),
        }
    }

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

    /// Injects a datagram as if `from` had sent it to node `to`.
    pub fn inject(&mut self, from: SocketAddr, to: usize, bytes: &[u8]) {
        let dst = self.nodes[to].addr;
        self.wire.push_back((from, dst, bytes.to_vec()));
        self.run();
    }

    /// Moves everything until the network is quiet.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            self.collect();
            let Some((from, to, bytes)) = self.wire.pop_front() else {
                return;
            };
            self.captured.push((from, to, bytes.clone()));
            let now = self.now;
            if let Some(node) = self.nodes.iter_mut().find(|n| n.addr == to) {
                node.engine.handle_datagram(now, from, &bytes);
            }
        }
        panic!("network never went quiet");
    }

    /// Advances virtual time in steps of 250 ms, running timers.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(250)).min(end);
            let now = self.now;
            for node in &mut self.nodes {
                if node.engine.poll_timeout() <= now {
                    node.engine.handle_timeout(now);
                }
            }
            self.run();
        }
    }

    fn collect(&mut self) {
        for node in &mut self.nodes {
            let mut buf = Vec::new();
            while let Some(t) = node.engine.poll_transmit(&mut buf, 64) {
                let seg = t.segment_size.unwrap_or(t.size);
                for chunk in buf[buf.len() - t.size..].chunks(seg) {
                    self.wire
                        .push_back((node.addr, t.destination, chunk.to_vec()));
                }
                buf.clear();
            }
            while node.engine.poll_tun_packet(&mut buf).is_some() {
                node.received.push(std::mem::take(&mut buf));
            }
            while let Some(e) = node.engine.poll_event() {
                node.events.push(e);
            }
        }
    }

    pub fn stats(&self, on: usize, of: usize) -> cvlan_mesh::PeerStats {
        let key = self.nodes[of].key();
        self.nodes[on]
            .engine
            .peer_stats(&key)
            .expect("peer configured")
    }
}
