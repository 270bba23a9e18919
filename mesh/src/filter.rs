//! The packet-filter hook: a verdict on every packet, in both directions.
//!
//! The engine calls [`PacketFilter::outbound`] after cryptokey routing picked a peer for a packet
//! read from the TUN, and [`PacketFilter::inbound`] after a decrypted packet passed the
//! allowed-IPs check. The default, [`PassAll`], accepts everything the peer set and cryptokey
//! routing allow; the stateful policy filter replaces it.

use std::time::Instant;

use cvlan_types::PublicKey;

use crate::packet::IpPacket;

/// What to do with one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Accept,
    /// Drop it silently (counted as a filter drop).
    Drop,
    /// Drop it and send these bytes (an IP packet, e.g. ICMP administratively prohibited) back
    /// towards the packet's sender: for an inbound packet, encrypted to the peer it came from;
    /// for an outbound packet, written to the TUN for the local sender. Counted as a filter drop.
    Reject(Vec<u8>),
}

/// A per-packet decision hook; implementations may keep state (flows, counters).
pub trait PacketFilter: Send + 'static {
    /// Decides a packet read from the TUN and routed to `peer`.
    fn outbound(&mut self, now: Instant, peer: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        let _ = (now, peer, packet);
        Verdict::Accept
    }

    /// Decides a packet decrypted from `peer` whose source is in that peer's allowed IPs.
    fn inbound(&mut self, now: Instant, peer: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        let _ = (now, peer, packet);
        Verdict::Accept
    }
}

/// The default filter: accepts every packet cryptokey routing allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassAll;

impl PacketFilter for PassAll {}
