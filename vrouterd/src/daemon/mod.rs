//! The daemon: reads vrouterd.kdl, applies network.kdl's `vrouter` block to the data plane,
//! follows the file (watch, SIGHUP, the `Reload` call), serves the local API on its socket,
//! and on SIGTERM or SIGINT deletes its SAs politely and removes its TUN device and socket.

mod apply;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use cvlan_proto::local::LocalSocket;
use cvlan_proto::v1;
use cvlan_schema::{HostConfig, HostRole, StateSource};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

use cvland::events::EventBus;
use cvland::source::Source;
use cvland::source::file::FileSource;

use crate::api::VrouterApi;
use crate::dataplane::{Dataplane, DataplaneError, DataplaneSettings};
pub(crate) use apply::Applied;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DaemonError {
    /// vrouterd.kdl could not be read.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::config))]
    ReadConfig(#[from] cvlan_schema::LoadError),
    /// vrouterd.kdl is invalid (the report holds every diagnostic).
    #[error("{path} is invalid:\n{report}")]
    #[diagnostic(code(cvlan::vrouterd::config))]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// The rendered diagnostics.
        report: String,
    },
    /// The host file names a node, or a source vrouterd cannot follow.
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
    Key(#[from] cvland::keys::KeyError),
    /// The local API could not be served.
    #[error(transparent)]
    #[diagnostic(code(cvlan::vrouterd::socket))]
    Serve(#[from] cvlan_proto::local::ServeError),
    /// The state directory or a signal handler could not be set up.
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
    /// This vrouter's name.
    pub name: String,
    /// Its WireGuard public key (the private key stays in the state directory).
    pub public_key: Vec<u8>,
    /// The checked vrouterd.kdl.
    pub host: HostConfig,
    /// network.kdl on disk.
    pub source_path: PathBuf,
    /// The event log.
    pub events: Arc<EventBus>,
    /// The running data plane.
    pub dataplane: Dataplane,
    /// When the daemon started.
    pub started: SystemTime,
    /// The same moment on the monotonic clock (for the uptime).
    pub started_at: Instant,
    /// Reload requests from the API, answered with the outcome.
    pub reload: mpsc::Sender<oneshot::Sender<v1::ApplyResult>>,
    state: Mutex<State>,
}

/// What changes as the daemon runs.
#[derive(Default)]
pub(crate) struct State {
    /// What runs now.
    pub applied: Option<Applied>,
    /// The newest apply attempt.
    pub last_apply: Option<v1::ApplyResult>,
    /// When the source was last read.
    pub source_contact: Option<SystemTime>,
    /// The last error reading it.
    pub source_error: String,
}

impl Shared {
    /// The mutable state.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note_source(&self, error: Option<String>) {
        let mut state = self.state();
        state.source_contact = Some(SystemTime::now());
        state.source_error = error.unwrap_or_default();
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
    reloads: mpsc::Receiver<oneshot::Sender<v1::ApplyResult>>,
}

/// Reads and checks vrouterd.kdl at `path`.
pub fn load_host_config(path: &Path) -> Result<HostConfig, DaemonError> {
    let checked = cvlan_schema::load_host(path)?;
    checked.host.ok_or_else(|| DaemonError::InvalidConfig {
        path: path.to_owned(),
        report: cvlan_schema::report::render_human(&checked.sources, &checked.diagnostics),
    })
}

impl Daemon {
    /// Starts with the real data plane (TUN device, UDP 500 and the listen port).
    pub async fn start(host: HostConfig) -> Result<Self, DaemonError> {
        Self::start_with(
            host,
            Box::new(|settings, events| Box::pin(Dataplane::start(settings, events))),
        )
        .await
    }

    /// Starts with the data plane `make` builds: checks the host file, reads network.kdl
    /// (which must be valid and name this vrouter), brings the data plane up and applies the
    /// peers.
    pub async fn start_with(host: HostConfig, make: DataplaneFactory) -> Result<Self, DaemonError> {
        let HostRole::Vrouter(name) = host.role.value.clone() else {
            return Err(DaemonError::Unsupported(
                "this host file names a `node`: cvlan-vrouterd runs a `vrouter \"NAME\"` (cvland runs nodes)"
                    .into(),
            ));
        };
        let StateSource::File { path } = host.source.value.clone() else {
            return Err(DaemonError::Unsupported(
                "cvlan-vrouterd follows a `source \"file\"` only (git and controller sources come with the mesh bridge)"
                    .into(),
            ));
        };
        let public_key = cvland::keys::load_or_create(&host.state_dir)?.public_key();
        let events = Arc::new(EventBus::default());
        let mut source = FileSource::new(path.clone());
        let (reload, reloads) = mpsc::channel(4);
        let reading = source.fetch().await;
        let desired = first_desired(&name, &path, &reading)?;
        let settings = DataplaneSettings {
            tun_name: host.tun.clone(),
            addresses: desired.addresses.clone(),
            listen: desired.listen,
            offload: true,
        };
        let dataplane = make(settings, events.clone()).await?;
        let shared = Arc::new(Shared {
            name,
            public_key: cvlan_proto::convert::key_to_bytes(&public_key),
            host,
            source_path: path,
            events,
            dataplane,
            started: SystemTime::now(),
            started_at: Instant::now(),
            reload,
            state: Mutex::new(State::default()),
        });
        let first = apply::apply(&shared, reading, "start").await;
        if !matches!(
            first.outcome(),
            v1::ApplyOutcome::Applied | v1::ApplyOutcome::Unchanged
        ) {
            let _ = shared.dataplane.shutdown().await;
            return Err(DaemonError::FirstApply(first.message));
        }
        Ok(Self {
            shared,
            source,
            reloads,
        })
    }

    /// Serves the local API and follows network.kdl until `shutdown` completes; then deletes
    /// every SA (telling the peers) and removes the TUN device and the socket.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let Self {
            shared,
            mut source,
            mut reloads,
        } = self;
        let socket = LocalSocket::bind(&shared.host.socket).await?;
        let mut hangup = signal(SignalKind::hangup()).map_err(|source| DaemonError::Io {
            what: "cannot handle SIGHUP".into(),
            source,
        })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let api = VrouterApi::new(shared.clone(), stop_rx.clone());
        let mut api_stop = stop_rx;
        let server = tokio::spawn(socket.serve(api, async move {
            let _ = api_stop.wait_for(|s| *s).await;
        }));
        let follow = async {
            loop {
                // cvland's file source watches the file's directory and debounces a burst of
                // events into one wake-up.
                tokio::select! {
                    () = source.changed() => {
                        let reading = source.fetch().await;
                        apply::apply(&shared, reading, "file changed").await;
                    }
                    Some(_) = hangup.recv() => {
                        let reading = source.fetch().await;
                        apply::apply(&shared, reading, "SIGHUP").await;
                    }
                    Some(reply) = reloads.recv() => {
                        let reading = source.fetch().await;
                        let _ = reply.send(apply::apply(&shared, reading, "reload request").await);
                    }
                    else => break,
                }
            }
        };
        tokio::select! {
            () = follow => {}
            () = shutdown => {}
        }
        let _ = stop_tx.send(true);
        tracing::info!("stopping: deleting SAs");
        let stopped = shared.dataplane.shutdown().await;
        let served = server.await.map_err(|e| DaemonError::Io {
            what: "the local API task failed".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        stopped?;
        served?;
        Ok(())
    }
}

/// The desired state read before the data plane exists (it needs the listen and overlay
/// addresses); refuses a source that cannot be read, is invalid, or names no such vrouter.
fn first_desired(
    name: &str,
    path: &Path,
    reading: &Result<cvland::source::Fetched, String>,
) -> Result<crate::desired::Desired, DaemonError> {
    let loaded = reading
        .as_ref()
        .map_err(|e| DaemonError::FirstApply(format!("cannot read {}: {e}", path.display())))?;
    let Some(network) = loaded.checked.network.as_ref() else {
        return Err(DaemonError::FirstApply(format!(
            "{} is invalid:\n{}",
            path.display(),
            cvlan_schema::report::render_human(
                &loaded.checked.sources,
                &loaded.checked.diagnostics
            )
        )));
    };
    crate::desired::desired(network, name).map_err(|e| DaemonError::FirstApply(e.to_string()))
}
