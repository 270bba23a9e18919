//! The mesh device: drives an [`Engine`] with a TUN device and a UDP transport on
//! cvlan-netio's driver.
//!
//! One thread (with its own single-threaded runtime) owns the engine and the IO; the
//! [`MeshHandle`] talks to it over channels, so the daemon and the local API never lock the
//! data plane. Real backends are [`LinuxTun`] and [`SystemUdp`]; [`memory`] has in-memory
//! ones for tests without root.

mod machine;

use std::time::Instant;

use ipnet::IpNet;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use cvlan_netio::{
    DatagramBatch, DatagramMeta, LinuxTun, PacketBatch, SystemUdp, TunIo, UdpIo, memory,
};
use cvlan_netio::{Devices, Running};

use crate::PrivateKey;
use crate::config::{PeerConfig, PeerSetChanges};
use crate::engine::Engine;
use crate::engine::peers::PeerSetError;
use crate::event::Event;
use crate::filter::{PacketFilter, PassAll};
use crate::stats::{EngineStats, PeerStats};
use machine::{Command, MeshMachine, StatsOf};

/// The default TUN MTU: 1500 less IPv6 + UDP + WireGuard overhead (80 bytes).
pub const DEFAULT_MTU: u16 = 1420;

/// Peer configurations the engine takes at a time when a peer set is applied (~2 ms of its
/// thread; traffic flows between parts).
pub const PEER_SET_PART: usize = 2_000;

/// Events buffered per subscriber before the slowest one starts losing them.
const EVENT_CAPACITY: usize = 1024;

/// How to bring up a real mesh device.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// The node's private key.
    pub private_key: PrivateKey,
    /// UDP listen port (0: any free port).
    pub listen_port: u16,
    /// TUN interface name.
    pub tun_name: String,
    /// Overlay addresses with the overlay's prefix length (e.g. `100.64.0.10/10`); the prefix
    /// is on-link through the TUN, so overlay peers need no further routes.
    pub addresses: Vec<IpNet>,
    /// TUN MTU.
    pub mtu: u16,
    /// Use TUN offloads (virtio-net header, TSO/USO) and UDP GSO/GRO where the kernel has them.
    pub offload: bool,
}

impl MeshConfig {
    /// A configuration with the default MTU and offloads on.
    pub fn new(
        private_key: PrivateKey,
        tun_name: impl Into<String>,
        addresses: Vec<IpNet>,
    ) -> Self {
        Self {
            private_key,
            listen_port: 0,
            tun_name: tun_name.into(),
            addresses,
            mtu: DEFAULT_MTU,
            offload: true,
        }
    }
}

/// Why a mesh operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Creating or configuring the TUN device failed.
    #[error("TUN device {name}: {source}")]
    Tun {
        /// Interface name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Binding the UDP socket(s) failed.
    #[error("UDP port {port}: {source}")]
    Udp {
        /// The port.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer set was refused; the previous one keeps running.
    #[error(transparent)]
    PeerSet(#[from] PeerSetError),
    /// The peer set was applied but routes through the TUN could not be set.
    #[error("peers applied, but setting routes failed: {0}")]
    Routes(std::io::Error),
    /// Another peer set began before this one was complete; that one is applied instead.
    #[error("a newer peer set replaced this one before it was complete")]
    PeerSetInterrupted,
    /// The device task has stopped.
    #[error("the mesh device has stopped")]
    Stopped,
    /// The device task failed.
    #[error("the mesh device failed: {0}")]
    Failed(std::io::Error),
}

/// Everything the local API shows about the data plane.
#[derive(Debug, Clone)]
pub struct MeshStats {
    /// Engine-wide counters.
    pub engine: EngineStats,
    /// One entry per peer, sorted by key (for [`MeshHandle::stats_since`]: per peer that
    /// changed).
    pub peers: Vec<PeerStats>,
    /// The engine time the snapshot is as of: the `since` of the next incremental read.
    pub read_at: Instant,
    /// The UDP port in use.
    pub listen_port: u16,
    /// Prefixes routed through the TUN beyond its on-link overlay prefixes.
    pub routes: Vec<IpNet>,
}

/// A running mesh: the data-plane thread plus a handle to it. Dropping it without
/// [`MeshDevice::shutdown`] stops the thread too, which closes the TUN and sockets.
pub struct MeshDevice<F: PacketFilter = PassAll> {
    handle: MeshHandle<F>,
    running: Running<Command<F>>,
}

/// A cloneable way to reconfigure and observe a running [`MeshDevice`].
pub struct MeshHandle<F: PacketFilter = PassAll> {
    commands: mpsc::Sender<Command<F>>,
    events: broadcast::Sender<Event>,
    listen_port: u16,
}

impl<F: PacketFilter> Clone for MeshHandle<F> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            events: self.events.clone(),
            listen_port: self.listen_port,
        }
    }
}

impl MeshDevice<PassAll> {
    /// Creates the TUN device and UDP socket(s) and starts the engine with no peers.
    pub async fn start(config: MeshConfig) -> Result<Self, MeshError> {
        Self::start_with_filter(config, PassAll).await
    }
}

impl<F: PacketFilter> MeshDevice<F> {
    /// Like [`MeshDevice::start`], with a packet filter.
    pub async fn start_with_filter(config: MeshConfig, filter: F) -> Result<Self, MeshError> {
        let engine = Engine::with_filter(
            config.private_key.clone(),
            filter,
            tokio::time::Instant::now().into_std(),
        );
        Self::spawn_with(engine, move || {
            let udp = SystemUdp::bind(config.listen_port, config.offload).map_err(|source| {
                MeshError::Udp {
                    port: config.listen_port,
                    source,
                }
            })?;
            let tun = LinuxTun::create(
                &config.tun_name,
                &config.addresses,
                config.mtu,
                config.offload,
            )
            .map_err(|source| MeshError::Tun {
                name: config.tun_name.clone(),
                source,
            })?;
            Ok((tun, udp))
        })
        .await
    }

