//! The controller process: its key, its store, the seed, and the life between start and a
//! stop signal. [`Controller::serve`] runs the control and admin listener ([`crate::serve`]).

use std::sync::Arc;
use std::time::SystemTime;

use cvlan_agent::keys::{KeyError, load_or_create_file};
use cvlan_agent::lifecycle::{LifecycleError, StopSignals};
use cvlan_agent::metrics::{Build, MetricsError, MetricsServer};
use cvlan_agent::sd_notify::{Notice, notify};
use cvlan_schema::Database;
use cvlan_types::{PrivateKey, PublicKey};

use crate::config::Config;
use crate::metrics::ControllerMetrics;
use crate::seed::{SEED_AUTHOR, SeedError, revision_from_file};
use crate::serve::{Port, hub::Hub};
use crate::store::sqlite::SqliteStore;
use crate::store::{Actor, AsyncStore, Revision, Store, StoreError};

/// Why the controller cannot start or stopped in error.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The controller's key file cannot be read or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database cannot be opened or used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configured database is one this release cannot use.
    #[error("{0}")]
    Unsupported(String),
    /// The network file cannot seed the database.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// Signal handlers could not be installed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The control port cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address of `listen`.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The metrics endpoint cannot be served.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Serving the control and admin APIs failed.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// A blocking start-up task did not finish.
    #[error("a start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The store `config` names, opened (created and migrated on first use).
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, ControllerError> {
    match &config.controller.database.value {
        Database::Sqlite { path } => Ok(Arc::new(SqliteStore::open(path)?)),
        Database::Postgres { .. } => Err(ControllerError::Unsupported(format!(
            "{}: PostgreSQL is not supported yet; use database \"sqlite\" path=\"/var/lib/cloudvlan/controller.db\"",
            config.file.display()
        ))),
    }
}

/// The controller's private key, from `key-file` (created 0600 when missing).
pub fn controller_key(config: &Config) -> Result<PrivateKey, ControllerError> {
    Ok(load_or_create_file(&config.controller.key_file)?)
}

/// A started controller: its configuration, its key and its store.
pub struct Controller {
    config: Config,
    key: PrivateKey,
    store: AsyncStore,
}

impl Controller {
    /// Opens the key and the store `config` names (blocking: file IO and migrations).
    pub fn open(config: Config) -> Result<Self, ControllerError> {
        let key = controller_key(&config)?;
        let store = AsyncStore::new(open_store(&config)?);
        Ok(Self { config, key, store })
    }

    /// The controller's public key, which network.kdl's `controller public-key=` names.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The store.
    pub fn store(&self) -> &AsyncStore {
        &self.store
    }

    /// With `network-file` and no revision yet, stores that file as the first revision
    /// (author `network-file`, audited); returns it. An invalid file stores nothing.
    pub async fn seed(&self, now: SystemTime) -> Result<Option<Revision>, ControllerError> {
        let Some(path) = self.config.controller.network_file.clone() else {
            return Ok(None);
        };
        if let Some(latest) = self.store.call(|s| s.latest_revision()).await? {
            tracing::info!(
                revision = latest.info.id,
                file = %path.display(),
                "the database has revisions; network-file is not read"
            );
            return Ok(None);
        }
        let revision = tokio::task::spawn_blocking(move || revision_from_file(&path)).await??;
        let by = Actor::local(SEED_AUTHOR);
        let committed = self
            .store
            .call(move |s| s.commit_revision(revision, &by, now))
            .await?;
        tracing::info!(
            revision = committed.info.id,
            hash = %committed.info.hash,
            "seeded the database from network-file"
        );
        Ok(Some(committed))
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn serve(self, mut signals: StopSignals) -> Result<(), ControllerError> {
        let listen = self.config.controller.listen.value;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ControllerError::Listen {
                addr: listen,
                source,
            })?;
        let hub = Hub::start(self.store.clone()).await;
        let port = Port::new(listener, &self.key, self.store.clone(), hub.clone());
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let metrics = match self.config.controller.metrics_listen.as_ref() {
            Some(m) => Some(
                MetricsServer::start(
                    m.value,
                    Build {
                        daemon: "cvlan-controller",
                        version: env!("CARGO_PKG_VERSION"),
                    },
                    ControllerMetrics::new(hub, port.counts()),
                    stop,
                )
                .await?,
            ),
            None => None,
        };
        tracing::info!(public_key = %self.public_key(), %listen, "cvlan-controller is up");
        notify(Notice::Ready);
        let shutdown = async move {
            let signal = signals.received().await;
            tracing::info!(signal, "stopping");
            notify(Notice::Stopping);
        };
        let served = port.run(shutdown).await;
        stop_tx.send_replace(true);
        if let Some(metrics) = metrics {
            metrics.finished().await;
        }
        Ok(served?)
    }
}

/// The whole life of `cvlan-controller --config`: install the stop signals, open the key and
/// the database, seed it, serve until a stop signal.
pub async fn run(config: Config) -> Result<(), ControllerError> {
    let signals = StopSignals::install()?;
    if let Some(warnings) = &config.warnings {
        tracing::warn!("{}: {warnings}", config.file.display());
    }
    let controller = tokio::task::spawn_blocking(move || Controller::open(config)).await??;
    controller.seed(SystemTime::now()).await?;
    controller.serve(signals).await
}
