//! What the reconciler needs from the host, behind one trait: a mesh device, and IP forwarding
//! for a subnet router. [`Linux`] is the real host (a TUN device, a UDP socket, sysctls);
//! [`Memory`] runs the same engine and driver on in-memory IO, so the whole daemon can be
//! tested in one process without root.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use cvlan_mesh::Engine;
use cvlan_mesh::device::memory::{MemoryNet, MemoryTun, MemoryTunHost};
use cvlan_mesh::device::{MeshConfig, MeshDevice, MeshError};
use cvlan_mesh::firewall::PolicyFilter;

/// A mesh device being brought up.
pub type Starting<'a> =
    Pin<Box<dyn Future<Output = Result<MeshDevice<PolicyFilter>, MeshError>> + Send + 'a>>;

/// The host as the reconciler changes it.
pub trait Platform: Send + Sync + 'static {
    /// Brings up a mesh device for `config`, its packets decided by `filter`.
    fn start_device(&self, config: MeshConfig, filter: PolicyFilter) -> Starting<'_>;
    /// Turns the `sysctls` on (each a `/proc/sys` path); returns those that were off.
    fn enable_forwarding(&self, sysctls: &[&'static str]) -> std::io::Result<Vec<&'static str>>;
}

/// This Linux host: TUN devices, UDP sockets, `/proc/sys`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

impl Platform for Linux {
    fn start_device(&self, config: MeshConfig, filter: PolicyFilter) -> Starting<'_> {
        Box::pin(MeshDevice::start_with_filter(config, filter))
    }

    fn enable_forwarding(&self, sysctls: &[&'static str]) -> std::io::Result<Vec<&'static str>> {
        crate::forwarding::enable(sysctls)
    }
}

/// A host in memory: the device's UDP socket is bound at `addr` on a shared [`MemoryNet`]
/// (several daemons in one test can reach each other), its TUN is a queue the test can
/// read and write, and forwarding only records what it was asked.
pub struct Memory {
    net: MemoryNet,
    addr: SocketAddr,
    tun: Mutex<Option<MemoryTunHost>>,
    forwarding: Mutex<Vec<&'static str>>,
}

impl Memory {
    /// A host whose mesh listens at `addr` on `net`.
    pub fn new(net: MemoryNet, addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            net,
            addr,
            tun: Mutex::new(None),
            forwarding: Mutex::new(Vec::new()),
        })
    }

    /// The host side of the newest device's TUN (taken: one reader at a time).
    pub fn take_tun(&self) -> Option<MemoryTunHost> {
        self.tun
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Every sysctl the reconciler turned on so far.
    pub fn forwarding(&self) -> Vec<&'static str> {
        self.forwarding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Platform for Memory {
    fn start_device(&self, config: MeshConfig, filter: PolicyFilter) -> Starting<'_> {
        let engine = Engine::with_filter(
            config.private_key.clone(),
            filter,
            tokio::time::Instant::now().into_std(),
        );
        let (tun, host) = MemoryTun::new(config.addresses);
        let udp = self.net.bind(self.addr, 1);
        *self.tun.lock().unwrap_or_else(PoisonError::into_inner) = Some(host);
        Box::pin(MeshDevice::spawn_with(engine, move || Ok((tun, udp))))
    }

    fn enable_forwarding(&self, sysctls: &[&'static str]) -> std::io::Result<Vec<&'static str>> {
        let mut done = self
            .forwarding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let changed: Vec<_> = sysctls
            .iter()
            .filter(|s| !done.contains(s))
            .copied()
            .collect();
        done.extend(&changed);
        Ok(changed)
    }
}

impl<P: Platform + ?Sized> Platform for Arc<P> {
    fn start_device(&self, config: MeshConfig, filter: PolicyFilter) -> Starting<'_> {
        (**self).start_device(config, filter)
    }

    fn enable_forwarding(&self, sysctls: &[&'static str]) -> std::io::Result<Vec<&'static str>> {
        (**self).enable_forwarding(sysctls)
    }
}
