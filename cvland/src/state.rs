//! What the daemon knows about itself, shared between the reconciler (the only writer of the
//! running state), the source (its health) and the local API (readers). Locks are held for
//! copies only, never across an await.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use cvlan_core::netmap::NetMap;
use cvlan_mesh::PublicKey;
use cvlan_mesh::device::MeshHandle;
use cvlan_mesh::firewall::PolicyFilter;
use cvlan_proto::v1;

use crate::events::EventBus;
use crate::policy::RunningPolicy;

/// The handle of the running mesh device, whose packets the policy filter decides.
pub type Mesh = MeshHandle<PolicyFilter>;

/// The netmap that runs now and where it came from.
#[derive(Debug, Clone)]
pub struct Running {
    /// The map the mesh is configured from.
    pub netmap: Arc<NetMap>,
    /// Its revision (git commit id, file SHA-256).
    pub revision: String,
    /// When it was applied.
    pub applied_at: SystemTime,
    /// The policy in force: compiled from the netmap, with the network it came from.
    pub policy: Arc<RunningPolicy>,
}

/// The mutable part of the daemon's state.
#[derive(Default)]
pub struct State {
    /// The source as the local API shows it (kind, location, last contact, last error).
    pub source: v1::SourceInfo,
    /// What runs; `None` before the first successful apply.
    pub running: Option<Running>,
    /// The newest apply attempt.
    pub last_apply: Option<v1::ApplyResult>,
    /// The running mesh device.
    pub mesh: Option<Mesh>,
    /// When the running device's filter started counting policy hits.
    pub hits_since: Option<SystemTime>,
    /// The UDP port the mesh listens on (0 before it runs).
    pub listen_port: u16,
    /// Incremented every time the device (re)starts, so live views know to resend everything.
    pub generation: u64,
}

/// The daemon's identity, its event bus and its state.
pub struct Shared {
    /// The node this daemon runs.
    pub node: String,
    /// Its WireGuard public key.
    pub public_key: PublicKey,
    /// The TUN device name.
    pub tun: String,
    /// When the daemon started.
    pub started_at: SystemTime,
    /// The event bus.
    pub events: EventBus,
    state: RwLock<State>,
}

impl Shared {
    /// Shared state for `node`, with the source described by `source` and nothing running.
    pub fn new(node: &str, public_key: PublicKey, tun: &str, source: v1::SourceInfo) -> Self {
        Self {
            node: node.to_owned(),
            public_key,
            tun: tun.to_owned(),
            started_at: SystemTime::now(),
            events: EventBus::default(),
            state: RwLock::new(State {
                source,
                ..State::default()
            }),
        }
    }

    /// Reads the state (hold the guard briefly; never across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the state.
    pub fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut state)
    }

    /// The running map and the mesh handle, copied out.
    pub fn running(&self) -> (Option<Running>, Option<Mesh>) {
        let state = self.read();
        (state.running.clone(), state.mesh.clone())
    }
}
