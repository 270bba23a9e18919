//! The daemon's life: key, cache, source, reconciler and local API started in that order, and
//! a clean stop on SIGTERM or SIGINT (API socket and TUN removed, well within 3 s).

use std::sync::Arc;
use std::time::Duration;

use cvlan_proto::v1::EventLevel;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::api::Api;
use crate::config::DaemonConfig;
use crate::keys;
use crate::reconcile::{self, Reconciler};
use crate::source;
use crate::state::Shared;

/// How long the API waits for the first reading of the source before it opens anyway (a git
/// source may be slow or unreachable; the daemon then serves its status meanwhile).
pub const FIRST_READING_WAIT: Duration = Duration::from_secs(5);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The node key could not be read or created.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// The local API could not be served.
    #[error(transparent)]
    Serve(#[from] cvlan_proto::local::ServeError),
    /// Signal handlers could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// Runs the daemon for `config` until SIGTERM or SIGINT.
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let key = keys::load_or_create(&config.state_dir)?;
    let shared = Arc::new(Shared::new(
        &config.node,
        key.public_key(),
        &config.tun,
        source::info(&config.source),
    ));
    shared.events.publish(
        "daemon.started",
        EventLevel::Info,
        format!(
            "cvland {} started as node {}",
            env!("CARGO_PKG_VERSION"),
            config.node
        ),
        [
            ("node", config.node.clone()),
            ("public_key", key.public_key().to_base64()),
        ],
    );
    if let Some(warnings) = &config.warnings {
        tracing::warn!("{}: {warnings}", config.file.display());
    }

    let (stop_tx, stop) = watch::channel(false);
    let (readings_tx, readings) = mpsc::channel(4);
    let (reloads_tx, reloads) = mpsc::channel(4);
    let (first_tx, mut first) = watch::channel(false);

    let mut reconciler = Reconciler::new(shared.clone(), key, config.clone());
    if reconciler.start_from_cache().await {
        first_tx.send_replace(true);
    }
    let reconciling = tokio::spawn(reconcile::run(reconciler, readings, first_tx, stop.clone()));
    let following = tokio::spawn(source::run_configured(
        config.source.clone(),
        config.state_dir.clone(),
        shared.clone(),
        readings_tx,
        reloads,
        stop.clone(),
    ));
    let _ = tokio::time::timeout(FIRST_READING_WAIT, first.wait_for(|done| *done)).await;

    let socket = cvlan_proto::local::LocalSocket::bind(&config.socket).await?;
    let api = Api::new(shared.clone(), reloads_tx);
    // The API stops last: once its socket is gone, the TUN and the UDP port are free again.
    let (api_stop_tx, mut api_stop) = watch::channel(false);
    let serving = tokio::spawn(socket.serve(api, async move {
        let _ = api_stop.wait_for(|s| *s).await;
    }));
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
    }
    shared
        .events
        .publish("daemon.stopping", EventLevel::Info, "stopping", []);
    stop_tx.send_replace(true);
    following.abort();
    let _ = reconciling.await;
    api_stop_tx.send_replace(true);
    match serving.await {
        Ok(result) => result?,
        Err(e) => tracing::warn!(error = %e, "the local API task ended abnormally"),
    }
    tracing::info!("stopped");
    Ok(())
}
