//! The reconciler: the one task that changes what runs. Each reading of the source is checked
//! and turned into this node's netmap ([`desired`]), planned against the running map with
//! `cvlan_core::plan`, and applied: the device restarts only when the node's own addresses or
//! port change, otherwise the mesh gets the whole peer set and applies only the difference.
//! An invalid reading or a failed apply leaves the previous state running and is reported in
//! status (`last_apply`), events and the log. Every applied map is cached in the state dir, and
//! its names go to the resolver (`cvlan_agent::dns`), whose zone is swapped whole per apply.

pub mod desired;
pub mod device;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use cvlan_agent::cache::{self, CachedState};
use cvlan_agent::dns::Dns;
use cvlan_agent::source::{Compiled, Update};
use cvlan_agent::{ApplyResult, EventLevel, Host, Outcome, Rejection};
use cvlan_core::netmap::NetMap;
use cvlan_core::plan::{Action, Plan, plan};
use cvlan_mesh::PrivateKey;
use cvlan_mesh::device::MeshError;
use tokio::sync::{mpsc, watch};

use crate::platform::Platform;
use crate::policy::RunningPolicy;
use crate::state::{Running, Shared};
use desired::{Desired, nothing_like, summary};
use device::{DeviceSettings, RunningDevice};

/// Why a valid desired state could not be carried out (the previous state keeps running).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The netmap gives this node no overlay address.
    #[error("this node has no overlay address")]
    NoAddress,
    /// The TUN device or UDP socket could not be brought up.
    #[error("cannot start the mesh device: {0}")]
    Start(MeshError),
    /// The new device refused its first peer set.
    #[error("cannot configure the peers: {0}")]
    Peers(MeshError),
    /// No device runs to change.
    #[error("the mesh device is not running")]
    NotRunning,
    /// The running device refused the new peer set.
    #[error("the mesh refused the peer set: {0}")]
    PeerSet(MeshError),
    /// The running device did not take the new policy.
    #[error("the mesh did not take the policy: {0}")]
    Policy(MeshError),
    /// Compiling the policy died.
    #[error("compiling the policy failed: {0}")]
    Compile(tokio::task::JoinError),
    /// Planning the change died.
    #[error("planning the change failed: {0}")]
    Plan(tokio::task::JoinError),
}

/// Peer changes of one apply published as events of their own; the rest are counted in one
/// `peer.changes-elided` event (an apply of 100,000 peers would otherwise flood the event
/// ring, the log and every `cvlanctl events --follow`).
pub const PEER_EVENTS: usize = 100;

/// The reconciler's state: the device it runs and what it last attempted.
pub struct Reconciler {
    shared: Arc<Shared>,
    key: PrivateKey,
    host: Host,
    platform: Arc<dyn Platform>,
    device: Option<RunningDevice>,
    /// The resolver for overlay names, fed every applied map.
    dns: Dns,
    /// A valid state whose apply failed while nothing ran (the port or TUN was busy): it is
    /// tried again every [`RETRY`].
    retry: Option<(Desired, &'static str)>,
}

/// How often a state that could not be brought up is tried again while nothing runs.
pub const RETRY: std::time::Duration = std::time::Duration::from_secs(3);

impl Reconciler {
    /// A reconciler for the node `host` names, changing `platform` and feeding `dns`, with
    /// nothing running yet.
    pub fn new(
        shared: Arc<Shared>,
        key: PrivateKey,
        host: Host,
        platform: Arc<dyn Platform>,
        dns: Dns,
    ) -> Self {
        Self {
            shared,
            key,
            host,
            platform,
            device: None,
            dns,
            retry: None,
        }
    }

    /// Tries the state that could not be brought up again, if there is one.
    pub async fn retry(&mut self) {
        if let Some((desired, from)) = self.retry.take() {
            tracing::info!("trying to bring the failed state up again");
            self.apply(desired, from).await;
        }
    }

    /// Comes up on the cached netmap (before the source was read), when there is one for
    /// this node. Returns true when the cache now runs.
    pub async fn start_from_cache(&mut self) -> bool {
        let cached = match cache::load(&self.host.config.state_dir) {
            Ok(Some(c)) if c.node == self.host.name => c,
            Ok(Some(c)) => {
                tracing::warn!(cached = %c.node, "ignoring the cached netmap of another node");
                return false;
            }
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the cached netmap");
                return false;
            }
        };
        let desired = Desired {
            netmap: Arc::new(cached.netmap),
            revision: cached.revision,
            diagnostics: Vec::new(),
            model: None,
        };
        let result = self.apply(desired, "the cached netmap").await;
        result.outcome == Outcome::Applied
    }

