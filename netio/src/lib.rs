//! cvlan-netio: the IO side of CloudVLAN's data planes, one driver for all of them.
//!
//! A data plane is a sans-IO [`Machine`] (the WireGuard mesh engine, the IKE/ESP endpoint)
//! run by one driver loop ([`spawn`]) on a thread of its own. The driver waits on a TUN device,
//! one or two UDP sockets, commands and the machine's timer; feeds the machine packets and
//! datagrams; and sends what it queued in batches: UDP GSO sends from a [`SendQueue`] per
//! socket, coalesced TUN writes from a [`PacketBatch`].
//!
//! The devices sit behind the narrow [`TunIo`] and [`UdpIo`] traits: [`LinuxTun`] (tun-rs,
//! with virtio-net offloads) and [`SystemUdp`] (recvmmsg, UDP GRO and GSO through quinn-udp)
//! for real, [`memory`] for tests without root.

mod batch;
mod control;
mod driver;
mod io;
mod machine;
pub mod memory;
mod send_queue;
mod thread;
mod tun;
mod udp;

pub use batch::{DatagramBatch, DatagramMeta, PacketBatch};
pub use control::{Control, IoCounters, off_link};
pub use driver::Devices;
pub use io::{TunIo, UdpIo};
pub use machine::{Flow, Machine, Output, Socket};
pub use send_queue::{SendQueue, Transmit};
pub use thread::{Running, SpawnError, Stopped, spawn};
pub use tun::LinuxTun;
pub use udp::SystemUdp;
