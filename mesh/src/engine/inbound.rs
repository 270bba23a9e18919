//! Datagrams from the network: rate limiting and cookies, peer lookup, decryption, roaming,
//! the allowed-IPs check and the inbound filter.

use std::net::SocketAddr;
use std::time::Instant;

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, TunnResult};
use cvlan_types::PublicKey;

use super::output::Outputs;
use super::peer::{MSG_COOKIE_REPLY, MSG_DATA, MSG_HANDSHAKE_INIT, MSG_HANDSHAKE_RESP, Peer};
use super::{Engine, STALE_SEARCH_INTERVAL, drop_reason, encapsulated_len};
use crate::event::{DropReason, Event};
use crate::filter::{PacketFilter, Verdict};
use crate::packet::IpPacket;
use crate::routing::{CryptokeyRoutes, PeerIdx};

impl<F: PacketFilter> Engine<F> {
    /// Handles one UDP datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.clock = self.clock.max(now);
        let Some(idx) = self.identify(now, from, datagram) else {
            if datagram.first() == Some(&MSG_DATA) {
                self.rehandshake_stale(now, from, None);
            }
            return;
        };
        let Some(peer) = self.peers.get_mut(&idx) else {
            self.out.drop_packet(now, DropReason::UnknownPeer, None);
            return;
        };
        let msg_type = datagram[0];
        // Only an initiation may start a tunnel; anything else needs one already.
        let tunn = if msg_type == MSG_HANDSHAKE_INIT {
            peer.tunnel(&self.key, &self.rate_limiter, &mut self.warm)
        } else if let Some(tunn) = peer.existing_tunnel() {
            tunn
        } else {
            let key = peer.key();
            self.out.drop_packet(now, DropReason::NoSession, Some(key));
            if msg_type == MSG_DATA {
                self.rehandshake_stale(now, from, Some(idx));
            }
            return;
        };
        let result = tunn.decapsulate(Some(from.ip()), datagram, &mut self.scratch);
        let mut completed = false;
        match result {
            TunnResult::Err(err) => {
                let key = peer.key();
                self.out.drop_packet(now, drop_reason(&err), Some(key));
                let stale = matches!(
                    err,
                    WireGuardError::WrongIndex | WireGuardError::NoCurrentSession
                );
                if msg_type == MSG_DATA && stale {
                    self.rehandshake_stale(now, from, Some(idx));
                }
                return;
            }
            TunnResult::WriteToNetwork(reply) => {
                if reply.first() == Some(&MSG_COOKIE_REPLY) {
                    // The peer's tunnel found us under load: answer with a cookie, trust nothing.
                    self.out.transmit_copy(from, reply);
                    let key = peer.key();
                    self.out
                        .drop_packet(now, DropReason::RateLimited, Some(key));
                    return;
                }
                completed = (msg_type == MSG_HANDSHAKE_INIT
                    && reply.first() == Some(&MSG_HANDSHAKE_RESP))
                    || msg_type == MSG_HANDSHAKE_RESP;
                peer.rx_bytes += datagram.len() as u64;
                peer.note_sent(now, reply);
                self.out.transmit_copy(from, reply);
            }
            TunnResult::WriteToTunnelV4(packet, _) | TunnResult::WriteToTunnelV6(packet, _) => {
                peer.rx_bytes += datagram.len() as u64;
                deliver(
                    now,
                    peer,
                    packet,
                    &self.routes,
                    &mut self.filter,
                    &mut self.out,
                );
            }
            TunnResult::Done => peer.rx_bytes += datagram.len() as u64,
        }
        peer.note_received(now);
        if msg_type != MSG_COOKIE_REPLY {
            roam(peer, from, &mut self.out);
        }
        if completed {
            peer.handshakes += 1;
            peer.last_handshake = Some(now);
            peer.expired = false;
            self.out.event(Event::HandshakeCompleted {
                peer: peer.key(),
                endpoint: from,
            });
        }
        flush_queued(now, peer, &mut self.scratch, &mut self.out);
    }

    /// Answers a data message this node cannot decrypt (no session, or a session index it no
    /// longer holds) with a handshake initiation, when it comes from a peer's known endpoint.
    ///
    /// Such a message almost always means that the peer still uses a session with this node's
    /// previous run (the daemon restarted): a new handshake replaces it now rather than after
    /// the peer's own ~15 s rekey timeout. The initiation only ever goes to the endpoint the
    /// peer already has, so a forged message cannot redirect anything; boringtun starts at most
    /// one handshake per rekey timeout, and the search by endpoint (when the message's index
    /// names no peer at that endpoint) runs at most every [`STALE_SEARCH_INTERVAL`].
    fn rehandshake_stale(&mut self, now: Instant, from: SocketAddr, guess: Option<PeerIdx>) {
        let at_endpoint = |idx: &PeerIdx| {
            self.peers
                .get(idx)
                .is_some_and(|p| p.endpoint == Some(from))
        };
        let idx = match guess.filter(at_endpoint) {
            Some(idx) => idx,
            None => {
                if self
                    .last_stale_search
                    .is_some_and(|t| now.saturating_duration_since(t) < STALE_SEARCH_INTERVAL)
                {
                    return;
                }
                self.last_stale_search = Some(now);
                let Some(idx) = self
                    .peers
                    .iter()
                    .find(|(_, p)| p.endpoint == Some(from))
                    .map(|(idx, _)| *idx)
                else {
                    return;
                };
                idx
            }
        };
        let Some(peer) = self.peers.get_mut(&idx) else {
            return;
        };
        let tunn = peer.tunnel(&self.key, &self.rate_limiter, &mut self.warm);
        if let TunnResult::WriteToNetwork(init) =
            tunn.format_handshake_initiation(&mut self.scratch, false)
        {
            peer.note_sent(now, init);
            self.out.transmit_copy(from, init);
        }
    }

    /// Checks MACs and load with the shared rate limiter, then finds the peer the message is
    /// for: by the initiator's static key for initiations, by session index otherwise.
    fn identify(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Option<PeerIdx> {
        let packet =
            match self
                .rate_limiter
                .verify_packet(Some(from.ip()), datagram, &mut self.scratch)
            {
                Ok(packet) => packet,
                Err(TunnResult::WriteToNetwork(cookie)) => {
                    self.out.transmit_copy(from, cookie);
                    self.out.drop_packet(now, DropReason::RateLimited, None);
                    return None;
                }
                Err(TunnResult::Err(err)) => {
                    self.out.drop_packet(now, drop_reason(&err), None);
                    return None;
                }
                Err(_) => {
                    self.out.drop_packet(now, DropReason::BadPacket, None);
                    return None;
                }
            };
        let idx = match packet {
            Packet::HandshakeInit(init) => {
                let x_public = x25519_dalek::PublicKey::from(self.public_key.0);
                let Ok(half) = parse_handshake_anon(self.key.secret(), &x_public, &init) else {
                    self.out.drop_packet(now, DropReason::BadPacket, None);
                    return None;
                };
                self.by_key
                    .get(&PublicKey(half.peer_static_public))
                    .copied()
            }
            Packet::HandshakeResponse(p) => Some(p.receiver_idx >> 8),
            Packet::PacketCookieReply(p) => Some(p.receiver_idx >> 8),
            Packet::PacketData(p) => Some(p.receiver_idx >> 8),
        };
        match idx.filter(|i| self.peers.contains_key(i)) {
            Some(idx) => Some(idx),
            None => {
                self.out.drop_packet(now, DropReason::UnknownPeer, None);
                None
            }
        }
    }
}

