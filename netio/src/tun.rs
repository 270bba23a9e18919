//! The real TUN device (tun-rs, Linux): overlay addresses, MTU, offloads, and routes.
//!
//! With offloads the kernel hands over TCP/UDP super-packets with a virtio-net header, which
//! tun-rs splits into MTU-sized packets; on the way back tun-rs coalesces packets of one flow
//! (GRO) so the kernel sees few large writes. The device disappears when this value drops.

use std::io;

use ipnet::IpNet;
use tokio::process::Command;
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, VIRTIO_NET_HDR_LEN};

use crate::batch::PacketBatch;
use crate::io::TunIo;

/// Most packets one offloaded read can split into (64 KiB at the smallest MSS we expect).
const MAX_SEGMENTS: usize = 64;

/// Packets the kernel queues for us before dropping (its default, 500, loses bursts whenever
/// the driver thread is briefly descheduled).
const TX_QUEUE_LEN: u32 = 2000;

/// A Linux TUN device owned by this process.
pub struct LinuxTun {
    device: AsyncDevice,
    name: String,
    addresses: Vec<IpNet>,
    offload: bool,
    original: Vec<u8>,
    gro: GROTable,
    routes: Vec<IpNet>,
}

impl LinuxTun {
    /// Creates `name` with `addresses` (prefix lengths give the on-link overlay), `mtu`, up,
    /// with offloads when `offload` is set and the kernel accepts them.
    pub fn create(name: &str, addresses: &[IpNet], mtu: u16, offload: bool) -> io::Result<Self> {
        let mut builder = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .offload(offload)
            .tx_queue_len(TX_QUEUE_LEN);
        let mut v4 = addresses.iter().filter_map(|n| match n {
            IpNet::V4(n) => Some(*n),
            IpNet::V6(_) => None,
        });
        if let Some(first) = v4.next() {
            builder = builder.ipv4(first.addr(), first.prefix_len(), None);
        }
        for net in addresses {
            if let IpNet::V6(n) = net {
                builder = builder.ipv6(n.addr(), n.prefix_len());
            }
        }
        let device = builder.build_async()?;
        for n in v4 {
            device.add_address_v4(n.addr(), n.prefix_len())?;
        }
        let offload = device.tcp_gso();
        tracing::info!(name, mtu, offload, "TUN device up");
        Ok(Self {
            device,
            name: name.to_owned(),
            addresses: addresses.to_vec(),
            offload,
            original: vec![0; VIRTIO_NET_HDR_LEN + 65_535],
            gro: GROTable::new(),
            routes: Vec::new(),
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the kernel accepted the offloads (virtio-net header, TSO/USO).
    pub fn offload(&self) -> bool {
        self.offload
    }
}

impl TunIo for LinuxTun {
    fn headroom(&self) -> usize {
        if self.offload { VIRTIO_NET_HDR_LEN } else { 0 }
    }

    async fn recv(&mut self, batch: &mut PacketBatch) -> io::Result<()> {
        let (bufs, sizes, headroom) = batch.recv_slots();
        let count = if self.offload {
            let mut count = self
                .device
                .recv_multiple(&mut self.original, bufs, sizes, headroom)
                .await?;
            // Drain what else is ready while a whole super-packet still fits.
            while bufs.len() - count >= MAX_SEGMENTS {
                match self.device.try_recv_multiple(
                    &mut self.original,
                    &mut bufs[count..],
                    &mut sizes[count..],
                    headroom,
                ) {
                    Ok(n) => count += n,
                    Err(_) => break,
                }
            }
            count
        } else {
            // One read per packet, but drain what is ready before handing the batch over.
            sizes[0] = self.device.recv(&mut bufs[0][headroom..]).await?;
            let mut count = 1;
            while count < bufs.len() {
                match self.device.try_recv(&mut bufs[count][headroom..]) {
                    Ok(n) => {
                        sizes[count] = n;
                        count += 1;
                    }
                    Err(_) => break,
                }
            }
            count
        };
        batch.set_received(count);
        Ok(())
    }

    async fn send(&mut self, batch: &mut PacketBatch) -> io::Result<()> {
        let (bufs, headroom) = batch.send_slots();
        if self.offload {
            self.device
                .send_multiple(&mut self.gro, bufs, headroom)
                .await?;
        } else {
            for buf in bufs.iter() {
                self.device.send(&buf[headroom..]).await?;
            }
        }
        Ok(())
    }

    async fn set_routes(&mut self, routes: &[IpNet]) -> io::Result<()> {
        for net in routes.iter().filter(|n| !self.routes.contains(n)) {
            ip_route(&["replace", &net.to_string(), "dev", &self.name]).await?;
        }
        for net in self.routes.iter().filter(|n| !routes.contains(n)) {
            // Already gone is fine: the goal is that it is not there.
            let _ = ip_route(&["del", &net.to_string(), "dev", &self.name]).await;
        }
        self.routes = routes.to_vec();
        Ok(())
    }

    fn addresses(&self) -> &[IpNet] {
        &self.addresses
    }
}

/// Runs `ip route ARGS` (iproute2), mapping a failure to an error with its stderr.
async fn ip_route(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").arg("route").args(args).output().await?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip route {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}
