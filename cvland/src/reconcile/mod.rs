//! The reconciler: the one task that changes what runs. Each reading of the source is checked
//! and turned into this node's netmap ([`desired`]), planned against the running map with
//! `cvlan_core::plan`, and applied: the device restarts only when the node's own addresses or
//! port change, otherwise the mesh gets the whole peer set and applies only the difference.
//! An invalid reading or a failed apply leaves the previous state running and is reported in
//! status (`last_apply`), events and the log. Every applied map is cached in the state dir.

pub mod desired;
pub mod device;

use std::sync::Arc;
use std::time::SystemTime;

use cvlan_core::netmap::NetMap;
use cvlan_core::plan::{Action, Plan, plan};
use cvlan_mesh::PrivateKey;
use cvlan_proto::v1::{self, ApplyOutcome, EventLevel};
use tokio::sync::{mpsc, watch};

use crate::cache::{self, CachedState};
use crate::config::DaemonConfig;
use crate::policy::RunningPolicy;
use crate::source::{Fetched, SourceMsg};
use crate::state::{Running, Shared};
use desired::{Desired, desired_state, nothing_like, summary};
use device::RunningDevice;

/// The reconciler's state: the device it runs and what it last attempted.
pub struct Reconciler {
    shared: Arc<Shared>,
    key: PrivateKey,
    config: DaemonConfig,
    device: Option<RunningDevice>,
    /// A valid state whose apply failed while nothing ran (the port or TUN was busy): it is
    /// tried again every [`RETRY`].
    retry: Option<(Desired, &'static str)>,
}

/// How often a state that could not be brought up is tried again while nothing runs.
pub const RETRY: std::time::Duration = std::time::Duration::from_secs(3);

impl Reconciler {
    /// A reconciler for the node `config` names, with nothing running yet.
    pub fn new(shared: Arc<Shared>, key: PrivateKey, config: DaemonConfig) -> Self {
        Self {
            shared,
            key,
            config,
            device: None,
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
        let cached = match cache::load(&self.config.state_dir) {
            Ok(Some(c)) if c.node == self.config.node => c,
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
            netmap: cached.netmap,
            revision: cached.revision,
            diagnostics: Vec::new(),
            model: None,
        };
        let result = self.apply(desired, "the cached netmap").await;
        result.outcome() == ApplyOutcome::Applied
    }

    /// Handles one reading of the source; a Reload caller gets the outcome.
    pub async fn handle(&mut self, msg: SourceMsg) {
        let result = match msg.result {
            Ok(fetched) => self.attempt(fetched).await,
            // The source recorded and reported its error; the running state is untouched.
            Err(e) => v1::ApplyResult {
                outcome: ApplyOutcome::Failed.into(),
                time: Some(SystemTime::now().into()),
                message: format!("cannot read the source: {e}; the running state is kept"),
                ..Default::default()
            },
        };
        if let Some(reply) = msg.reply {
            let _ = reply.send(result);
        }
    }

    /// Stops the device (removing the TUN).
    pub async fn shutdown(mut self) {
        if let Some(device) = self.device.take() {
            device.stop(&self.shared).await;
        }
    }

    async fn attempt(&mut self, fetched: Fetched) -> v1::ApplyResult {
        let revision = fetched.revision.clone();
        let (running, last) = {
            let state = self.shared.read();
            (state.running.clone(), state.last_apply.clone())
        };
        if let Some(last) = last.filter(|l| l.revision == revision) {
            // Already decided: the same file again (a touch, a second event, a reload).
            let decided = matches!(
                last.outcome(),
                ApplyOutcome::Applied | ApplyOutcome::Unchanged | ApplyOutcome::Rejected
            );
            if decided && (last.outcome() == ApplyOutcome::Rejected || self.device.is_some()) {
                return last;
            }
        }
        if running.as_ref().is_some_and(|r| r.revision == revision) && self.device.is_some() {
            let result = v1::ApplyResult::now(
                ApplyOutcome::Unchanged,
                &revision,
                "the source is back at the running revision".to_owned(),
                Vec::new(),
                0,
            );
            self.shared
                .update(|state| state.last_apply = Some(result.clone()));
            return result;
        }
        self.shared.events.publish(
            "source.changed",
            EventLevel::Info,
            format!("new revision {}", short(&revision)),
            [("revision", revision.clone())],
        );
        let node = self.config.node.clone();
        let checked = tokio::task::spawn_blocking(move || desired_state(fetched, &node)).await;
        match checked {
            Ok(Ok(desired)) => self.apply(desired, "the source").await,
            Ok(Err(rejection)) => {
                let result = v1::ApplyResult::now(
                    ApplyOutcome::Rejected,
                    &revision,
                    format!("{}; the previous state keeps running", rejection.message),
                    rejection.diagnostics,
                    0,
                );
                self.shared.events.publish(
                    "apply.rejected",
                    EventLevel::Error,
                    format!("revision {} rejected: {}", short(&revision), result.message),
                    [
                        ("revision", revision.clone()),
                        ("diagnostics", result.diagnostics.len().to_string()),
                    ],
                );
                self.shared
                    .update(|state| state.last_apply = Some(result.clone()));
                result
            }
            Err(e) => self.failed(&revision, format!("checking the file failed: {e}")),
        }
    }

    /// Plans `desired` against what runs and carries the plan out.
    async fn apply(&mut self, desired: Desired, from: &'static str) -> v1::ApplyResult {
        let Desired {
            netmap,
            revision,
            diagnostics,
            model,
        } = desired;
        let running = self.shared.read().running.clone();
        let previous = running.as_ref().filter(|_| self.device.is_some());
        let plan = match previous {
            Some(r) => plan(&netmap, &r.netmap),
            None => plan(&netmap, &nothing_like(&netmap)),
        };
        let netmap = Arc::new(netmap);
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
                    Err(e) => {
                        return self.failed(&revision, format!("compiling the policy failed: {e}"));
                    }
                }
            }
        };
        if let Err(e) = self.carry_out(&plan, &netmap, &policy, previous).await {
            if self.device.is_none() {
                let desired = Desired {
                    netmap: Arc::unwrap_or_clone(netmap),
                    revision: revision.clone(),
                    diagnostics,
                    model: policy.model.clone(),
                };
                self.retry = Some((desired, from));
            }
            return self.failed(&revision, e);
        }
        self.retry = None;
        self.enable_forwarding(&netmap.node);
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
        let result = v1::ApplyResult::now(
            ApplyOutcome::Applied,
            &revision,
            message,
            diagnostics,
            u32::try_from(plan.actions.len()).unwrap_or(u32::MAX),
        );
        let cached = CachedState::new(&self.config.node, &revision, netmap.as_ref().clone());
        self.shared.update(|state| {
            state.running = Some(Running {
                netmap,
                revision: revision.clone(),
                applied_at: SystemTime::now(),
                policy,
            });
            state.last_apply = Some(result.clone());
        });
        self.publish_plan(&plan);
        self.shared.events.publish(
            "apply.applied",
            level,
            format!("applied {} {}", short(&revision), result.message),
            [
                ("revision", revision.clone()),
                ("actions", plan.actions.len().to_string()),
            ],
        );
        let state_dir = self.config.state_dir.clone();
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
        match crate::forwarding::enable(&crate::forwarding::sysctls_for(&routes)) {
            Ok(changed) if changed.is_empty() => {}
            Ok(changed) => self.shared.events.publish(
                "forwarding.enabled",
                EventLevel::Info,
                format!(
                    "IP forwarding turned on for the routes this node advertises ({})",
                    list()
                ),
                [("sysctls", changed.join(","))],
            ),
            Err(e) => self.shared.events.publish(
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
    ) -> Result<(), String> {
        if plan.restarts_device() || self.device.is_none() {
            return self.restart(netmap, policy, previous).await;
        }
        if plan.is_empty() {
            return Ok(());
        }
        let Some(mesh) = self.device.as_ref().map(|d| d.device.handle()) else {
            return Err("the mesh device is not running".to_owned());
        };
        let peers = desired::peer_configs(netmap, &self.key.public_key());
        mesh.set_peers(peers)
            .await
            .map(|changes| tracing::debug!(%changes, "mesh peer set updated"))
            .map_err(|e| format!("the mesh refused the peer set: {e}"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let compiled = policy.compiled.clone();
        mesh.update_filter(move |filter| {
            let _ = tx.send(filter.set_policy(compiled));
        })
        .await
        .map_err(|e| format!("the mesh did not take the policy: {e}"))?;
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
    ) -> Result<(), String> {
        let (tun, port) = (self.config.tun.clone(), self.config.listen_port);
        let icmp = self.config.icmp_prohibited;
        if let Some(device) = self.device.take() {
            device.stop(&self.shared).await;
        }
        let filter = policy.filter(icmp);
        match device::start(netmap, filter, &self.key, &tun, port, &self.shared).await {
            Ok(device) => {
                self.device = Some(device);
                self.policy_loaded(policy, "new filter");
                Ok(())
            }
            Err(e) => {
                if let Some(previous) = previous {
                    let filter = previous.policy.filter(icmp);
                    match device::start(
                        &previous.netmap,
                        filter,
                        &self.key,
                        &tun,
                        port,
                        &self.shared,
                    )
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
        self.shared.events.publish(
            "policy.loaded",
            EventLevel::Info,
            format!("policy loaded: {rules} rules concern this node ({flows})"),
            [("rules", rules.to_string()), ("flows", flows.to_owned())],
        );
    }

    fn failed(&self, revision: &str, message: String) -> v1::ApplyResult {
        let message = format!("{message}; the previous state keeps running");
        let result = v1::ApplyResult::now(ApplyOutcome::Failed, revision, message, Vec::new(), 0);
        self.shared.events.publish(
            "apply.failed",
            EventLevel::Error,
            format!("revision {} failed: {}", short(revision), result.message),
            [("revision", revision.to_owned())],
        );
        self.shared
            .update(|state| state.last_apply = Some(result.clone()));
        result
    }

    /// One event per peer added, removed or changed.
    fn publish_plan(&self, plan: &Plan) {
        for action in &plan.actions {
            let (kind, change) = match action {
                Action::AddPeer(_) => ("peer.added", "added"),
                Action::RemovePeer { .. } => ("peer.removed", "removed"),
                Action::UpdatePeer { .. } => ("peer.changed", "updated"),
                Action::RekeyPeer { .. } => ("peer.changed", "rekeyed"),
                _ => continue,
            };
            self.shared.events.publish(
                kind,
                EventLevel::Info,
                format!("{} {action}", action.sign()),
                [
                    ("peer", action.target().to_owned()),
                    ("change", change.to_owned()),
                ],
            );
        }
    }
}

/// Runs `reconciler` on every reading until the channel closes or `stop` turns true; `first`
/// is told after the first reading was handled. Stops the device before returning.
pub async fn run(
    mut reconciler: Reconciler,
    mut readings: mpsc::Receiver<SourceMsg>,
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
