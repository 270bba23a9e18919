//! The engine's output queues (datagrams for UDP GSO, TUN packets, events), buffer pool and
//! drop counters.
//!
//! Kept apart from the peer table so the engine can borrow a peer and its outputs at once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cvlan_netio::{SendQueue, Transmit};
use cvlan_types::PublicKey;

use crate::event::{DropCounters, DropReason, Event};

/// Most events kept before new ones are counted as lost.
const MAX_EVENTS: usize = 4096;
/// Most free buffers kept for reuse.
const MAX_POOLED: usize = 4096;
/// A drop reason raises at most one event per this interval.
const DROP_EVENT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Outputs {
    transmits: SendQueue,
    to_tun: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    pool: Vec<Vec<u8>>,
    pub(super) drops: DropCounters,
    last_drop_event: [Option<Instant>; DropReason::ALL.len()],
    pub(super) events_lost: u64,
}

impl Outputs {
    /// A buffer of `len` bytes from the pool (contents unspecified: callers overwrite it).
    pub(super) fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut buf = self.pool.pop().unwrap_or_default();
        // Reused buffers keep their old bytes: zeroing them per packet is measurable.
        if buf.len() < len {
            buf.resize(len, 0);
        } else {
            buf.truncate(len);
        }
        buf
    }

    pub(super) fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < MAX_POOLED {
            self.pool.push(buf);
        }
    }

    /// Queues `datagram` (a pooled buffer, recycled here).
    pub(super) fn transmit(&mut self, destination: SocketAddr, datagram: Vec<u8>) {
        self.transmits.push(destination, &datagram);
        self.recycle(datagram);
    }

    /// Queues a copy of `datagram`.
    pub(super) fn transmit_copy(&mut self, destination: SocketAddr, datagram: &[u8]) {
        self.transmits.push(destination, datagram);
    }

    pub(super) fn write_tun(&mut self, packet: &[u8]) {
        let mut buf = self.buffer(0);
        buf.extend_from_slice(packet);
        self.to_tun.push_back(buf);
    }

    pub(super) fn write_tun_owned(&mut self, packet: Vec<u8>) {
        self.to_tun.push_back(packet);
    }

    pub(super) fn event(&mut self, event: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(event);
        } else {
            self.events_lost += 1;
        }
    }

    /// Counts a drop; the first of each reason per second also becomes an event.
    pub(super) fn drop_packet(
        &mut self,
        now: Instant,
        reason: DropReason,
        peer: Option<PublicKey>,
    ) {
        self.drops.add(reason);
        let last = &mut self.last_drop_event[reason as usize];
        if last.is_none_or(|t| now.saturating_duration_since(t) >= DROP_EVENT_INTERVAL) {
            *last = Some(now);
            self.event(Event::PacketDropped { reason, peer });
        }
    }

    /// Appends the next send (several same-sized datagrams to one destination, for GSO) to
    /// `buf`.
    pub(super) fn poll_transmit(
        &mut self,
        buf: &mut Vec<u8>,
        max_segments: usize,
    ) -> Option<Transmit> {
        let (transmit, bytes) = self.transmits.pop(max_segments)?;
        buf.extend_from_slice(bytes);
        Some(transmit)
    }

    /// Moves every queued send to `queue`.
    pub(super) fn drain_transmits(&mut self, queue: &mut SendQueue) {
        queue.append(&mut self.transmits);
    }

    pub(super) fn poll_tun_packet(&mut self, buf: &mut Vec<u8>) -> Option<usize> {
        let packet = self.to_tun.pop_front()?;
        buf.extend_from_slice(&packet);
        let len = packet.len();
        self.recycle(packet);
        Some(len)
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn coalesces_same_sized_datagrams_to_one_destination() {
        let mut out = Outputs::default();
        for len in [100, 100, 100, 60, 100] {
            out.transmit(addr(1), vec![7; len]);
        }
        out.transmit(addr(2), vec![1; 100]);
        let mut buf = Vec::new();
        let t = out.poll_transmit(&mut buf, 64).unwrap();
        assert_eq!(
            (t.destination, t.size, t.segment_size, t.datagrams()),
            (addr(1), 360, Some(100), 4)
        );
        buf.clear();
        let t = out.poll_transmit(&mut buf, 64).unwrap();
        assert_eq!((t.size, t.segment_size), (100, None));
        buf.clear();
        let t = out.poll_transmit(&mut buf, 1).unwrap();
        assert_eq!((t.destination, t.size), (addr(2), 100));
        assert!(out.poll_transmit(&mut buf, 64).is_none());
    }

    #[test]
    fn respects_the_segment_limit_and_samples_drop_events() {
        let mut out = Outputs::default();
        for _ in 0..5 {
            out.transmit(addr(1), vec![0; 10]);
        }
        let mut buf = Vec::new();
        assert_eq!(out.poll_transmit(&mut buf, 2).unwrap().datagrams(), 2);
        let now = Instant::now();
        for _ in 0..10 {
            out.drop_packet(now, DropReason::NoRoute, None);
        }
        out.drop_packet(now + Duration::from_secs(1), DropReason::NoRoute, None);
        assert_eq!(out.drops.get(DropReason::NoRoute), 11);
        let mut events = 0;
        while out.poll_event().is_some() {
            events += 1;
        }
        assert_eq!(events, 2);
    }
}
