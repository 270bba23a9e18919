//! The batch buffers the IO backends fill and drain — IP packets for a TUN device, received
//! UDP payloads — so real backends can use offloads (TUN GSO/GRO, recvmmsg, UDP GRO) while the
//! in-memory ones stay simple.

use std::net::SocketAddr;

/// IP packets in reusable buffers, each after `headroom` bytes the backend may use for its
/// own headers (e.g. a virtio-net header).
pub struct PacketBatch {
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
    headroom: usize,
    room: usize,
}

impl PacketBatch {
    /// `slots` buffers of `headroom + room` bytes.
    pub fn new(slots: usize, headroom: usize, room: usize) -> Self {
        Self {
            bufs: (0..slots.max(1))
                .map(|_| Vec::with_capacity(headroom + room))
                .collect(),
            sizes: vec![0; slots.max(1)],
            count: 0,
            headroom,
            room,
        }
    }

    /// Number of packets held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no packet is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when every slot holds a packet.
    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    /// Forgets the packets held.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The packets held.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs[..self.count]
            .iter()
            .zip(&self.sizes)
            .map(|(b, n)| &b[self.headroom..self.headroom + n])
    }

    /// Appends a packet written by `fill` (which appends to the buffer it is given and
    /// returns whether it wrote one). False if the batch is full or `fill` wrote nothing.
    pub fn push_with(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        if self.is_full() {
            return false;
        }
        let buf = &mut self.bufs[self.count];
        buf.clear();
        buf.resize(self.headroom, 0);
        if !fill(buf) {
            return false;
        }
        self.sizes[self.count] = buf.len() - self.headroom;
        self.count += 1;
        true
    }

    /// Appends a copy of `packet`.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        self.push_with(|b| {
            b.extend_from_slice(packet);
            true
        })
    }

    /// For backends reading: every slot sized to `headroom + room`, with the sizes to fill in.
    /// Call [`PacketBatch::set_received`] with the number of packets read.
    pub fn recv_slots(&mut self) -> (&mut [Vec<u8>], &mut [usize], usize) {
        let full = self.headroom + self.room;
        for buf in &mut self.bufs {
            buf.resize(full, 0);
        }
        self.count = 0;
        (&mut self.bufs, &mut self.sizes, self.headroom)
    }

    /// Records that the first `count` slots hold packets of the sizes written.
    pub fn set_received(&mut self, count: usize) {
        self.count = count.min(self.bufs.len());
    }

    /// For backends writing: the buffers holding packets (each after the headroom).
    pub fn send_slots(&mut self) -> (&mut [Vec<u8>], usize) {
        (&mut self.bufs[..self.count], self.headroom)
    }
}

/// Received UDP payloads, possibly several datagrams coalesced per buffer (GRO).
pub struct DatagramBatch {
    bufs: Vec<Vec<u8>>,
    meta: Vec<DatagramMeta>,
    count: usize,
}

/// Where a received buffer came from and how it splits into datagrams.
#[derive(Debug, Clone, Copy)]
pub struct DatagramMeta {
    /// Sender.
    pub from: SocketAddr,
    /// Bytes in the buffer.
    pub len: usize,
    /// Size of each datagram in the buffer (the last may be shorter); `len` for one datagram.
    pub stride: usize,
}

impl DatagramMeta {
    /// The size to split the buffer by: `stride`, or the whole length when it is unset.
    fn chunk_size(&self) -> usize {
        if self.stride == 0 {
            self.len.max(1)
        } else {
            self.stride
        }
    }
}

impl DatagramBatch {
    /// `slots` buffers of `size` bytes each.
    pub fn new(slots: usize, size: usize) -> Self {
        let slots = slots.max(1);
        Self {
            // One zeroed allocation each (not clones of one buffer): pages stay untouched, and
            // out of the resident set, until datagrams fill them.
            bufs: (0..slots).map(|_| vec![0; size]).collect(),
            meta: vec![
                DatagramMeta {
                    from: SocketAddr::from(([0, 0, 0, 0], 0)),
                    len: 0,
                    stride: 0
                };
                slots
            ],
            count: 0,
        }
    }

    /// Forgets what was received.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// True when nothing was received.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when every buffer holds received data.
    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    /// Every datagram received, with its sender.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.bufs[..self.count]
            .iter()
            .zip(&self.meta)
            .flat_map(|(buf, meta)| {
                buf[..meta.len.min(buf.len())]
                    .chunks(meta.chunk_size())
                    .map(move |d| (meta.from, d))
            })
    }

    /// Every datagram received, with its sender, writable in place (to decrypt it there).
    pub fn datagrams_mut(&mut self) -> impl Iterator<Item = (SocketAddr, &mut [u8])> {
        self.bufs[..self.count]
            .iter_mut()
            .zip(&self.meta)
            .flat_map(|(buf, meta)| {
                let len = meta.len.min(buf.len());
                buf[..len]
                    .chunks_mut(meta.chunk_size())
                    .map(move |d| (meta.from, d))
            })
    }

    /// For backends: the buffers not yet filled and their metadata; then call
    /// [`DatagramBatch::add_received`]. Several reads may fill one batch.
    pub fn recv_slots(&mut self) -> (&mut [Vec<u8>], &mut [DatagramMeta]) {
        (&mut self.bufs[self.count..], &mut self.meta[self.count..])
    }

    /// Records that the first `count` buffers handed out by the last `recv_slots` were filled.
    pub fn add_received(&mut self, count: usize) {
        self.count = (self.count + count).min(self.bufs.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_batch_keeps_headroom_and_order() {
        let mut b = PacketBatch::new(2, 10, 100);
        assert!(b.push(b"one"));
        assert!(b.push_with(|buf| {
            buf.extend_from_slice(b"two");
            true
        }));
        assert!(b.is_full() && !b.push(b"three"));
        assert!(!PacketBatch::new(1, 0, 1).push_with(|_| false));
        let got: Vec<&[u8]> = b.packets().collect();
        assert_eq!(got, vec![&b"one"[..], b"two"]);
        let (bufs, headroom) = b.send_slots();
        assert_eq!((bufs[0].len(), headroom), (13, 10));
        let (bufs, sizes, _) = b.recv_slots();
        assert_eq!(bufs[1].len(), 110);
        bufs[0][10..12].copy_from_slice(b"hi");
        sizes[0] = 2;
        b.set_received(1);
        assert_eq!(b.packets().collect::<Vec<_>>(), vec![&b"hi"[..]]);
    }

    #[test]
    fn datagram_batch_splits_coalesced_buffers() {
        let mut b = DatagramBatch::new(2, 64);
        let from = SocketAddr::from(([10, 0, 0, 1], 5));
        let (bufs, meta) = b.recv_slots();
        bufs[0][..10].copy_from_slice(b"aaaabbbbcc");
        meta[0] = DatagramMeta {
            from,
            len: 10,
            stride: 4,
        };
        bufs[1][..3].copy_from_slice(b"xyz");
        meta[1] = DatagramMeta {
            from,
            len: 3,
            stride: 3,
        };
        b.add_received(2);
        assert!(b.is_full());
        let got: Vec<&[u8]> = b.datagrams().map(|(_, d)| d).collect();
        assert_eq!(got, vec![&b"aaaa"[..], b"bbbb", b"cc", b"xyz"]);
        for (_, d) in b.datagrams_mut() {
            d[0] = b'_';
        }
        let got: Vec<&[u8]> = b.datagrams().map(|(_, d)| d).collect();
        assert_eq!(got, vec![&b"_aaa"[..], b"_bbb", b"_c", b"_yz"]);
    }
}
