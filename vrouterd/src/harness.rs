//! A vrouterd daemon inside this process, on cvlan-mesh's in-memory network and TUN: the real
//! daemon (apply loop, file watch, local API on a Unix socket) with only the kernel replaced.
//! Tests (here and in cvlanctl) and demos run vrouters with it without root.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cvlan_mesh::device::memory::{MemoryNet, MemoryTun, MemoryTunHost};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::daemon::{Daemon, DaemonError, load_host_config};
use crate::dataplane::Dataplane;

/// A running in-memory vrouter.
pub struct InMemory {
    /// Its local API socket.
    pub socket: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl InMemory {
    /// Starts vrouter `name` following `network` (network.kdl), with its vrouterd.kdl, state
    /// and socket in `host_dir`, bound on `net` at `addr` (NAT-T 4500 and IKE 500). Returns
    /// once the local API socket exists, with the host side of its TUN device.
    pub async fn start(
        host_dir: &Path,
        name: &str,
        network: &Path,
        net: &MemoryNet,
        addr: Ipv4Addr,
    ) -> Result<(Self, MemoryTunHost), DaemonError> {
        let io = |what: String| move |source| DaemonError::Io { what, source };
        std::fs::create_dir_all(host_dir)
            .map_err(io(format!("cannot create {}", host_dir.display())))?;
        let socket = host_dir.join("vrouterd.sock");
        let config = host_dir.join("vrouterd.kdl");
        std::fs::write(
            &config,
            format!(
                "vrouter \"{name}\"\nstate-dir \"{}\"\nsocket \"{}\"\ntun \"cvl0\"\nsource \"file\" path=\"{}\"\n",
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

    /// Stops the daemon (SAs deleted politely) and waits for it.
    pub async fn stop(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| DaemonError::Io {
            what: "the daemon task failed".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}