    /// Handles one update from the source; a Reload caller gets the outcome.
    pub async fn handle(&mut self, update: Update<Desired>) {
        let Update { result, reply, .. } = update;
        let result = match result {
            Ok(compiled) => self.attempt(compiled).await,
            // The source recorded and reported its error; the running state is untouched.
            Err(e) => ApplyResult::now(
                Outcome::Failed,
                "",
                format!("cannot read the source: {e}; the running state is kept"),
                Vec::new(),
                0,
            ),
        };
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
        // The reading, the diff and the map replaced are free now: give them back.
        cvlan_agent::memory::release_free_memory_soon(std::time::Duration::ZERO);
    }

    /// Stops the resolver (reverting the host's split DNS while the link still exists) and the
    /// device (removing the TUN).
    pub async fn shutdown(mut self) {
        self.dns.shutdown().await;
        if let Some(device) = self.device.take() {
            device.stop(&self.shared).await;
        }
    }

    async fn attempt(&mut self, compiled: Compiled<Desired>) -> ApplyResult {
        let Compiled { revision, desired } = compiled;
        let agent = &self.shared.agent;
        let running = self.shared.read().running.clone();
        if let Some(last) = agent.last_apply().filter(|l| l.revision == revision) {
            // Already decided: the same file again (a touch, a second event, a reload).
            if last.is_decided() && (last.outcome == Outcome::Rejected || self.device.is_some()) {
                return last;
            }
        }
        if running.as_ref().is_some_and(|r| r.revision == revision) && self.device.is_some() {
            let result = ApplyResult::now(
                Outcome::Unchanged,
                &revision,
                "the source is back at the running revision".to_owned(),
                Vec::new(),
                0,
            );
            agent.set_last_apply(result.clone());
            return result;
        }
        agent.events.publish(
            "source.changed",
            EventLevel::Info,
            format!("new revision {}", short(&revision)),
            [("revision", revision.clone())],
        );
        match desired {
            Ok(desired) => self.apply(desired, "the source").await,
            Err(rejection) => self.rejected(&revision, rejection),
        }
    }

    /// Records a reading that cannot be applied.
    fn rejected(&self, revision: &str, rejection: Rejection) -> ApplyResult {
        let result = ApplyResult::now(
            rejection.outcome,
            revision,
            format!("{}; the previous state keeps running", rejection.message),
            rejection.diagnostics,
            0,
        );
        self.shared.agent.events.publish(
            "apply.rejected",
            EventLevel::Error,
            format!("revision {} rejected: {}", short(revision), result.message),
            [
                ("revision", revision.to_owned()),
                ("diagnostics", result.diagnostics.len().to_string()),
            ],
        );
        self.shared.agent.set_last_apply(result.clone());
        result
    }

