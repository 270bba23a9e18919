//! Where the desired state comes from: a watched file ([`file`]) or a git branch fetched every
//! interval ([`git`]). A source task reads its source when it changes, on SIGHUP and on the
//! Reload call, and hands each reading to the reconciler; a source that fails (file missing,
//! repository unreachable) is reported (status `source.last_error`, events, log) and the
//! running state is left alone.

pub mod file;
pub mod git;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use cvlan_proto::v1::{self, EventLevel, SourceKind};
use cvlan_schema::{Checked, SourceMap};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::SourceConfig;
use crate::state::Shared;

/// One reading of the source: the network as checked by cvlan-schema, and its revision.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Git commit id, or the SHA-256 of the file and its includes.
    pub revision: String,
    /// The parsed and validated files.
    pub checked: Checked,
}

/// A reading (or why there is none) on its way to the reconciler, with the Reload caller
/// waiting for the outcome, if any.
#[derive(Debug)]
pub struct SourceMsg {
    /// The reading, or the source's error.
    pub result: Result<Fetched, String>,
    /// Where the outcome goes when a Reload call asked for this reading.
    pub reply: Option<oneshot::Sender<v1::ApplyResult>>,
}

/// A Reload call waiting for the outcome of a fresh reading.
pub type ReloadReply = oneshot::Sender<v1::ApplyResult>;

/// A source of desired state, driven by [`run`].
pub trait Source: Send {
    /// Waits until the source may have changed (a file event, the next interval).
    fn changed(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Reads the source now.
    fn fetch(&mut self) -> impl std::future::Future<Output = Result<Fetched, String>> + Send;
}

/// The source as the local API describes it before its first reading.
pub fn info(config: &SourceConfig) -> v1::SourceInfo {
    match config {
        SourceConfig::File { path } => v1::SourceInfo {
            kind: SourceKind::File.into(),
            location: path.display().to_string(),
            ..Default::default()
        },
        SourceConfig::Git {
            url,
            branch,
            path,
            interval,
        } => v1::SourceInfo {
            kind: SourceKind::Git.into(),
            location: url.clone(),
            branch: branch.clone(),
            path: path.clone(),
            interval: prost_types::Duration::try_from(*interval).ok(),
            ..Default::default()
        },
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

/// Builds the source `config` describes (`state_dir` holds the git source's repository).
pub async fn run_configured(
    config: SourceConfig,
    state_dir: PathBuf,
    shared: Arc<Shared>,
    to_reconciler: mpsc::Sender<SourceMsg>,
    reloads: mpsc::Receiver<ReloadReply>,
    stop: watch::Receiver<bool>,
) {
    match config {
        SourceConfig::File { path } => {
            let source = file::FileSource::new(path);
            run(source, shared, to_reconciler, reloads, stop).await;
        }
        SourceConfig::Git {
            url,
            branch,
            path,
            interval,
        } => {
            let source =
                git::GitSource::new(url, branch, path, interval, state_dir.join("git-source"));
            run(source, shared, to_reconciler, reloads, stop).await;
        }
    }
}

/// Reads `source` now and whenever it changes, on SIGHUP, and on each Reload request, until
/// `stop` turns true; every reading goes to the reconciler.
pub async fn run<S: Source>(
    mut source: S,
    shared: Arc<Shared>,
    to_reconciler: mpsc::Sender<SourceMsg>,
    mut reloads: mpsc::Receiver<ReloadReply>,
    mut stop: watch::Receiver<bool>,
) {
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with `Reload` instead");
            None
        }
    };
    let mut reply: Option<ReloadReply> = None;
    loop {
        let result = source.fetch().await;
        record(&shared, &result);
        let msg = SourceMsg {
            result,
            reply: reply.take(),
        };
        if to_reconciler.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = source.changed() => {}
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => tracing::info!("SIGHUP: reading the source again"),
            request = reloads.recv() => match request {
                Some(r) => reply = Some(r),
                None => return,
            },
        }
    }
}

/// Records the reading's effect on the source's health, with an event when it changes.
fn record(shared: &Shared, result: &Result<Fetched, String>) {
    let now = SystemTime::now();
    let (previous, location) = shared.update(|state| {
        let previous = std::mem::take(&mut state.source.last_error);
        match result {
            Ok(_) => state.source.last_contact = Some(now.into()),
            Err(e) => state.source.last_error = e.clone(),
        }
        (previous, state.source.location.clone())
    });
    match result {
        Err(e) if *e != previous => shared.events.publish(
            "source.unreachable",
            EventLevel::Error,
            format!("cannot read the source: {e}; the running state is kept"),
            [("source", location), ("error", e.clone())],
        ),
        Ok(_) if !previous.is_empty() => shared.events.publish(
            "source.recovered",
            EventLevel::Info,
            "the source can be read again",
            [("source", location)],
        ),
        _ => {}
    }
}
