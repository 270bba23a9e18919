//! Packets from the TUN: parse, cryptokey route, outbound filter, encrypt.

use std::time::Instant;

use boringtun::noise::TunnResult;

use super::{Engine, drop_reason, encapsulated_len};
use crate::event::DropReason;
use crate::filter::{PacketFilter, Verdict};
use crate::packet::IpPacket;

impl<F: PacketFilter> Engine<F> {
    /// Handles one IP packet read from the TUN.
    pub fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        self.clock = self.clock.max(now);
        let Ok(ip) = IpPacket::parse(packet) else {
            self.out.drop_packet(now, DropReason::BadPacket, None);
            return;
        };
        let Some(peer) = self
            .routes
            .lookup(ip.dst())
            .and_then(|idx| self.peers.get_mut(&idx))
        else {
            self.out.drop_packet(now, DropReason::NoRoute, None);
            return;
        };
        let key = peer.key();
        match self.filter.outbound(now, &key, &ip) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.out.drop_packet(now, DropReason::Filter, Some(key));
                return;
            }
            Verdict::Reject(reply) => {
                self.out.drop_packet(now, DropReason::Filter, Some(key));
                self.out.write_tun_owned(reply);
                return;
            }
        }
        let Some(endpoint) = peer.endpoint else {
            self.out.drop_packet(now, DropReason::NoEndpoint, Some(key));
            return;
        };
        let mut buf = self.out.buffer(encapsulated_len(ip.bytes().len()));
        let tunn = peer.tunnel(&self.key, &self.rate_limiter, &mut self.warm);
        match tunn.encapsulate(ip.bytes(), &mut buf) {
            TunnResult::WriteToNetwork(datagram) => {
                let len = datagram.len();
                peer.note_sent(now, datagram);
                buf.truncate(len);
                self.out.transmit(endpoint, buf);
            }
            TunnResult::Err(err) => {
                self.out.recycle(buf);
                self.out.drop_packet(now, drop_reason(&err), Some(key));
            }
            // Queued inside the tunnel until the handshake in progress completes.
            _ => self.out.recycle(buf),
        }
    }
}
