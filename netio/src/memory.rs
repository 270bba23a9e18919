//! In-memory IO backends: a TUN whose other end is a test handle, and a UDP "switch" that
//! delivers datagrams between bound addresses. They let a driver run without root.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;
use tokio::sync::mpsc;

use crate::batch::{DatagramBatch, DatagramMeta, PacketBatch};
use crate::io::{TunIo, UdpIo};
use crate::send_queue::Transmit;

/// The device side of an in-memory TUN.
pub struct MemoryTun {
    addresses: Vec<IpNet>,
    from_host: mpsc::UnboundedReceiver<Vec<u8>>,
    to_host: mpsc::UnboundedSender<Vec<u8>>,
    routes: Arc<Mutex<Vec<IpNet>>>,
}

/// The host side of an in-memory TUN: what the local kernel would write and read.
pub struct MemoryTunHost {
    to_device: mpsc::UnboundedSender<Vec<u8>>,
    from_device: mpsc::UnboundedReceiver<Vec<u8>>,
    routes: Arc<Mutex<Vec<IpNet>>>,
}

impl MemoryTun {
    /// A TUN with the given overlay addresses, and its host side.
    pub fn new(addresses: Vec<IpNet>) -> (Self, MemoryTunHost) {
        let (to_device, from_host) = mpsc::unbounded_channel();
        let (to_host, from_device) = mpsc::unbounded_channel();
        let routes = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                addresses,
                from_host,
                to_host,
                routes: routes.clone(),
            },
            MemoryTunHost {
                to_device,
                from_device,
                routes,
            },
        )
    }
}

impl MemoryTunHost {
    /// Writes an IP packet into the TUN, as a local application would.
    pub fn write(&self, packet: &[u8]) -> bool {
        self.to_device.send(packet.to_vec()).is_ok()
    }

    /// The next packet the device wrote to the host; `None` once the device is gone.
    pub async fn read(&mut self) -> Option<Vec<u8>> {
        self.from_device.recv().await
    }

    /// The routes the device currently points at itself.
    pub fn routes(&self) -> Vec<IpNet> {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl TunIo for MemoryTun {
    fn headroom(&self) -> usize {
        0
    }

    async fn recv(&mut self, batch: &mut PacketBatch) -> io::Result<()> {
        batch.clear();
        let Some(first) = self.from_host.recv().await else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "host side closed",
            ));
        };
        batch.push(&first);
        while !batch.is_full() {
            let Ok(next) = self.from_host.try_recv() else {
                break;
            };
            batch.push(&next);
        }
        Ok(())
    }

    async fn send(&mut self, batch: &mut PacketBatch) -> io::Result<()> {
        for packet in batch.packets() {
            // A closed host side is like a TUN nobody reads: packets vanish.
            let _ = self.to_host.send(packet.to_vec());
        }
        Ok(())
    }

    async fn set_routes(&mut self, routes: &[IpNet]) -> io::Result<()> {
        *self.routes.lock().unwrap_or_else(PoisonError::into_inner) = routes.to_vec();
        Ok(())
    }

    fn addresses(&self) -> &[IpNet] {
        &self.addresses
    }
}

type Mailbox = mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>;
type Mailboxes = Arc<Mutex<HashMap<SocketAddr, Mailbox>>>;

/// A lossless in-memory UDP network.
#[derive(Clone, Default)]
pub struct MemoryNet {
    mailboxes: Mailboxes,
}

/// A UDP socket bound on a [`MemoryNet`].
pub struct MemoryUdp {
    addr: SocketAddr,
    net: MemoryNet,
    inbox: mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
    max_segments: usize,
}

impl MemoryNet {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `addr`; `max_segments` is the GSO size the socket claims (1: none).
    pub fn bind(&self, addr: SocketAddr, max_segments: usize) -> MemoryUdp {
        let (tx, inbox) = mpsc::unbounded_channel();
        self.boxes().insert(addr, tx);
        MemoryUdp {
            addr,
            net: self.clone(),
            inbox,
            max_segments: max_segments.max(1),
        }
    }

    /// Delivers one datagram; false if nothing is bound at `to`.
    pub fn deliver(&self, from: SocketAddr, to: SocketAddr, datagram: &[u8]) -> bool {
        match self.boxes().get(&to) {
            Some(tx) => tx.send((from, datagram.to_vec())).is_ok(),
            None => false,
        }
    }

    fn boxes(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Mailbox>> {
        self.mailboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MemoryUdp {
    fn drop(&mut self) {
        self.net.boxes().remove(&self.addr);
    }
}

impl UdpIo for MemoryUdp {
    async fn recv(&mut self, batch: &mut DatagramBatch) -> io::Result<()> {
        let Some(first) = self.inbox.recv().await else {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "network closed"));
        };
        let (bufs, meta) = batch.recv_slots();
        let mut count = 0;
        let mut next = Some(first);
        while let Some((from, datagram)) = next {
            let len = datagram.len().min(bufs[count].len());
            bufs[count][..len].copy_from_slice(&datagram[..len]);
            meta[count] = DatagramMeta {
                from,
                len,
                stride: len,
            };
            count += 1;
            if count == bufs.len() {
                break;
            }
            next = self.inbox.try_recv().ok();
        }
        batch.add_received(count);
        Ok(())
    }

    async fn send(&mut self, transmit: &Transmit, contents: &[u8]) -> io::Result<()> {
        let segment = transmit.segment_size.unwrap_or(contents.len()).max(1);
        for datagram in contents.chunks(segment) {
            self.net.deliver(self.addr, transmit.destination, datagram);
        }
        Ok(())
    }

    fn max_segments(&self) -> usize {
        self.max_segments
    }

    fn local_port(&self) -> u16 {
        self.addr.port()
    }
}
