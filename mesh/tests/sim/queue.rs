//! Datagrams in flight, handed out in order of arrival time (ties in the order they were sent).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Instant;

/// A UDP datagram on the wire, with the addresses it carries there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Its source address (after any NAT on the sending side).
    pub from: SocketAddr,
    /// The address it was sent to.
    pub to: SocketAddr,
    /// Its payload.
    pub bytes: Vec<u8>,
}

struct InFlight {
    at: Instant,
    seq: u64,
    datagram: Datagram,
}

impl InFlight {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.seq)
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The delivery queue: datagrams by the time they arrive.
#[derive(Default)]
pub struct DeliveryQueue {
    heap: BinaryHeap<Reverse<InFlight>>,
    sent: u64,
}

impl DeliveryQueue {
    /// Puts a datagram on the wire, arriving at `at`.
    pub fn push(&mut self, at: Instant, datagram: Datagram) {
        self.sent += 1;
        self.heap.push(Reverse(InFlight {
            at,
            seq: self.sent,
            datagram,
        }));
    }

    /// When the next datagram arrives.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(f)| f.at)
    }

    /// Takes the next datagram to arrive.
    pub fn pop(&mut self) -> Option<Datagram> {
        self.heap.pop().map(|Reverse(f)| f.datagram)
    }

    /// How many datagrams are in flight.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
