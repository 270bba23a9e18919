//! Outgoing UDP datagrams gathered for segmentation offload. Datagrams wait back to back in
//! one buffer, in order; when they leave, consecutive datagrams to one destination with one
//! size (the last may be shorter) share one UDP GSO send, as the kernel's `UDP_SEGMENT`
//! wants them.

use std::net::SocketAddr;

/// Most bytes one GSO send may carry (the UDP length field's limit, less headers).
const MAX_SEND_BYTES: usize = 65_000;

/// One UDP send: `size` bytes to `destination`, split into datagrams of `segment_size` bytes
/// (the last may be shorter) when several were coalesced for UDP GSO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send.
    pub destination: SocketAddr,
    /// Bytes in this send.
    pub size: usize,
    /// Datagram size when `size` holds several datagrams; `None` for a single datagram.
    pub segment_size: Option<usize>,
}

impl Transmit {
    /// Number of datagrams in this send.
    pub fn datagrams(&self) -> usize {
        match self.segment_size {
            Some(s) if s > 0 => self.size.div_ceil(s),
            _ => 1,
        }
    }
}

/// Datagrams waiting to be sent, in the order they were queued. Its buffers are kept and
/// reused once everything has left, so a steady flow allocates nothing.
#[derive(Default)]
pub struct SendQueue {
    /// The datagrams back to back up to `used`; what lies beyond is room left from earlier
    /// rounds, reused without zeroing it.
    buf: Vec<u8>,
    used: usize,
    /// Each datagram's destination and where it ends in `buf`.
    datagrams: Vec<(SocketAddr, usize)>,
    /// Datagrams before this index have left.
    next: usize,
}

impl SendQueue {
    /// Queues a copy of `datagram` for `destination`.
    pub fn push(&mut self, destination: SocketAddr, datagram: &[u8]) {
        self.push_with(destination, datagram.len(), |room| {
            room.copy_from_slice(datagram);
            Some(room.len())
        });
    }