    /// Runs `engine` on a dedicated data-plane thread with its own single-threaded tokio
    /// runtime, so CPU-heavy work elsewhere in the daemon (netmap computation, API calls) never
    /// queues in front of packets. `make_io` builds the IO backends on that thread, inside its
    /// runtime (tokio IO objects belong to the runtime that created them).
    pub async fn spawn_with<T: TunIo, U: UdpIo>(
        engine: Engine<F>,
        make_io: impl FnOnce() -> Result<(T, U), MeshError> + Send + 'static,
    ) -> Result<Self, MeshError> {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let thread_events = events.clone();
        let running = cvlan_netio::spawn("cvlan-mesh", move || {
            let (tun, udp) = make_io()?;
            let machine = MeshMachine::new(engine, thread_events, udp.local_port());
            Ok((machine, Devices::new(tun, udp)))
        })
        .await
        .map_err(|e| e.flatten(MeshError::Failed, MeshError::Stopped))?;
        Ok(Self {
            handle: MeshHandle {
                commands: running.commands().clone(),
                events,
                listen_port: running.local_port(),
            },
            running,
        })
    }

    /// A handle for reconfiguring and observing the device.
    pub fn handle(&self) -> MeshHandle<F> {
        self.handle.clone()
    }

    /// Stops the engine and closes the TUN device (removing it) and the sockets.
    pub async fn shutdown(self) -> Result<(), MeshError> {
        self.running.stop().await.map_err(|_| MeshError::Stopped)
    }
}

impl<F: PacketFilter> MeshHandle<F> {
    /// Applies a whole desired peer set (see [`Engine::set_peers`]) and routes its allowed IPs
    /// that are not on-link through the TUN. The engine takes it [`PEER_SET_PART`]
    /// configurations at a time and carries traffic in between: 100,000 new peers would
    /// otherwise hold every packet for ~100 ms.
    pub async fn set_peers(&self, peers: Vec<PeerConfig>) -> Result<PeerSetChanges, MeshError> {
        let keys = peers.iter().map(|p| p.public_key).collect();
        let allowed = peers
            .iter()
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();
        self.ask(|reply| Command::BeginPeerSet(keys, reply))
            .await??;
        let mut rest = peers.into_iter().peekable();
        while rest.peek().is_some() {
            let part = rest.by_ref().take(PEER_SET_PART).collect();
            self.ask(|reply| Command::UpsertPeers(part, reply))
                .await??;
        }
        self.ask(|reply| Command::FinishPeerSet(allowed, reply))
            .await?
    }

    /// Replaces the node's private key (every peer handshakes again).
    pub async fn set_private_key(&self, key: PrivateKey) -> Result<(), MeshError> {
        self.ask(|reply| Command::SetPrivateKey(key, reply)).await
    }

    /// A snapshot of the engine and every peer.
    pub async fn stats(&self) -> Result<MeshStats, MeshError> {
        self.ask(|reply| Command::Stats(StatsOf::All, reply)).await
    }

    /// A snapshot of the engine and of its warm peers (those with a session, which includes
    /// every connected one): what a status needs, at the cost of the active peers only.
    pub async fn warm_stats(&self) -> Result<MeshStats, MeshError> {
        self.ask(|reply| Command::Stats(StatsOf::Warm, reply)).await
    }

    /// A snapshot of the engine and of the peers that changed at or after `since` (the
    /// `read_at` of an earlier snapshot): a live view's cost follows traffic, not peer count.
    pub async fn stats_since(&self, since: Instant) -> Result<MeshStats, MeshError> {
        self.ask(|reply| Command::Stats(StatsOf::ChangedSince(since), reply))
            .await
    }

    /// Runs `update` on the packet filter inside the engine task (e.g. to load a new policy).
    pub async fn update_filter(
        &self,
        update: impl FnOnce(&mut F) + Send + 'static,
    ) -> Result<(), MeshError> {
        self.ask(|reply| Command::UpdateFilter(Box::new(update), reply))
            .await
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The UDP port the device listens on.
    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    async fn ask<R>(
        &self,
        command: impl FnOnce(oneshot::Sender<R>) -> Command<F>,
    ) -> Result<R, MeshError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| MeshError::Stopped)?;
        rx.await.map_err(|_| MeshError::Stopped)
    }
}

/// Allowed IPs that need a route through the TUN: those not inside one of its own prefixes,
/// with prefixes covered by another listed prefix left out.
pub(crate) fn routes_for(
    allowed: impl IntoIterator<Item = IpNet>,
    on_link: &[IpNet],
) -> Vec<IpNet> {
    IpNet::aggregate(&cvlan_netio::off_link(on_link, allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_skip_on_link_prefixes_and_aggregate() {
        let key = PrivateKey::generate().public_key();
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let peer = PeerConfig::new(
            key,
            [
                net("100.64.0.2/32"),
                net("10.1.0.0/24"),
                net("10.1.1.0/24"),
                net("fd00:1::/64"),
            ],
        );
        let routes = routes_for(
            peer.allowed_ips.iter().copied(),
            &[net("100.64.0.1/10"), net("fd7a::1/48")],
        );
        assert_eq!(routes, vec![net("10.1.0.0/23"), net("fd00:1::/64")]);
    }
}
