//! Where the desired state comes from: a watched file ([`file`]), a git branch fetched every
//! interval ([`git`]), or the netmap a controller streams ([`controller`]). A source task ([`run`]) reads its source when it changes, on SIGHUP and on
//! the Reload call, turns each reading into the daemon's desired state with the daemon's own
//! `compile` step (off the runtime's threads), and hands that to the daemon's reconciler: the
//! reconciler sees desired states, never files. A source that fails (file missing, repository
//! unreachable) is reported (status `source.last_error`, events, log) and the running state is
//! left alone.

pub mod controller;
pub mod file;
pub mod git;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cvlan_core::netmap::NetMap;
use cvlan_schema::{Checked, SourceMap, StateSource};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

use crate::apply::{ApplyResult, Rejection};
use crate::events::EventLevel;
use crate::keys::KeyKind;
use crate::sd_notify::{Notice, notify};
use crate::state::AgentState;

/// One reading of a file or git source: the files as checked by cvlan-schema, and their
/// revision.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Git commit id, or the SHA-256 of the file and its includes.
    pub revision: String,
    /// The parsed and validated files.
    pub checked: Checked,
}

/// What a source yields: network files for the daemon to check and compute its netmap from,
/// or the netmap a controller computed for this host.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// A file or git source's reading (boxed: it is the big one).
    Files(Box<Reading>),
    /// A controller's netmap for this host.
    Netmap(NetmapReading),
}

/// A netmap a controller streamed, with the revision it names.
#[derive(Debug, Clone)]
pub struct NetmapReading {
    /// The controller's network.kdl revision and netmap version (`r3@v17`).
    pub revision: String,
    /// This host's netmap.
    pub netmap: Arc<NetMap>,
}

impl Fetched {
    /// The revision read.
    pub fn revision(&self) -> &str {
        match self {
            Self::Files(reading) => &reading.revision,
            Self::Netmap(reading) => &reading.revision,
        }
    }
}