    /// Plans `desired` against what runs and carries the plan out.
    async fn apply(&mut self, desired: Desired, from: &'static str) -> ApplyResult {
        let Desired {
            netmap,
            revision,
            diagnostics,
            model,
        } = desired;
        let running = self.shared.read().running.clone();
        let previous = running.as_ref().filter(|_| self.device.is_some());
        // Off the runtime: at 100,000 peers the diff takes a while, and the mesh's IO shares
        // these threads.
        let (map, actual) = (netmap.clone(), previous.map(|r| r.netmap.clone()));
        let plan = match tokio::task::spawn_blocking(move || match actual {
            Some(actual) => plan(&map, &actual),
            None => plan(&map, &nothing_like(&map)),
        })
        .await
        {
            Ok(plan) => plan,
            Err(e) => return self.failed(&revision, &ApplyError::Plan(e)),
        };
        let policy = match previous {
            // Nothing changed: the compiled policy stands (the network may be new, from cache).
            Some(r) if plan.is_empty() => Arc::new(RunningPolicy {
                compiled: r.policy.compiled.clone(),
                model: model.or_else(|| r.policy.model.clone()),
            }),
            _ => {
                let map = netmap.clone();
                match tokio::task::spawn_blocking(move || RunningPolicy::compile(&map, model)).await
                {
                    Ok(policy) => Arc::new(policy),
                    Err(e) => return self.failed(&revision, &ApplyError::Compile(e)),
                }
            }
        };
        let restarts = plan.restarts_device() || self.device.is_none();
        if let Err(e) = self.carry_out(&plan, &netmap, &policy, previous).await {
            if self.device.is_none() {
                let desired = Desired {
                    netmap,
                    revision: revision.clone(),
                    diagnostics,
                    model: policy.model.clone(),
                };
                self.retry = Some((desired, from));
            }
            return self.failed(&revision, &e);
        }
        self.retry = None;
        self.enable_forwarding(&netmap.node);
        // After the device: the resolver answers on the TUN's address. Its failure (a port
        // taken) is its own event and status; the mesh runs regardless.
        self.dns.apply(&netmap, restarts).await;
        let mut message = format!(
            "applied {} from {from}: {}",
            short(&revision),
            summary(&plan)
        );
        let mut level = EventLevel::Info;
        if let Some(listed) = netmap
            .node
            .public_key
            .filter(|k| *k != self.key.public_key())
        {
            level = EventLevel::Warn;
            message.push_str(&format!(
                "; warning: network.kdl lists key {} for this node, but its key is {} (peers cannot reach it until the file has the right key)",
                listed,
                self.key.public_key()
            ));
        }
        let result = ApplyResult::now(
            Outcome::Applied,
            &revision,
            message,
            diagnostics,
            u32::try_from(plan.actions.len()).unwrap_or(u32::MAX),
        );
        let cached = CachedState::new(&self.host.name, &revision, netmap.as_ref().clone());
        self.shared.update(|state| {
            state.running = Some(Running {
                netmap,
                revision: revision.clone(),
                applied_at: SystemTime::now(),
                policy,
            });
        });
        self.shared.agent.set_last_apply(result.clone());
        self.publish_plan(&plan);
        self.shared.agent.events.publish(
            "apply.applied",
            level,
            format!("applied {} {}", short(&revision), result.message),
            [
                ("revision", revision.clone()),
                ("actions", plan.actions.len().to_string()),
            ],
        );
        let state_dir = self.host.config.state_dir.clone();
        match tokio::task::spawn_blocking(move || cache::save(&state_dir, &cached)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot cache the netmap"),
            Err(e) => tracing::warn!(error = %e, "cannot cache the netmap"),
        }
        result
    }

