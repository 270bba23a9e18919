//! The daemon: reads vrouterd.kdl, applies network.kdl's `vrouter` block to the data plane,
//! follows the file (the agent's file source: watch, SIGHUP, the `Reload` call), serves the
//! local API on its socket, and on SIGTERM or SIGINT deletes its SAs politely and removes its
//! TUN device and socket.

mod apply;

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cvlan_agent::keys::{self, KeyError};
use cvlan_agent::lifecycle::{ApiServer, LifecycleError};
use cvlan_agent::metrics::{Build, MetricsError, MetricsServer};
use cvlan_agent::sd_notify::{Notice, notify};
use cvlan_agent::source::file::FileSource;
use cvlan_agent::source::{
    self, Compiled, Hangups, ReloadReply, Source, SourceStatus, Update, Wiring,
};
use cvlan_agent::{AgentState, EventBus, Host, HostError, Outcome, Role};
use cvlan_schema::{HostConfig, StateSource};
use tokio::sync::{mpsc, watch};

use crate::api::VrouterApi;
use crate::dataplane::{Dataplane, DataplaneError, DataplaneSettings};
use crate::desired::Desired;
use crate::metrics::VrouterMetrics;
pub(crate) use apply::Applied;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DaemonError {
    /// vrouterd.kdl could not be read, is invalid, or names a node.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::config))]
    Config(#[from] HostError),
    /// The host file names a source vrouterd cannot follow.
    #[error("{0}")]
    #[diagnostic(code(cvlan::vrouterd::config))]
    Unsupported(String),
    /// The first network.kdl could not be applied.
    #[error("cannot start: {0}")]
    #[diagnostic(code(cvlan::vrouterd::network))]
    FirstApply(String),
    /// The data plane failed.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::dataplane))]
    Dataplane(#[from] DataplaneError),
    /// The vrouter's key could not be read or created.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::key))]
    Key(#[from] KeyError),
    /// The local API could not be served.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::socket))]
    Serve(#[from] LifecycleError),
    /// The metrics endpoint could not be served.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::metrics))]
    Metrics(#[from] MetricsError),
    /// A file could not be written or a part of the daemon could not be set up.
    #[error("{what}: {source}")]
    #[diagnostic(code(cvlan::vrouterd::io))]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// What the API and the apply loop share.
pub(crate) struct Shared {
    /// Name, key, event bus, source health, last apply.
    pub agent: Arc<AgentState>,
    /// The checked vrouterd.kdl.
    pub host: HostConfig,
    /// The running data plane.
    pub dataplane: Dataplane,
    /// Reload requests from the API, answered with the outcome.
    pub reload: mpsc::Sender<ReloadReply>,
    applied: Mutex<Option<Applied>>,
}

impl Shared {
    /// What runs now.
    pub(crate) fn applied(&self) -> MutexGuard<'_, Option<Applied>> {
        self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds a data plane for the given settings (real IO in the binary, in-memory in tests).
pub type DataplaneFactory = Box<
    dyn FnOnce(
            DataplaneSettings,
            Arc<EventBus>,
        ) -> Pin<Box<dyn Future<Output = Result<Dataplane, DataplaneError>> + Send>>
        + Send,
>;

/// A started daemon: its first state applied, ready to serve.
pub struct Daemon {
    shared: Arc<Shared>,
    source: FileSource,
    compile: source::Compile<Desired>,
    reloads: mpsc::Receiver<ReloadReply>,
}

/// Reads and checks vrouterd.kdl at `path`.
pub fn load_host_config(path: &Path) -> Result<Host, DaemonError> {
    Ok(Host::load(path, Role::Vrouter)?)
}

impl Daemon {
    /// Starts with the real data plane (TUN device, UDP 500 and the listen port).
    pub async fn start(host: Host) -> Result<Self, DaemonError> {
        Self::start_with(
            host,
            Box::new(|settings, events| Box::pin(Dataplane::start(settings, events))),
        )
        .await
    }

    /// Starts with the data plane `make` builds: reads network.kdl (which must be valid and
    /// name this vrouter), brings the data plane up and applies the peers.
    pub async fn start_with(host: Host, make: DataplaneFactory) -> Result<Self, DaemonError> {
        let Host { name, config, .. } = host;
        let StateSource::File { path } = config.source.value.clone() else {
            return Err(DaemonError::Unsupported(
                "cvlan-vrouterd follows a `source \"file\"` only (git and controller sources come with the mesh bridge)"
                    .into(),
            ));
        };
        let public_key = keys::node_key(&config.state_dir)?.public_key();
        let agent = Arc::new(AgentState::new(
            &name,
            public_key,
            SourceStatus::of(&config.source.value),
        ));
        let mut source = FileSource::new(path.clone());
        let compile = apply::compiler(&name, &path);
        let (reload, reloads) = mpsc::channel(4);
        let first = first_desired(&path, &mut source, &compile).await?;
        let settings = DataplaneSettings {
            tun_name: config.tun.clone(),
            addresses: first.desired.addresses.clone(),
            listen: first.desired.listen,
            offload: true,
        };
        let dataplane = make(settings, agent.events.clone()).await?;
        source::record(&agent, None);
        let shared = Arc::new(Shared {
            agent,
            host: config,
            dataplane,
            reload,
            applied: Mutex::new(None),
        });
        let compiled = Compiled {
            revision: first.revision,
            desired: Ok(first.desired),
        };
        let result = apply::apply(&shared, Ok(compiled), "start").await;
        if !matches!(result.outcome, Outcome::Applied | Outcome::Unchanged) {
            let _ = shared.dataplane.shutdown().await;
            return Err(DaemonError::FirstApply(result.message));
        }
        Ok(Self {
            shared,
            source,
            compile,
            reloads,
        })
    }

    /// Serves the local API and follows network.kdl until `shutdown` completes; then deletes
    /// every SA (telling the peers) and removes the TUN device and the socket.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let Self {
            shared,
            source,
            compile,
            reloads,
        } = self;
        let (stop_tx, stop) = watch::channel(false);
        let api = VrouterApi::new(shared.clone(), stop.clone());
        // Bound before the API's socket appears, so a port in use stops the daemon cleanly.
        let metrics = match shared.host.metrics_listen.as_ref().map(|m| m.value) {
            Some(listen) => Some(
                MetricsServer::start(
                    listen,
                    Build {
                        daemon: "cvlan-vrouterd",
                        version: env!("CARGO_PKG_VERSION"),
                    },
                    VrouterMetrics::new(shared.clone()),
                    stop.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let server = ApiServer::start(&shared.host.socket, api, stop.clone()).await?;
        let (updates_tx, mut updates) = mpsc::channel::<Update<Desired>>(4);
        let wiring = Wiring {
            to_reconciler: updates_tx,
            reloads,
            stop,
            hangups: Hangups::listen(),
        };
        // Ready once a SIGHUP is a reload (listened for above), not the process's end.
        notify(Notice::Ready);
        // The first reading was applied at start: follow from the next change.
        let following = tokio::spawn(source::run(
            source,
            shared.agent.clone(),
            compile,
            wiring,
            false,
        ));
        let follow = async {
            while let Some(update) = updates.recv().await {
                let Update {
                    result,
                    trigger,
                    reply,
                } = update;
                let outcome = apply::apply(&shared, result, &trigger.to_string()).await;
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
        };
        tokio::select! {
            () = follow => {}
            () = shutdown => {}
        }
        notify(Notice::Stopping);
        let _ = stop_tx.send(true);
        following.abort();
        tracing::info!("stopping: deleting SAs");
        let stopped = shared.dataplane.shutdown().await;
        if let Some(metrics) = metrics {
            metrics.finished().await;
        }
        let served = server.finished().await;
        stopped?;
        served?;
        Ok(())
    }
}

/// The first desired state and its revision.
struct First {
    revision: String,
    desired: Desired,
}

/// The first desired state, read before the data plane exists (it needs the listen and
/// overlay addresses); refuses a source that cannot be read, is invalid, or names no such
/// vrouter.
async fn first_desired(
    path: &Path,
    source: &mut FileSource,
    compile: &source::Compile<Desired>,
) -> Result<First, DaemonError> {
    let fetched = source
        .fetch()
        .await
        .map_err(|e| DaemonError::FirstApply(format!("cannot read {}: {e}", path.display())))?;
    let source::Fetched::Files(reading) = fetched else {
        return Err(DaemonError::FirstApply(format!(
            "{} is not a network file",
            path.display()
        )));
    };
    if reading.checked.network.is_none() {
        return Err(DaemonError::FirstApply(format!(
            "{} is invalid:\n{}",
            path.display(),
            cvlan_schema::report::render_human(
                &reading.checked.sources,
                &reading.checked.diagnostics
            )
        )));
    }
    let revision = reading.revision.clone();
    let compile = compile.clone();
    let desired = tokio::task::spawn_blocking(move || compile(source::Fetched::Files(reading)))
        .await
        .map_err(|e| DaemonError::FirstApply(e.to_string()))?
        .map_err(|rejection| DaemonError::FirstApply(rejection.message))?;
    Ok(First { revision, desired })
}
