//! The narrow IO traits a driver works through — a TUN device and a UDP transport — with
//! real backends ([`crate::LinuxTun`], [`crate::SystemUdp`]) and in-memory ones
//! ([`crate::memory`]).

use std::future::Future;
use std::io;

use ipnet::IpNet;

use crate::batch::{DatagramBatch, PacketBatch};
use crate::send_queue::Transmit;

/// A TUN device: reads and writes batches of IP packets and keeps routes pointing at itself.
pub trait TunIo: Send + 'static {
    /// Headroom each packet buffer needs for this backend (e.g. a virtio-net header).
    fn headroom(&self) -> usize;

    /// Waits for packets and reads at least one into `batch`. Cancel-safe.
    fn recv(&mut self, batch: &mut PacketBatch) -> impl Future<Output = io::Result<()>> + Send;

    /// Writes every packet in `batch` (may coalesce them; the batch is consumed).
    fn send(&mut self, batch: &mut PacketBatch) -> impl Future<Output = io::Result<()>> + Send;

    /// Makes the routes through this device exactly `routes`.
    fn set_routes(&mut self, routes: &[IpNet]) -> impl Future<Output = io::Result<()>> + Send;

    /// The device's overlay addresses (their prefixes are on-link: no routes needed).
    fn addresses(&self) -> &[IpNet];
}

/// A UDP transport bound to one port.
pub trait UdpIo: Send + 'static {
    /// Waits for datagrams and adds at least one to `batch` (which the caller clears).
    /// Cancel-safe.
    fn recv(&mut self, batch: &mut DatagramBatch) -> impl Future<Output = io::Result<()>> + Send;

    /// Sends `contents` as the transmit describes (several datagrams when segmented).
    fn send(
        &mut self,
        transmit: &Transmit,
        contents: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// Most datagrams one [`UdpIo::send`] may carry (1 without GSO).
    fn max_segments(&self) -> usize;

    /// The local port (useful when bound to port 0).
    fn local_port(&self) -> u16;
}