    /// Queues a datagram for `destination` written in place: `fill` gets `max_len` bytes of
    /// room (holding stale bytes) and returns how many it wrote, or `None` to queue nothing.
    /// True when a datagram was queued.
    pub fn push_with(
        &mut self,
        destination: SocketAddr,
        max_len: usize,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let start = self.used;
        let end = start + max_len;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let Some(written) = fill(&mut self.buf[start..end]) else {
            return false;
        };
        self.used = start + written.min(max_len);
        self.datagrams.push((destination, self.used));
        true
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.next == self.datagrams.len()
    }

    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.datagrams.len() - self.next
    }

    /// Takes the next send: the first waiting datagram and those after it that may share its
    /// GSO send, at most `max_segments` in all. `None` when nothing waits.
    pub fn pop(&mut self, max_segments: usize) -> Option<(Transmit, &[u8])> {
        let (destination, first_end) = *self.datagrams.get(self.next)?;
        let start = match self.next {
            0 => 0,
            i => self.datagrams[i - 1].1,
        };
        let segment = first_end - start;
        let mut end = first_end;
        let mut count = 1;
        // Empty datagrams never share a send: a zero segment size means no segmentation.
        while count < max_segments && segment > 0 {
            let Some(&(next_destination, next_end)) = self.datagrams.get(self.next + count) else {
                break;
            };
            let len = next_end - end;
            if next_destination != destination || len > segment || next_end - start > MAX_SEND_BYTES
            {
                break;
            }
            end = next_end;
            count += 1;
            if len < segment {
                break;
            }
        }
        self.next += count;
        if self.is_empty() {
            // Everything has left: the room is reused from the start (the bytes handed out
            // below stay untouched until the next push).
            self.clear();
        }
        let transmit = Transmit {
            destination,
            size: end - start,
            segment_size: (count > 1).then_some(segment),
        };
        Some((transmit, &self.buf[start..end]))
    }

    /// Moves every datagram waiting in `other` to the end of this queue, without copying
    /// when this one is empty.
    pub fn append(&mut self, other: &mut SendQueue) {
        if self.is_empty() {
            self.clear();
            std::mem::swap(self, other);
            return;
        }
        while let Some((transmit, bytes)) = other.pop(1) {
            self.push(transmit.destination, bytes);
        }
    }

    /// Forgets every waiting datagram.
    pub fn clear(&mut self) {
        self.used = 0;
        self.datagrams.clear();
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    /// Every send left in `q` as (destination, size, segment size, first byte of each datagram).
    fn drain(
        q: &mut SendQueue,
        max_segments: usize,
    ) -> Vec<(SocketAddr, usize, Option<usize>, Vec<u8>)> {
        let mut sends = Vec::new();
        while let Some((t, bytes)) = q.pop(max_segments) {
            let step = t.segment_size.unwrap_or(t.size).max(1);
            let firsts = bytes.chunks(step).map(|d| d[0]).collect();
            sends.push((t.destination, t.size, t.segment_size, firsts));
        }
        sends
    }

    #[test]
    fn equal_sizes_to_one_destination_share_a_send_and_a_shorter_one_ends_it() {
        let (a, b) = (addr(1), addr(2));
        let mut q = SendQueue::default();
        q.push(a, &[1; 100]);
        q.push(a, &[2; 100]);
        q.push(a, &[3; 40]);
        q.push(a, &[4; 100]);
        q.push(b, &[5; 100]);
        q.push(b, &[6; 120]);
        assert_eq!(q.len(), 6);
        assert_eq!(
            drain(&mut q, 64),
            vec![
                (a, 240, Some(100), vec![1, 2, 3]),
                (a, 100, None, vec![4]),
                (b, 100, None, vec![5]),
                (b, 120, None, vec![6]),
            ]
        );
        assert!(q.is_empty() && q.pop(64).is_none());
    }

    #[test]
    fn a_send_holds_at_most_max_segments_and_max_bytes() {
        let mut q = SendQueue::default();
        for i in 0..5 {
            q.push(addr(1), &[i; 10]);
        }
        let shape: Vec<(usize, Option<usize>)> = drain(&mut q, 2)
            .into_iter()
            .map(|(_, size, segment, _)| (size, segment))
            .collect();
        assert_eq!(shape, vec![(20, Some(10)), (20, Some(10)), (10, None)]);
        for _ in 0..50 {
            q.push(addr(1), &[0; 1400]);
        }
        let t = q.pop(usize::MAX).map(|(t, _)| t);
        assert_eq!(t.map(|t| t.datagrams()), Some(MAX_SEND_BYTES / 1400));
        assert_eq!(q.pop(1).map(|(t, _)| t.segment_size), Some(None));
        q.clear();
        assert!(q.is_empty());
    }

    #[test]
    fn empty_datagrams_leave_one_by_one() {
        let mut q = SendQueue::default();
        q.push(addr(1), &[]);
        q.push(addr(1), &[]);
        let t = q.pop(64).map(|(t, bytes)| (t, bytes.len()));
        assert_eq!(
            t,
            Some((
                Transmit {
                    destination: addr(1),
                    size: 0,
                    segment_size: None
                },
                0
            ))
        );
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn push_with_writes_in_place_and_room_is_reused_after_draining() {
        let mut q = SendQueue::default();
        assert!(q.push_with(addr(1), 64, |room| {
            room[..3].copy_from_slice(b"abc");
            Some(3)
        }));
        assert!(!q.push_with(addr(1), 64, |_| None));
        assert_eq!(q.len(), 1);
        let (t, bytes) = q.pop(64).expect("one datagram");
        assert_eq!((t.size, bytes), (3, &b"abc"[..]));
        let room = q.buf.len();
        q.push(addr(1), &[9; 30]);
        assert_eq!(q.pop(64).map(|(_, b)| b.to_vec()), Some(vec![9; 30]));
        assert_eq!(
            q.buf.len(),
            room,
            "the second round reused the first one's room"
        );
    }

    #[test]
    fn append_moves_everything_in_order() {
        let mut engine = SendQueue::default();
        engine.push(addr(1), &[1; 10]);
        engine.push(addr(1), &[2; 10]);
        let mut driver = SendQueue::default();
        driver.append(&mut engine);
        assert!(engine.is_empty());
        assert_eq!(driver.len(), 2);
        engine.push(addr(2), &[3; 10]);
        driver.append(&mut engine);
        assert!(engine.is_empty());
        assert_eq!(
            drain(&mut driver, 64),
            vec![
                (addr(1), 20, Some(10), vec![1, 2]),
                (addr(2), 10, None, vec![3])
            ]
        );
    }
}
