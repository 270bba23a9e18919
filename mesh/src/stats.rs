//! Snapshots of the engine's state for the local API (`cvlanctl peers`, `status`, cvtui).
//!
//! The daemon attaches names and overlay addresses from its netmap; the engine knows keys.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cvlan_types::PublicKey;
use ipnet::IpNet;

use crate::event::DropCounters;

/// One peer's data-plane state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Allowed IPs as configured.
    pub allowed_ips: Vec<IpNet>,
    /// The endpoint in use (static, or learned from authenticated packets).
    pub endpoint: Option<SocketAddr>,
    /// The configured static endpoint.
    pub static_endpoint: Option<SocketAddr>,
    /// Persistent keepalive interval in seconds.
    pub persistent_keepalive: Option<u16>,
    /// When the last handshake completed (engine time).
    pub last_handshake: Option<Instant>,
    /// Handshakes completed since the peer was added.
    pub handshakes: u64,
    /// Handshake initiations sent since the peer was added.
    pub handshake_attempts: u64,
    /// UDP payload bytes of authenticated WireGuard messages received from the peer.
    pub rx_bytes: u64,
    /// UDP payload bytes sent to the peer (all WireGuard messages).
    pub tx_bytes: u64,
    /// IP packets from the peer delivered to the TUN.
    pub rx_packets: u64,
    /// IP packets from the TUN sent to the peer.
    pub tx_packets: u64,
    /// Decrypted packets from the peer dropped: malformed, an inner source outside its
    /// allowed IPs, or refused by the policy filter.
    pub rx_dropped: u64,
    /// Whether the peer holds a WireGuard session (tunnel): a cold peer is configuration and
    /// counters only, and its first packet either way brings it up.
    pub warm: bool,
    /// Round-trip time of the last handshake this node initiated (boringtun measures it on
    /// its own clock, in whole milliseconds).
    pub handshake_rtt: Option<Duration>,
}

impl PeerStats {
    /// Time since the last handshake, as of `now`.
    pub fn handshake_age(&self, now: Instant) -> Option<Duration> {
        self.last_handshake
            .map(|t| now.saturating_duration_since(t))
    }
}

/// The engine as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStats {
    /// This node's public key.
    pub public_key: PublicKey,
    /// Number of configured peers.
    pub peers: usize,
    /// How many of them hold a tunnel now.
    pub warm_peers: usize,
    /// Number of allowed-IP prefixes in the routing table.
    pub routes: usize,
    /// Drops by reason.
    pub drops: DropCounters,
    /// Events not queued because the event queue was full.
    pub events_lost: u64,
}
