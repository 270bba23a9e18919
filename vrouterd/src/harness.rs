//! A vrouterd daemon inside this process, on cvlan-netio's in-memory network and TUN: the real
//! daemon (apply loop, file watch, local API on a Unix socket) with only the kernel replaced.
//! Tests (here and in cvlanctl) and demos run vrouters with it without root.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cvlan_netio::memory::{MemoryNet, MemoryTun, MemoryTunHost};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::daemon::{Daemon, DaemonError, load_host_config};
use crate::dataplane::Dataplane;

/// The pre-shared key of [`InMemory::pair`] (a test value, written to a file as in production).
pub const PAIR_PSK: &str = "in-memory-pair-secret";

/// The network of the vrouterd tests, as a file beside the other test networks.
const PAIR_NETWORK: &str = include_str!("../../tests/labs/vrouter-pair/network.kdl");

/// The placeholder `secret-file` paths in [`PAIR_NETWORK`]: gw's, then br's.
const PAIR_SECRETS: [&str; 2] = ["/vrouter-pair/gw.psk", "/vrouter-pair/br.psk"];

/// The network of [`InMemory::pair`] and of the vrouterd tests
/// (tests/labs/vrouter-pair/network.kdl): `gw` (10.0.0.1) protects 10.1.0.0/24 and initiates
/// to `br` (10.0.0.2), which protects 10.2.0.0/24 and answers (`%any`), both with
/// `aes256-sha256-ecp256` / `aes256-sha256` and DPD every 2 s; gw's pre-shared key is read
/// from `gw_psk`, br's from `br_psk`.
pub fn pair_network(gw_psk: &Path, br_psk: &Path) -> String {
    PAIR_NETWORK
        .replace(PAIR_SECRETS[0], &gw_psk.display().to_string())
        .replace(PAIR_SECRETS[1], &br_psk.display().to_string())
}

/// A running in-memory vrouter.
pub struct InMemory {
    /// Its local API socket.
    pub socket: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl InMemory {
    /// Starts vrouter `name` following `network` (network.kdl), with its vrouterd.kdl, state
    /// and socket in `host_dir`, bound on `net` at `addr` (NAT-T 4500 and IKE 500);
    /// `host_lines` are added to its vrouterd.kdl (e.g. `metrics listen=…`). Returns once the
    /// local API socket exists, with the host side of its TUN device.
    pub async fn start(
        host_dir: &Path,
        name: &str,
        network: &Path,
        net: &MemoryNet,
        (addr, host_lines): (Ipv4Addr, &str),
    ) -> Result<(Self, MemoryTunHost), DaemonError> {
        let io = |what: String| move |source| DaemonError::Io { what, source };
        std::fs::create_dir_all(host_dir)
            .map_err(io(format!("cannot create {}", host_dir.display())))?;
        let socket = host_dir.join("vrouterd.sock");
        let config = host_dir.join("vrouterd.kdl");
        std::fs::write(
            &config,
            format!(
                "vrouter \"{name}\"\nstate-dir \"{}\"\nsocket \"{}\"\ntun \"cvl0\"\nsource \"file\" path=\"{}\"\n{host_lines}\n",
                host_dir.join("state").display(),
                socket.display(),
                network.display()
            ),
        )
        .map_err(io(format!("cannot write {}", config.display())))?;
        let host = load_host_config(&config)?;
        let natt = net.bind(SocketAddr::new(IpAddr::V4(addr), 4500), 64);
        let ike = net.bind(SocketAddr::new(IpAddr::V4(addr), 500), 1);
        let (host_side, tun_host) = oneshot::channel();
        let daemon = Daemon::start_with(
            host,
            Box::new(move |settings, events| {
                // The TUN carries the vrouter's overlay addresses, as the real one does.
                let (tun, tun_host) = MemoryTun::new(settings.addresses.clone());
                let _ = host_side.send(tun_host);
                Box::pin(Dataplane::spawn_with(
                    settings.listen.ip(),
                    events,
                    move || Ok((tun, natt, Some(ike))),
                ))
            }),
        )
        .await?;
        let tun_host = tun_host.await.map_err(|_| DaemonError::Io {
            what: "the in-memory TUN was not made".into(),
            source: std::io::Error::other("no data plane"),
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.serve(async move {
            let _ = stopped.await;
        }));
        while !socket.exists() && !task.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok((Self { socket, stop, task }, tun_host))
    }

    /// Two vrouters under `dir` on a fresh in-memory network, set up by [`pair_network`]:
    /// `br` answers, `gw` initiates to it. Returns (gw, br) and their TUN hosts.
    pub async fn pair(dir: &Path) -> Result<[(Self, MemoryTunHost); 2], DaemonError> {
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|source| DaemonError::Io {
                what: format!("cannot write {}", path.display()),
                source,
            })
        };
        let psk = dir.join("psk");
        write(psk.clone(), format!("{PAIR_PSK}\n"))?;
        let network = dir.join("network.kdl");
        write(network.clone(), pair_network(&psk, &psk))?;
        let net = MemoryNet::new();
        let br = Self::start(
            &dir.join("br"),
            "br",
            &network,
            &net,
            (Ipv4Addr::new(10, 0, 0, 2), ""),
        )
        .await?;
        let gw = Self::start(
            &dir.join("gw"),
            "gw",
            &network,
            &net,
            (Ipv4Addr::new(10, 0, 0, 1), ""),
        )
        .await?;
        Ok([gw, br])
    }

    /// Stops the daemon (SAs deleted politely) and waits for it.
    pub async fn stop(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| DaemonError::Io {
            what: "the daemon task failed".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}
