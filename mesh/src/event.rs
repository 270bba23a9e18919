//! What the engine reports: events for the daemon's event stream and drop counters by reason.

use std::net::SocketAddr;

use cvlan_types::PublicKey;

/// Something that happened in the data plane, for logs and `cvlanctl events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A WireGuard handshake with the peer completed (as initiator or responder).
    HandshakeCompleted {
        /// The peer.
        peer: PublicKey,
        /// Where the peer was reached.
        endpoint: SocketAddr,
    },
    /// Handshake attempts with the peer gave up (boringtun's REKEY_ATTEMPT_TIME, 90 s) or its
    /// session keys aged out without renewal; traffic resumes with a new handshake.
    HandshakeExpired {
        /// The peer.
        peer: PublicKey,
    },
    /// An authenticated packet came from a new address: the peer roamed.
    EndpointChanged {
        /// The peer.
        peer: PublicKey,
        /// The endpoint used until now, if any.
        old: Option<SocketAddr>,
        /// The endpoint used from now on.
        new: SocketAddr,
    },
    /// The first packet dropped for `reason` in the current one-second window (all drops are
    /// counted in [`DropCounters`]; events are sampled so a flood cannot flood the stream).
    PacketDropped {
        /// Why.
        reason: DropReason,
        /// The peer involved, when one is known.
        peer: Option<PublicKey>,
    },
}

/// Why a packet or datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Not a WireGuard message, a bad MAC, a failed decryption or a malformed inner packet.
    BadPacket,
    /// A well-formed message for no configured peer (unknown key or session index).
    UnknownPeer,
    /// A decrypted packet whose source is not in the sending peer's allowed IPs.
    NotAllowedSource,
    /// A packet from the TUN whose destination no peer's allowed IPs cover.
    NoRoute,
    /// A packet for a peer whose endpoint is not known yet.
    NoEndpoint,
    /// The packet filter dropped or rejected it.
    Filter,
    /// A handshake message refused under load (answered with a cookie when possible).
    RateLimited,
    /// A replayed data packet (duplicate counter) or handshake (old timestamp).
    Replay,
    /// A data packet for a session that does not exist (any more).
    NoSession,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 9] = [
        DropReason::BadPacket,
        DropReason::UnknownPeer,
        DropReason::NotAllowedSource,
        DropReason::NoRoute,
        DropReason::NoEndpoint,
        DropReason::Filter,
        DropReason::RateLimited,
        DropReason::Replay,
        DropReason::NoSession,
    ];

    /// A stable snake_case name for APIs and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BadPacket => "bad_packet",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::NotAllowedSource => "not_allowed_source",
            DropReason::NoRoute => "no_route",
            DropReason::NoEndpoint => "no_endpoint",
            DropReason::Filter => "filter",
            DropReason::RateLimited => "rate_limited",
            DropReason::Replay => "replay",
            DropReason::NoSession => "no_session",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dropped packets counted by reason since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl DropCounters {
    /// How many packets were dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// All drops, whatever the reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every reason, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.get(*r)))
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_index_every_reason_separately() {
        let mut c = DropCounters::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                c.add(*r);
            }
        }
        for (i, (r, n)) in c.iter().enumerate() {
            assert_eq!(n, i as u64 + 1, "{r}");
        }
        assert_eq!(c.total(), 45);
        let names: std::collections::BTreeSet<_> =
            DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
