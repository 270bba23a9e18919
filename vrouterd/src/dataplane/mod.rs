//! The vrouter's data plane: cvlan-netio's driver on one thread with its own single-threaded
//! runtime owns the IKE endpoint (as the `Vrouter` machine), the UDP sockets (NAT-T
//! port and, when free, UDP 500) and the TUN device; the [`Dataplane`] handle talks to it over
//! a channel. Real IO is cvlan-netio's `LinuxTun` and `SystemUdp`; tests use its in-memory
//! backends through [`Dataplane::spawn_with`].

mod machine;
mod peers;
mod report;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cvlan_ipsec::{Endpoint, EndpointConfig, IkeSaInfo, Stats};
use cvlan_netio::{Devices, LinuxTun, Running, SystemUdp, TunIo, UdpIo};
use ipnet::IpNet;
use tokio::sync::oneshot;

use crate::desired::PeerSpec;
use crate::plan::PeerPlan;
use cvlan_agent::EventBus;
use machine::Vrouter;
pub(crate) use report::ts_text;

/// The plain IKE port, bound beside the NAT-T port when it is free.
pub const IKE_PORT: u16 = 500;

/// The first IKE retransmission; later ones double. With [`RETRANSMIT_TRIES`] a silent peer
/// is given up (and a dead one found by DPD) about 31 s after the request.
pub const RETRANSMIT_BASE: std::time::Duration = std::time::Duration::from_secs(1);
/// IKE retransmissions before a request is given up.
pub const RETRANSMIT_TRIES: u32 = 4;

/// The TUN MTU: 1500 less the largest ESP-in-UDP overhead we produce (IPv6 outer header,
/// UDP, ESP header, CBC IV, padding, ICV), like strongSwan's libipsec device.
pub const MTU: u16 = 1400;

/// How to bring up the real data plane.
#[derive(Debug, Clone)]
pub struct DataplaneSettings {
    /// TUN interface name.
    pub tun_name: String,
    /// The vrouter's overlay addresses with prefix lengths (on-link through the TUN).
    pub addresses: Vec<IpNet>,
    /// Where IKE with NAT-T and ESP-in-UDP are received (UDP 500 is bound on its address too).
    pub listen: SocketAddr,
    /// Use TUN and UDP offloads where the kernel has them.
    pub offload: bool,
}

/// Why the data plane failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataplaneError {
    /// Binding a UDP socket failed.
    #[error("cannot bind UDP {addr}: {reason}")]
    Udp {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Creating the TUN device failed.
    #[error("cannot create TUN device {name}: {reason}")]
    Tun {
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Setting the routes to the peers' subnets failed; the peer set was left as it was.
    #[error("cannot set routes through the TUN device: {0}")]
    Routes(String),
    /// The data-plane thread could not start.
    #[error("cannot start the data-plane thread: {0}")]
    Thread(String),
    /// The data-plane thread has stopped.
    #[error("the data plane has stopped")]
    Stopped,
}

/// Counters of the data path outside the IKE endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets read from the TUN device.
    pub tun_in: u64,
    /// Decrypted packets written to the TUN device.
    pub tun_out: u64,
    /// TUN packets whose destination is in no peer's remote traffic selectors.
    pub no_route: u64,
    /// TUN packets for a peer without a child SA that covers them.
    pub no_child_sa: u64,
    /// TUN packets that could not be sealed (SA expired, sequence numbers used up).
    pub seal_errors: u64,
    /// UDP sends that failed.
    pub send_errors: u64,
    /// IO errors on the TUN device or the sockets.
    pub io_errors: u64,
}

/// Everything the local API shows about SAs and the data path.
#[derive(Debug, Clone)]
pub struct SasSnapshot {
    /// Every IKE SA with its child SAs.
    pub sas: Vec<IkeSaInfo>,
    /// The endpoint's counters (IKE and ESP in and out, drops by reason).
    pub stats: Stats,
    /// The data path's counters.
    pub counters: Counters,
    /// Configured peers.
    pub peers_total: u32,
    /// Peers with an established IKE SA.
    pub peers_up: u32,
    /// The NAT-T port bound.
    pub natt_port: u16,
}