    /// Turns IP forwarding on when this node routes prefixes for others (a subnet router), and
    /// says so; a failure is a warning (the mesh itself works, the routes carry nothing).
    fn enable_forwarding(&self, node: &cvlan_core::netmap::Peer) {
        let routes = crate::forwarding::advertised(node);
        let list = || {
            routes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let events = &self.shared.agent.events;
        match self
            .platform
            .enable_forwarding(&crate::forwarding::sysctls_for(&routes))
        {
            Ok(changed) if changed.is_empty() => {}
            Ok(changed) => events.publish(
                "forwarding.enabled",
                EventLevel::Info,
                format!(
                    "IP forwarding turned on for the routes this node advertises ({})",
                    list()
                ),
                [("sysctls", changed.join(","))],
            ),
            Err(e) => events.publish(
                "forwarding.failed",
                EventLevel::Warn,
                format!(
                    "cannot turn IP forwarding on for {}: {e}; those routes carry nothing",
                    list()
                ),
                [],
            ),
        }
    }

    /// Applies `plan` to the mesh: a device (re)start, or the peer set and then the policy
    /// (flows the new policy still allows carry on; the others stop).
    async fn carry_out(
        &mut self,
        plan: &Plan,
        netmap: &NetMap,
        policy: &Arc<RunningPolicy>,
        previous: Option<&Running>,
    ) -> Result<(), ApplyError> {
        if plan.restarts_device() || self.device.is_none() {
            return self.restart(netmap, policy, previous).await;
        }
        if plan.is_empty() {
            return Ok(());
        }
        let Some(mesh) = self.device.as_ref().map(|d| d.device.handle()) else {
            return Err(ApplyError::NotRunning);
        };
        let peers = desired::peer_configs(netmap, &self.key.public_key());
        mesh.set_peers(peers)
            .await
            .map(|changes| tracing::debug!(%changes, "mesh peer set updated"))
            .map_err(ApplyError::PeerSet)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let compiled = policy.compiled.clone();
        mesh.update_filter(move |filter| {
            let _ = tx.send(filter.set_policy(compiled));
        })
        .await
        .map_err(ApplyError::Policy)?;
        let swap = rx.await.unwrap_or_default();
        self.policy_loaded(
            policy,
            &format!("{} flows kept, {} closed", swap.kept, swap.closed),
        );
        Ok(())
    }

    /// Stops the device (if any) and starts it for `netmap` with a fresh filter enforcing
    /// `policy`; when that fails, brings the previous state back up.
    async fn restart(
        &mut self,
        netmap: &NetMap,
        policy: &Arc<RunningPolicy>,
        previous: Option<&Running>,
    ) -> Result<(), ApplyError> {
        let icmp = self.host.config.icmp_prohibited;
        if let Some(device) = self.device.take() {
            device.stop(&self.shared).await;
        }
        let settings = DeviceSettings {
            key: &self.key,
            tun: &self.host.config.tun,
            listen_port: self.host.config.listen_port,
        };
        let platform = self.platform.as_ref();
        let filter = policy.filter(icmp);
        match device::start(platform, netmap, filter, &settings, &self.shared).await {
            Ok(device) => {
                self.device = Some(device);
                self.policy_loaded(policy, "new filter");
                Ok(())
            }
            Err(e) => {
                if let Some(previous) = previous {
                    let filter = previous.policy.filter(icmp);
                    match device::start(platform, &previous.netmap, filter, &settings, &self.shared)
                        .await
                    {
                        Ok(device) => self.device = Some(device),
                        Err(again) => {
                            tracing::error!(error = %again, "the previous state could not be brought back up")
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// Announces the policy the filter now enforces.
    fn policy_loaded(&self, policy: &RunningPolicy, flows: &str) {
        let rules = policy.compiled.rules().len();
        self.shared.agent.events.publish(
            "policy.loaded",
            EventLevel::Info,
            format!("policy loaded: {rules} rules concern this node ({flows})"),
            [("rules", rules.to_string()), ("flows", flows.to_owned())],
        );
    }

    fn failed(&self, revision: &str, error: &ApplyError) -> ApplyResult {
        let message = format!("{error}; the previous state keeps running");
        let result = ApplyResult::now(Outcome::Failed, revision, message, Vec::new(), 0);
        self.shared.agent.events.publish(
            "apply.failed",
            EventLevel::Error,
            format!("revision {} failed: {}", short(revision), result.message),
            [("revision", revision.to_owned())],
        );
        self.shared.agent.set_last_apply(result.clone());
        result
    }

    /// One event per peer added, removed or changed, for the first [`PEER_EVENTS`] of them;
    /// one `peer.changes-elided` event counting the rest.
    fn publish_plan(&self, plan: &Plan) {
        let events = &self.shared.agent.events;
        let mut elided: BTreeMap<&str, usize> = BTreeMap::new();
        let mut published = 0;
        for action in &plan.actions {
            let (kind, change) = match action {
                Action::AddPeer(_) => ("peer.added", "added"),
                Action::RemovePeer { .. } => ("peer.removed", "removed"),
                Action::UpdatePeer { .. } => ("peer.changed", "updated"),
                Action::RekeyPeer { .. } => ("peer.changed", "rekeyed"),
                _ => continue,
            };
            if published == PEER_EVENTS {
                *elided.entry(change).or_default() += 1;
                continue;
            }
            published += 1;
            events.publish(
                kind,
                EventLevel::Info,
                format!("{} {action}", action.sign()),
                [
                    ("peer", action.target().to_owned()),
                    ("change", change.to_owned()),
                ],
            );
        }
        if elided.is_empty() {
            return;
        }
        let total: usize = elided.values().sum();
        let counts = elided
            .iter()
            .map(|(change, n)| format!("{n} {change}"))
            .collect::<Vec<_>>()
            .join(", ");
        events.publish(
            "peer.changes-elided",
            EventLevel::Info,
            format!("… and {total} more peer changes ({counts}); `cvlanctl peers` lists them"),
            elided
                .iter()
                .map(|(change, n)| (*change, n.to_string()))
                .chain([("total", total.to_string())]),
        );
    }
}

/// Runs `reconciler` on every update until the channel closes or `stop` turns true; `first`
/// is told after the first update was handled. Stops the device before returning.
pub async fn run(
    mut reconciler: Reconciler,
    mut readings: mpsc::Receiver<Update<Desired>>,
    first: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let retrying = reconciler.retry.is_some();
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(RETRY), if retrying => reconciler.retry().await,
            msg = readings.recv() => match msg {
                Some(msg) => {
                    reconciler.handle(msg).await;
                    first.send_replace(true);
                }
                None => break,
            },
        }
    }
    reconciler.shutdown().await;
}

/// The first 12 characters of a revision, for messages.
pub fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}
