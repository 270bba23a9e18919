//! The daemon's life: key, cache, source, reconciler, local API and metrics endpoint started in
//! that order, and a clean stop on SIGTERM or SIGINT (API socket and TUN removed, metrics port
//! closed, well within 3 s).

use std::sync::Arc;
use std::time::Duration;

use cvlan_agent::dns::Dns;
use cvlan_agent::keys::{self, KeyError};
use cvlan_agent::lifecycle::{ApiServer, LifecycleError, StopSignals};
use cvlan_agent::metrics::{Build, MetricsError, MetricsServer};
use cvlan_agent::sd_notify::{Notice, notify};
use cvlan_agent::source::{self, Hangups, SourceStatus, Wiring};
use cvlan_agent::{AgentState, EventLevel, Host};
use tokio::sync::{mpsc, watch};

use crate::api::Api;
use crate::metrics::NodeMetrics;
use crate::platform::{Linux, Platform};
use crate::reconcile::{self, Reconciler, desired};
use crate::state::Shared;

/// How long the API waits for the first reading of the source before it opens anyway (a git
/// source may be slow or unreachable; the daemon then serves its status meanwhile).
pub const FIRST_READING_WAIT: Duration = Duration::from_secs(5);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The node key could not be read or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signals or the local API could not be set up, or the API failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The metrics endpoint could not be served.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// Runs the daemon for `host` on this Linux host until SIGTERM or SIGINT.
pub async fn run(host: Host) -> Result<(), DaemonError> {
    let mut signals = StopSignals::install()?;
    run_with(host, Arc::new(Linux), async move {
        let which = signals.received().await;
        tracing::info!("{which}: stopping");
    })
    .await
}

/// Runs the daemon for `host`, changing `platform`, until `shutdown` completes.
pub async fn run_with(
    host: Host,
    platform: Arc<dyn Platform>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let config = &host.config;
    let key = keys::node_key(&config.state_dir)?;
    let agent = Arc::new(AgentState::new(
        &host.name,
        key.public_key(),
        SourceStatus::of(&config.source.value),
    ));
    let dns = Dns::new(config.dns_listen, &config.tun, agent.events.clone());
    let shared = Arc::new(Shared::new(agent.clone(), &config.tun, dns.status()));
    agent.events.publish(
        "daemon.started",
        EventLevel::Info,
        format!(
            "cvland {} started as node {}",
            env!("CARGO_PKG_VERSION"),
            host.name
        ),
        [
            ("node", host.name.clone()),
            ("public_key", key.public_key().to_base64()),
        ],
    );
    if let Some(warnings) = &host.warnings {
        tracing::warn!("{}: {warnings}", host.file.display());
    }

    let (stop_tx, stop) = watch::channel(false);
    let (readings_tx, readings) = mpsc::channel(4);
    let (reloads_tx, reloads) = mpsc::channel(4);
    let (first_tx, mut first) = watch::channel(false);

    let source_config = config.source.value.clone();
    let facts = source::HostFacts {
        listen_port: config.listen_port,
        tun: config.tun.clone(),
    };
    let state_dir = config.state_dir.clone();
    let socket = config.socket.clone();
    let metrics_listen = config.metrics_listen.as_ref().map(|m| m.value);
    let compile = desired::compiler(&host.name);
    let mut reconciler = Reconciler::new(shared.clone(), key, host, platform, dns);
    if reconciler.start_from_cache().await {
        first_tx.send_replace(true);
    }
    let reconciling = tokio::spawn(reconcile::run(reconciler, readings, first_tx, stop.clone()));
    let wiring = Wiring {
        to_reconciler: readings_tx,
        reloads,
        stop: stop.clone(),
        hangups: Hangups::listen(),
    };
    let following = tokio::spawn(source::run_configured(
        source_config,
        state_dir,
        facts,
        agent.clone(),
        compile,
        wiring,
    ));
    let _ = tokio::time::timeout(FIRST_READING_WAIT, first.wait_for(|done| *done)).await;

    // The API stops last: once its socket is gone, the TUN and the UDP port are free again.
    let (api_stop_tx, api_stop) = watch::channel(false);
    let api = Api::new(shared.clone(), reloads_tx, api_stop.clone());
    // Bound before the API's socket appears, so a port in use stops the daemon cleanly.
    let metrics = match metrics_listen {
        Some(listen) => Some(
            MetricsServer::start(
                listen,
                Build {
                    daemon: "cvland",
                    version: env!("CARGO_PKG_VERSION"),
                },
                NodeMetrics::new(shared.clone()),
                api_stop.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let server = ApiServer::start(&socket, api, api_stop).await?;
    notify(Notice::Ready);
    shutdown.await;
    notify(Notice::Stopping);
    agent
        .events
        .publish("daemon.stopping", EventLevel::Info, "stopping", []);
    stop_tx.send_replace(true);
    following.abort();
    let _ = reconciling.await;
    api_stop_tx.send_replace(true);
    if let Some(metrics) = metrics {
        metrics.finished().await;
    }
    server.finished().await?;
    tracing::info!("stopped");
    Ok(())
}
