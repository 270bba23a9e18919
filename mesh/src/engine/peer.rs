//! One configured peer: its boringtun tunnel, configuration, endpoint and counters.

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

    /// The peer's tunnel, created now if it does not exist yet.
    pub(super) fn tunnel(
        &mut self,
        key: &PrivateKey,
        rate_limiter: &Arc<RateLimiter>,
    ) -> &mut Tunn {
        let (idx, config) = (self.idx, &self.config);
        self.tunn.get_or_insert_with(|| {
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

    pub(super) fn key(&self) -> PublicKey {
        self.config.public_key
    }

    /// Books a datagram about to be sent to this peer.
    pub(super) fn note_sent(&mut self, now: Instant, datagram: &[u8]) {
        self.tx_bytes += datagram.len() as u64;
        self.last_sent = Some(now);
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
            handshake_rtt: self
                .tunn
                .as_ref()
                .and_then(|t| t.stats().4)
                .map(|ms| Duration::from_millis(ms.into())),
        }
    }
}
