//! One configured peer: its boringtun tunnel, configuration, endpoint and counters.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::Tunn;
use boringtun::noise::rate_limiter::RateLimiter;
use cvlan_types::PublicKey;

use crate::PrivateKey;
use crate::config::PeerConfig;
use crate::routing::PeerIdx;
use crate::stats::PeerStats;

/// WireGuard message types (first byte of every message).
pub(super) const MSG_HANDSHAKE_INIT: u8 = 1;
pub(super) const MSG_HANDSHAKE_RESP: u8 = 2;
pub(super) const MSG_COOKIE_REPLY: u8 = 3;
pub(super) const MSG_DATA: u8 = 4;

pub(super) struct Peer {
    pub(super) idx: PeerIdx,
    /// Created on first use: an idle peer costs a few hundred bytes instead of boringtun's
    /// ~11 KB tunnel and an x25519 operation, which matters at 100,000 configured peers.
    tunn: Option<Box<Tunn>>,
    pub(super) config: PeerConfig,
    pub(super) endpoint: Option<SocketAddr>,
    pub(super) last_handshake: Option<Instant>,
    pub(super) last_sent: Option<Instant>,
    /// The last authenticated message from, or any message to, the peer: what keeps it warm.
    pub(super) last_active: Option<Instant>,
    /// When anything `stats` shows last changed (traffic either way, going cold), so live
    /// views read only the peers that moved.
    pub(super) changed: Option<Instant>,
    pub(super) expired: bool,
    pub(super) handshakes: u64,
    pub(super) handshake_attempts: u64,
    pub(super) rx_bytes: u64,
    pub(super) tx_bytes: u64,
    pub(super) rx_packets: u64,
    pub(super) tx_packets: u64,
    pub(super) rx_dropped: u64,
}

impl Peer {
    pub(super) fn new(config: PeerConfig, idx: PeerIdx) -> Self {
        Self {
            idx,
            tunn: None,
            endpoint: config.endpoint,
            config,
            last_handshake: None,
            last_sent: None,
            last_active: None,
            changed: None,
            expired: false,
            handshakes: 0,
            handshake_attempts: 0,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_packets: 0,
            tx_packets: 0,
            rx_dropped: 0,
        }
    }

    /// The peer's tunnel, created now (and the peer entered in `warm`, the set the timers
    /// visit) if it does not exist yet.
    pub(super) fn tunnel(
        &mut self,
        key: &PrivateKey,
        rate_limiter: &Arc<RateLimiter>,
        warm: &mut HashSet<PeerIdx>,
    ) -> &mut Tunn {
        let (idx, config) = (self.idx, &self.config);
        self.tunn.get_or_insert_with(|| {
            warm.insert(idx);
            // Persistent keepalive is run by the engine (on its clock, changeable in place),
            // so boringtun gets none.
            Box::new(Tunn::new(
                key.secret().clone(),
                x25519_dalek::PublicKey::from(config.public_key.0),
                config.preshared_key.as_deref().copied(),
                None,
                idx,
                Some(rate_limiter.clone()),
            ))
        })
    }

    /// The peer's tunnel if it has been used.
    pub(super) fn existing_tunnel(&mut self) -> Option<&mut Tunn> {
        self.tunn.as_deref_mut()
    }

    /// Drops the tunnel of a peer idle since before `idle_since`: it goes cold, keeping its
    /// configuration, endpoint and counters. True if it did.
    pub(super) fn cool_if_idle(&mut self, now: Instant, idle_since: Instant) -> bool {
        let idle = self.last_active.is_none_or(|t| t < idle_since);
        if self.tunn.is_none() || !idle {
            return false;
        }
        self.tunn = None;
        self.expired = false;
        self.changed = Some(now);
        true
    }

    /// Books an authenticated message received from the peer.
    pub(super) fn note_received(&mut self, now: Instant) {
        self.last_active = Some(now);
        self.changed = Some(now);
    }

    /// Whether `stats` may differ from what it was before `since`.
    pub(super) fn changed_since(&self, since: Instant) -> bool {
        self.changed.is_some_and(|t| t >= since)
    }

    /// Whether the peer holds a tunnel.
    pub(super) fn is_warm(&self) -> bool {
        self.tunn.is_some()
    }

    /// Whether the timers need to visit this peer while it holds no tunnel: it sends
    /// persistent keepalives to a known endpoint.
    pub(super) fn keeps_alive(&self) -> bool {
        self.endpoint.is_some() && self.config.persistent_keepalive.is_some_and(|k| k > 0)
    }

    pub(super) fn key(&self) -> PublicKey {
        self.config.public_key
    }

    /// Books a datagram about to be sent to this peer.
    pub(super) fn note_sent(&mut self, now: Instant, datagram: &[u8]) {
        self.tx_bytes += datagram.len() as u64;
        self.last_sent = Some(now);
        self.last_active = Some(now);
        self.changed = Some(now);
        match datagram.first() {
            Some(&MSG_HANDSHAKE_INIT) => self.handshake_attempts += 1,
            Some(&MSG_DATA) if datagram.len() > 32 => self.tx_packets += 1,
            _ => {}
        }
    }

    pub(super) fn stats(&self) -> PeerStats {
        PeerStats {
            public_key: self.key(),
            allowed_ips: self.config.allowed_ips.clone(),
            endpoint: self.endpoint,
            static_endpoint: self.config.endpoint,
            persistent_keepalive: self.config.persistent_keepalive,
            last_handshake: self.last_handshake,
            handshakes: self.handshakes,
            handshake_attempts: self.handshake_attempts,
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
            rx_packets: self.rx_packets,
            tx_packets: self.tx_packets,
            rx_dropped: self.rx_dropped,
            warm: self.is_warm(),
            handshake_rtt: self
                .tunn
                .as_ref()
                .and_then(|t| t.stats().4)
                .map(|ms| Duration::from_millis(ms.into())),
        }
    }
}
