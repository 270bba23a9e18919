//! The real UDP transport: IPv4 and (when the host has it) IPv6 sockets on the listen port,
//! or one socket on a given address, batched with recvmmsg and UDP GRO on receive and UDP GSO
//! on send (via `quinn-udp`, which falls back to plain calls where the kernel lacks them).

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::batch::{DatagramBatch, DatagramMeta};
use crate::io::UdpIo;
use crate::send_queue::Transmit;

/// Socket buffer size asked for (the kernel caps it at net.core.{r,w}mem_max).
const SOCKET_BUFFER: usize = 4 << 20;

struct BatchedSocket {
    io: UdpSocket,
    state: UdpSocketState,
}

/// UDP sockets on one port: a primary one (IPv4, or the one bound address) and an optional
/// IPv6 wildcard beside it.
pub struct SystemUdp {
    primary: BatchedSocket,
    /// True when the primary socket is an IPv6 one (bound to an IPv6 address).
    primary_v6: bool,
    v6: Option<BatchedSocket>,
    port: u16,
    offload: bool,
    meta: Vec<RecvMeta>,
}

impl SystemUdp {
    /// Binds `port` (0: any) on IPv4, and on IPv6 too when available. `offload` allows GSO.
    pub fn bind(port: u16, offload: bool) -> io::Result<Self> {
        let v4 = BatchedSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        let port = v4.io.local_addr()?.port();
        let v6 = match BatchedSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::info!(error = %e, "no IPv6 UDP socket; IPv4 only");
                None
            }
        };
        Ok(Self {
            primary: v4,
            primary_v6: false,
            v6,
            port,
            offload,
            meta: vec![RecvMeta::default(); quinn_udp::BATCH_SIZE],
        })
    }

    /// Binds one socket on `addr` (a wildcard address binds like [`SystemUdp::bind`]: IPv4, and
    /// IPv6 when available). Used where a daemon listens on one configured address.
    pub fn bind_addr(addr: SocketAddr, offload: bool) -> io::Result<Self> {
        if addr.ip() == std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            return Self::bind(addr.port(), offload);
        }
        let socket = BatchedSocket::bind(addr)?;
        let port = socket.io.local_addr()?.port();
        Ok(Self {
            primary: socket,
            primary_v6: addr.is_ipv6(),
            v6: None,
            port,
            offload,
            meta: vec![RecvMeta::default(); quinn_udp::BATCH_SIZE],
        })
    }

    /// True when an IPv6 socket is bound too.
    pub fn has_ipv6(&self) -> bool {
        self.v6.is_some()
    }

    fn socket_for(&self, destination: &SocketAddr) -> io::Result<&BatchedSocket> {
        match (destination, &self.v6) {
            (SocketAddr::V6(_), Some(v6)) => Ok(v6),
            (d, _) if d.is_ipv6() == self.primary_v6 => Ok(&self.primary),
            _ => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no socket of the destination's address family",
            )),
        }
    }
}

impl BatchedSocket {
    fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        // Best effort: a smaller buffer only costs throughput.
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
        socket.bind(&addr.into())?;
        let io = UdpSocket::from_std(socket.into())?;
        let state = UdpSocketState::new((&io).into())?;
        Ok(Self { io, state })
    }

    /// Reads whatever is ready (several datagrams per call, GRO trains split by `stride`).
    fn try_recv(&self, batch: &mut DatagramBatch, meta: &mut [RecvMeta]) -> io::Result<()> {
        let (bufs, out) = batch.recv_slots();
        let n = bufs.len().min(meta.len());
        let mut slices: Vec<IoSliceMut<'_>> =
            bufs[..n].iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let count = self.io.try_io(Interest::READABLE, || {
            self.state
                .recv((&self.io).into(), &mut slices, &mut meta[..n])
        })?;
        for (slot, m) in out.iter_mut().zip(&meta[..count]) {
            *slot = DatagramMeta {
                from: m.addr,
                len: m.len,
                stride: m.stride,
            };
        }
        batch.add_received(count);
        Ok(())
    }
}

impl UdpIo for SystemUdp {
    async fn recv(&mut self, batch: &mut DatagramBatch) -> io::Result<()> {
        loop {
            let primary_first = match &self.v6 {
                None => {
                    self.primary.io.readable().await?;
                    true
                }
                Some(v6) => tokio::select! {
                    r = self.primary.io.readable() => { r?; true }
                    r = v6.io.readable() => { r?; false }
                },
            };
            let socket = match (&self.v6, primary_first) {
                (Some(v6), false) => v6,
                _ => &self.primary,
            };
            // Keep reading while data is ready: a bigger batch means bigger coalesced TUN
            // writes (and fewer TCP ACKs) on the way out.
            loop {
                match socket.try_recv(batch, &mut self.meta) {
                    Ok(()) if !batch.is_full() => {}
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if !batch.is_empty() {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, transmit: &Transmit, contents: &[u8]) -> io::Result<()> {
        let socket = self.socket_for(&transmit.destination)?;
        let t = quinn_udp::Transmit {
            destination: transmit.destination,
            ecn: None,
            contents,
            segment_size: transmit.segment_size,
            src_ip: None,
        };
        socket
            .io
            .async_io(Interest::WRITABLE, || {
                socket.state.try_send((&socket.io).into(), &t)
            })
            .await
    }

    fn max_segments(&self) -> usize {
        // Read on every flush: quinn-udp turns GSO off if the kernel rejects it at send time.
        if !self.offload {
            return 1;
        }
        self.v6
            .as_ref()
            .map_or(usize::MAX, |s| s.state.max_gso_segments())
            .min(self.primary.state.max_gso_segments())
    }

    fn local_port(&self) -> u16 {
        self.port
    }
}