/// Why the source could not be read (the running state is kept).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The network file could not be read.
    #[error(transparent)]
    File(#[from] cvlan_schema::LoadError),
    /// The git branch could not be fetched or read.
    #[error(transparent)]
    Git(#[from] git::GitError),
    /// The controller cannot be reached, refused this host, or has sent no netmap yet.
    #[error("the controller: {0}")]
    Controller(String),
    /// The reading task died.
    #[error("reading the source failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A source of desired state, driven by [`run`].
pub trait Source: Send {
    /// How a change of this source is named in events (`file changed`).
    const CHANGE: &'static str;
    /// Waits until the source may have changed (a file event, the next interval).
    fn changed(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Reads the source now.
    fn fetch(&mut self) -> impl std::future::Future<Output = Result<Fetched, SourceError>> + Send;
}

/// What the source is, as status shows it (kind, location, health).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStatus {
    /// File, git or controller.
    pub kind: SourceKind,
    /// The file's path, the repository's URL or the controller's address.
    pub location: String,
    /// The branch followed (git).
    pub branch: String,
    /// The file's path in the repository (git).
    pub path: String,
    /// How often it is fetched (git).
    pub interval: Option<Duration>,
    /// When it was last read successfully.
    pub last_contact: Option<SystemTime>,
    /// Why the last reading failed (empty when it did not).
    pub last_error: String,
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceKind {
    /// Not known yet.
    #[default]
    Unknown,
    /// A file on this host.
    File,
    /// A branch of a git repository.
    Git,
    /// A controller.
    Controller,
}

impl SourceStatus {
    /// The source `config` names, before its first reading.
    pub fn of(config: &StateSource) -> Self {
        match config {
            StateSource::File { path } => Self {
                kind: SourceKind::File,
                location: path.display().to_string(),
                ..Self::default()
            },
            StateSource::Git {
                url,
                branch,
                path,
                interval,
            } => Self {
                kind: SourceKind::Git,
                location: url.clone(),
                branch: branch.clone(),
                path: path.clone(),
                interval: Some(*interval),
                ..Self::default()
            },
            StateSource::Controller { address, .. } => Self {
                kind: SourceKind::Controller,
                location: address.to_string(),
                ..Self::default()
            },
        }
    }
}

/// The revision of a set of files: SHA-256 over each file's name and text, in reading order.
pub fn revision_of(sources: &SourceMap) -> String {
    let mut hash = Sha256::new();
    for (_, source) in sources.iter() {
        hash.update((source.name.len() as u64).to_be_bytes());
        hash.update(source.name.as_bytes());
        hash.update((source.text.len() as u64).to_be_bytes());
        hash.update(source.text.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Reload call waiting for the outcome of a fresh reading.
pub type ReloadReply = oneshot::Sender<ApplyResult>;

/// Turns a reading into the daemon's desired state, or says why it cannot be one. Pure apart
/// from what the daemon reads on purpose (a vrouter's secrets); runs on a blocking thread.
pub type Compile<D> = Arc<dyn Fn(Fetched) -> Result<D, Rejection> + Send + Sync>;

/// What woke the source task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first reading.
    Start,
    /// The source changed (its [`Source::CHANGE`] name).
    Changed(&'static str),
    /// SIGHUP.
    Hangup,
    /// A Reload call.
    Reload,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Start => "start",
            Self::Changed(name) => name,
            Self::Hangup => "SIGHUP",
            Self::Reload => "reload request",
        })
    }
}

/// A desired state (or why there is none) with the revision it comes from.
#[derive(Debug, Clone)]
pub struct Compiled<D> {
    /// The revision read.
    pub revision: String,
    /// The desired state, or why the reading cannot be one.
    pub desired: Result<D, Rejection>,
}

/// A desired state on its way to the reconciler, with the Reload caller waiting for the
/// outcome, if any.
#[derive(Debug)]
pub struct Update<D> {
    /// The compiled reading, or why the source could not be read.
    pub result: Result<Compiled<D>, SourceError>,
    /// What woke the source.
    pub trigger: Trigger,
    /// Where the outcome goes when someone waits for it: a Reload call, or a SIGHUP (the
    /// service manager is told READY=1 again when it is in).
    pub reply: Option<ReloadReply>,
}

/// Reads `source` once and compiles the reading.
pub async fn read_once<S: Source, D: Send + 'static>(
    source: &mut S,
    compile: &Compile<D>,
) -> Result<Compiled<D>, SourceError> {
    let reading = source.fetch().await?;
    let compile = compile.clone();
    let revision = reading.revision().to_owned();
    let desired = tokio::task::spawn_blocking(move || compile(reading)).await?;
    Ok(Compiled { revision, desired })
}

/// The channels that tie a source task to its daemon.
pub struct Wiring<D> {
    /// Where compiled readings go.
    pub to_reconciler: mpsc::Sender<Update<D>>,
    /// Reload requests from the local API.
    pub reloads: mpsc::Receiver<ReloadReply>,
    /// Turns true when the daemon stops.
    pub stop: watch::Receiver<bool>,
    /// SIGHUPs, listened for since [`Hangups::listen`]: make it before the daemon says it is
    /// ready, so that a reload right after start is a reload and not SIGHUP's default action
    /// (the end of the process).
    pub hangups: Hangups,
}

/// SIGHUP, as a stream of reload requests from the service manager.
#[derive(Debug)]
pub struct Hangups(Option<Signal>);

impl Hangups {
    /// Listens for SIGHUP from now on (a warning, and no SIGHUP reloads, when it cannot).
    pub fn listen() -> Self {
        match signal(SignalKind::hangup()) {
            Ok(s) => Self(Some(s)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with `Reload` instead");
                Self(None)
            }
        }
    }

    /// The next SIGHUP (never, when there is no listener).
    async fn next(&mut self) {
        match self.0.as_mut() {
            Some(h) => {
                if h.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// Reads `source` (now when `read_now`, else at its first change) and whenever it changes, on
/// SIGHUP, and on each Reload request, until `stop` turns true or the reconciler is gone;
/// every reading is compiled and goes to the reconciler.
pub async fn run<S: Source, D: Send + 'static>(
    mut source: S,
    agent: Arc<AgentState>,
    compile: Compile<D>,
    wiring: Wiring<D>,
    read_now: bool,
) {
    let Wiring {
        to_reconciler,
        mut reloads,
        mut stop,
        mut hangups,
    } = wiring;
    let mut next = read_now.then_some((Trigger::Start, None));
    loop {
        if let Some((trigger, reply)) = next.take() {
            let result = read_once(&mut source, &compile).await;
            record(&agent, result.as_ref().err());
            let update = Update {
                result,
                trigger,
                reply,
            };
            if to_reconciler.send(update).await.is_err() {
                return;
            }
        }
        next = tokio::select! {
            _ = stop.changed() => return,
            () = source.changed() => Some((Trigger::Changed(S::CHANGE), None)),
            () = hangups.next() => {
                tracing::info!("SIGHUP: reading the source again");
                // The service manager sees the reload until its outcome is in.
                notify(Notice::Reloading);
                let (reply, outcome) = oneshot::channel();
                tokio::spawn(async move {
                    let _ = outcome.await;
                    notify(Notice::Ready);
                });
                Some((Trigger::Hangup, Some(reply)))
            }
            request = reloads.recv() => match request {
                Some(r) => Some((Trigger::Reload, Some(r))),
                None => return,
            },
        };
    }
}

/// What a controller source reports to the controller about this host, from its host file.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// `listen-port`, when the host file overrides the network's.
    pub listen_port: Option<u16>,
    /// The TUN device's name.
    pub tun: String,
}

/// Builds the source `config` names and runs it (`state_dir` holds the git source's
/// repository, and the machine key and cached netmap a controller source resumes from).
pub async fn run_configured<D: Send + 'static>(
    config: StateSource,
    state_dir: PathBuf,
    host: HostFacts,
    agent: Arc<AgentState>,
    compile: Compile<D>,
    wiring: Wiring<D>,
) {
    match config {
        StateSource::File { path } => {
            run(file::FileSource::new(path), agent, compile, wiring, true).await;
        }
        StateSource::Git {
            url,
            branch,
            path,
            interval,
        } => {
            let repo = state_dir.join("git-source");
            let source = git::GitSource::new(url, branch, path, interval, repo);
            run(source, agent, compile, wiring, true).await;
        }
        StateSource::Controller {
            address,
            public_key,
            auth_key_file,
        } => {
            let machine_key = match crate::keys::load_or_create(&state_dir, KeyKind::Machine) {
                Ok(key) => key,
                Err(e) => {
                    let error = SourceError::Controller(format!("no machine key: {e}"));
                    record(&agent, Some(&error));
                    return;
                }
            };
            // The map the daemon came up on, if the controller sent it: the session resumes
            // from its version.
            let cached = match crate::cache::load(&state_dir) {
                Ok(Some(state)) if state.node == agent.name => Some((state.revision, state.netmap)),
                _ => None,
            };
            let config = controller::ControllerConfig {
                address: address.to_string(),
                controller_key: public_key,
                machine_key,
                node_key: agent.public_key,
                node_name: agent.name.clone(),
                auth_key_file,
                listen_port: host.listen_port,
                tun: host.tun,
            };
            let source = controller::ControllerSource::start(config, agent.clone(), cached);
            // Nothing to read before the first netmap arrives: the daemon runs on its cache.
            run(source, agent, compile, wiring, false).await;
        }
    }
}

/// Records a reading's effect on the source's health (`error` when it failed), with an event
/// when the health changes.
pub fn record(agent: &AgentState, error: Option<&SourceError>) {
    let now = SystemTime::now();
    let error = error.map(ToString::to_string);
    let (previous, location) = agent.update_source(|source| {
        let previous = std::mem::take(&mut source.last_error);
        match &error {
            None => source.last_contact = Some(now),
            Some(e) => source.last_error = e.clone(),
        }
        (previous, source.location.clone())
    });
    match error {
        Some(e) if e != previous => agent.events.publish(
            "source.unreachable",
            EventLevel::Error,
            format!("cannot read the source: {e}; the running state is kept"),
            [("source", location), ("error", e)],
        ),
        None if !previous.is_empty() => agent.events.publish(
            "source.recovered",
            EventLevel::Info,
            "the source can be read again",
            [("source", location)],
        ),
        _ => {}
    }
}
