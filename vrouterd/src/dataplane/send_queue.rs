//! Outgoing ESP datagrams gathered for segmentation offload: consecutive datagrams to one
//! destination with one size (the last may be shorter) share one buffer and leave in one
//! UDP GSO send, as the kernel's `UDP_SEGMENT` wants them.

use std::net::SocketAddr;

use cvlan_mesh::Transmit;

/// Most bytes one GSO send may carry (the kernel's limit is 64 KiB of UDP payload).
const MAX_SEND_BYTES: usize = 65_000;

/// Datagrams waiting to be sent, grouped.
#[derive(Default)]
pub(crate) struct SendQueue {
    buf: Vec<u8>,
    sends: Vec<Group>,
}

struct Group {
    destination: SocketAddr,
    start: usize,
    len: usize,
    segment: usize,
    count: usize,
    /// A shorter datagram ended the group.
    closed: bool,
}

impl SendQueue {
    /// Queues `datagram` for `destination`; `max_segments` is what one send may carry.
    pub(crate) fn push(&mut self, destination: SocketAddr, datagram: &[u8], max_segments: usize) {
        let len = datagram.len();
        let start = self.buf.len();
        self.buf.extend_from_slice(datagram);
        if let Some(g) = self.sends.last_mut()
            && g.destination == destination
            && !g.closed
            && g.count < max_segments
            && g.len + len <= MAX_SEND_BYTES
            && len <= g.segment
        {
            g.len += len;
            g.count += 1;
            g.closed = len < g.segment;
            return;
        }
        self.sends.push(Group {
            destination,
            start,
            len,
            segment: len,
            count: 1,
            closed: false,
        });
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Every queued send as a transmit and its bytes, in order.
    pub(crate) fn sends(&self) -> impl Iterator<Item = (Transmit, &[u8])> {
        self.sends.iter().map(|g| {
            let transmit = Transmit {
                destination: g.destination,
                size: g.len,
                segment_size: (g.count > 1).then_some(g.segment),
            };
            (transmit, &self.buf[g.start..g.start + g.len])
        })
    }

    /// Forgets everything queued (after sending it).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.sends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sizes_to_one_destination_share_a_send_and_a_shorter_one_ends_it() {
        let a: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let mut q = SendQueue::default();
        q.push(a, &[1; 100], 64);
        q.push(a, &[2; 100], 64);
        q.push(a, &[3; 40], 64);
        q.push(a, &[4; 100], 64);
        q.push(b, &[5; 100], 64);
        q.push(b, &[6; 100], 1);
        let sends: Vec<(Transmit, Vec<u8>)> = q.sends().map(|(t, d)| (t, d.to_vec())).collect();
        let shape: Vec<(SocketAddr, usize, Option<usize>)> = sends
            .iter()
            .map(|(t, _)| (t.destination, t.size, t.segment_size))
            .collect();
        assert_eq!(
            shape,
            vec![
                (a, 240, Some(100)),
                (a, 100, None),
                (b, 100, None),
                (b, 100, None),
            ]
        );
        assert_eq!(sends[0].1[100], 2);
        assert_eq!(sends[0].1[200], 3);
        assert_eq!(sends[3].1[0], 6);
        q.clear();
        assert!(q.is_empty());
    }
}