/// Delivers a decrypted packet to the TUN if its source belongs to `peer` and the filter agrees.
fn deliver<F: PacketFilter>(
    now: Instant,
    peer: &mut Peer,
    packet: &[u8],
    routes: &CryptokeyRoutes,
    filter: &mut F,
    out: &mut Outputs,
) {
    let key = peer.key();
    let Ok(ip) = IpPacket::parse(packet) else {
        peer.rx_dropped += 1;
        out.drop_packet(now, DropReason::BadPacket, Some(key));
        return;
    };
    if routes.lookup(ip.src()) != Some(peer.idx) {
        peer.rx_dropped += 1;
        out.drop_packet(now, DropReason::NotAllowedSource, Some(key));
        return;
    }
    match filter.inbound(now, &key, &ip) {
        Verdict::Accept => {
            peer.rx_packets += 1;
            out.write_tun(ip.bytes());
        }
        Verdict::Drop => {
            peer.rx_dropped += 1;
            out.drop_packet(now, DropReason::Filter, Some(key));
        }
        Verdict::Reject(reply) => {
            peer.rx_dropped += 1;
            out.drop_packet(now, DropReason::Filter, Some(key));
            if let Some(endpoint) = peer.endpoint {
                let Some(tunn) = peer.existing_tunnel() else {
                    return;
                };
                let mut buf = out.buffer(encapsulated_len(reply.len()));
                if let TunnResult::WriteToNetwork(datagram) = tunn.encapsulate(&reply, &mut buf) {
                    let len = datagram.len();
                    peer.note_sent(now, datagram);
                    buf.truncate(len);
                    out.transmit(endpoint, buf);
                }
            }
        }
    }
}

/// Follows the peer to the address its authenticated packet came from.
fn roam(peer: &mut Peer, from: SocketAddr, out: &mut Outputs) {
    if peer.endpoint == Some(from) {
        return;
    }
    let old = peer.endpoint.replace(from);
    out.event(Event::EndpointChanged {
        peer: peer.key(),
        old,
        new: from,
    });
}

/// Sends the packets boringtun queued while waiting for a session.
fn flush_queued(now: Instant, peer: &mut Peer, scratch: &mut [u8], out: &mut Outputs) {
    loop {
        let Some(tunn) = peer.existing_tunnel() else {
            return;
        };
        let TunnResult::WriteToNetwork(datagram) = tunn.decapsulate(None, &[], scratch) else {
            return;
        };
        if let Some(endpoint) = peer.endpoint {
            peer.note_sent(now, datagram);
            out.transmit_copy(endpoint, datagram);
        }
    }
}