pub(crate) enum Command {
    Apply(
        Vec<PeerSpec>,
        oneshot::Sender<Result<PeerPlan, DataplaneError>>,
    ),
    Sas(oneshot::Sender<SasSnapshot>),
    Stop(oneshot::Sender<()>),
}

/// The handle of a running data plane. Dropping it stops the thread (SAs are not deleted
/// politely then: use [`Dataplane::shutdown`]).
pub struct Dataplane {
    running: Running<Command>,
}

impl Dataplane {
    /// Binds the sockets, creates the TUN device and starts the data plane with no peers.
    pub async fn start(
        settings: DataplaneSettings,
        events: Arc<EventBus>,
    ) -> Result<Self, DataplaneError> {
        let listen = settings.listen;
        Self::spawn_with(listen.ip(), events, move || {
            let udp_err = |addr: SocketAddr| {
                move |e: std::io::Error| DataplaneError::Udp {
                    addr,
                    reason: e.to_string(),
                }
            };
            let natt = SystemUdp::bind_addr(listen, settings.offload).map_err(udp_err(listen))?;
            let ike_addr = SocketAddr::new(listen.ip(), IKE_PORT);
            let ike = match SystemUdp::bind_addr(ike_addr, false) {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tracing::warn!(%ike_addr, "UDP 500 is in use: IKE starts on the NAT-T port");
                    None
                }
                Err(e) => return Err(udp_err(ike_addr)(e)),
            };
            let tun = LinuxTun::create(
                &settings.tun_name,
                &settings.addresses,
                MTU,
                settings.offload,
            )
            .map_err(|e| DataplaneError::Tun {
                name: settings.tun_name.clone(),
                reason: e.to_string(),
            })?;
            Ok((tun, natt, ike))
        })
        .await
    }

    /// Runs the data plane on its own thread with IO made by `make_io` there (TUN, NAT-T
    /// socket, optional IKE socket). `local_ip` is the address SAs use as ours.
    pub async fn spawn_with<T: TunIo, U: UdpIo>(
        local_ip: IpAddr,
        events: Arc<EventBus>,
        make_io: impl FnOnce() -> Result<(T, U, Option<U>), DataplaneError> + Send + 'static,
    ) -> Result<Self, DataplaneError> {
        let running = cvlan_netio::spawn("cvlan-vrouter", move || {
            let (tun, natt, ike) = make_io()?;
            let natt_port = natt.local_port();
            let config = EndpointConfig {
                local_ip,
                ike_port: ike.as_ref().map_or(natt_port, UdpIo::local_port),
                natt_port,
                retransmit_base: RETRANSMIT_BASE,
                retransmit_tries: RETRANSMIT_TRIES,
                ..EndpointConfig::default()
            };
            let now = tokio::time::Instant::now().into_std();
            let ep = Endpoint::new(config, Box::new(rand_core::OsRng), now);
            let vrouter = Vrouter::new(ep, events, local_ip, ike.is_some());
            let devices = Devices {
                tun,
                primary: natt,
                secondary: ike,
            };
            Ok((vrouter, devices))
        })
        .await
        .map_err(|e| {
            e.flatten(
                |e| DataplaneError::Thread(e.to_string()),
                DataplaneError::Stopped,
            )
        })?;
        Ok(Self { running })
    }

    /// Applies a whole desired peer set as a diff; routes to the peers' subnets follow.
    pub async fn apply(&self, peers: Vec<PeerSpec>) -> Result<PeerPlan, DataplaneError> {
        self.ask(|reply| Command::Apply(peers, reply)).await?
    }

    /// A snapshot of the SAs and counters.
    pub async fn sas(&self) -> Result<SasSnapshot, DataplaneError> {
        self.ask(Command::Sas).await
    }

    /// Deletes every SA (telling the peers), then stops; the TUN device disappears with the
    /// thread.
    pub async fn shutdown(&self) -> Result<(), DataplaneError> {
        self.ask(Command::Stop).await
    }

    async fn ask<R>(
        &self,
        command: impl FnOnce(oneshot::Sender<R>) -> Command,
    ) -> Result<R, DataplaneError> {
        let (tx, rx) = oneshot::channel();
        self.running
            .commands()
            .send(command(tx))
            .await
            .map_err(|_| DataplaneError::Stopped)?;
        rx.await.map_err(|_| DataplaneError::Stopped)
    }
}
