//! What the daemon knows about itself, shared between the reconciler (the only writer of the
//! running state), the source (its health, in the agent's state) and the local API (readers).
//! Locks are held for copies only, never across an await.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use cvlan_agent::AgentState;
use cvlan_agent::dns::DnsStatus;
use cvlan_core::netmap::NetMap;
use cvlan_mesh::device::MeshHandle;
use cvlan_mesh::firewall::PolicyFilter;

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

/// The mutable part of the node's state.
#[derive(Default)]
pub struct State {
    /// What runs; `None` before the first successful apply.
    pub running: Option<Running>,
    /// The running mesh device.
    pub mesh: Option<Mesh>,
    /// When the running device's filter started counting policy hits.
    pub hits_since: Option<SystemTime>,
    /// The UDP port the mesh listens on (0 before it runs).
    pub listen_port: u16,
    /// Incremented every time the device (re)starts, so live views know to resend everything.
    pub generation: u64,
}

/// The agent's identity and health, and the node's own state.
pub struct Shared {
    /// Name, key, event bus, source health, last apply.
    pub agent: Arc<AgentState>,
    /// The TUN device name.
    pub tun: String,
    /// The resolver for overlay names, as `cvlanctl dns status` reads it.
    pub dns: Arc<DnsStatus>,
    state: RwLock<State>,
}

impl Shared {
    /// Shared state for the node `agent` names, with nothing running; `dns` is the state of
    /// the resolver the reconciler owns.
    pub fn new(agent: Arc<AgentState>, tun: &str, dns: Arc<DnsStatus>) -> Self {
        Self {
            agent,
            tun: tun.to_owned(),
            dns,
            state: RwLock::new(State::default()),
        }
    }

    /// The node this daemon runs.
    pub fn node(&self) -> &str {
        &self.agent.name
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
