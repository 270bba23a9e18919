//! A daemon's life around its work: the signals that stop it, and the local API served on its
//! socket until the daemon says stop (the socket is removed then).

use std::path::Path;

use cvlan_proto::local::{LocalApiService, LocalSocket, ServeError};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the daemon's life could not be set up or ended in error.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Signal handlers could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    /// The local API could not be served.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The local API's task ended abnormally.
    #[error("the local API task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// SIGTERM and SIGINT, the signals that stop a daemon.
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Installs the handlers (do it first, so an early signal is not lost).
    pub fn install() -> Result<Self, LifecycleError> {
        let listen = |kind| signal(kind).map_err(LifecycleError::Signals);
        Ok(Self {
            terminate: listen(SignalKind::terminate())?,
            interrupt: listen(SignalKind::interrupt())?,
        })
    }

    /// Waits for either signal; says which came.
    pub async fn received(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// The local API, served on its socket until the daemon's stop signal turns true.
pub struct ApiServer {
    task: JoinHandle<Result<(), ServeError>>,
}

impl ApiServer {
    /// Binds `socket` and serves `api` on it until `stopping` turns true (the API's streams
    /// watch the same receiver to end then).
    pub async fn start<A: LocalApiService>(
        socket: &Path,
        api: A,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<Self, LifecycleError> {
        let socket = LocalSocket::bind(socket).await?;
        let task = tokio::spawn(socket.serve(api, async move {
            let _ = stopping.wait_for(|s| *s).await;
        }));
        Ok(Self { task })
    }

    /// Waits until serving ended (open calls had their grace, the socket is removed).
    pub async fn finished(self) -> Result<(), LifecycleError> {
        Ok(self.task.await??)
    }
}
