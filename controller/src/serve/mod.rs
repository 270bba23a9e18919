//! The controller's one port: Noise IK over TCP (handshakes in their own tasks, bounded, failed
//! ones counted), then gRPC with the control service nodes call and the admin service cvlanctl
//! calls, until shutdown. Failed handshakes and refused registrations are logged as counts,
//! one line a minute when there were any and totals at shutdown, never one line each.

pub mod admin;
pub mod control;
pub mod hub;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cvlan_proto::transport::noise;
use cvlan_proto::v1::admin_service_server::AdminServiceServer;
use cvlan_proto::v1::control_service_server::ControlServiceServer;
use cvlan_types::PrivateKey;
use tokio::net::TcpListener;
use tonic::Status;

use crate::store::{AsyncStore, StoreError};

/// The status a store failure answers with: refusals in their own words, database trouble
/// as an internal error (logged here, not shown to the caller).
pub fn status(e: StoreError) -> Status {
    match e {
        StoreError::NotFound { .. } => Status::not_found(e.to_string()),
        StoreError::MachineKeyMismatch { .. } | StoreError::AuthKey(_) => {
            Status::permission_denied(e.to_string())
        }
        other => {
            tracing::error!(error = %other, "store call failed");
            Status::internal("the controller's database failed; see its log")
        }
    }
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("serving failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the control and admin services on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    key: PrivateKey,
    store: AsyncStore,
    hub: Arc<hub::Hub>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    Port::new(listener, &key, store, hub).run(shutdown).await
}

/// The control port, bound and not yet serving: its [`Counts`] can be handed out first.
pub struct Port {
    incoming: noise::NoiseIncoming,
    control: control::Control,
    admin: admin::Admin,
    counts: Counts,
}

impl Port {
    /// The control and admin services of `store` and `hub` on `listener`, keyed by `key`.
    pub fn new(
        listener: TcpListener,
        key: &PrivateKey,
        store: AsyncStore,
        hub: Arc<hub::Hub>,
    ) -> Self {
        let incoming = noise::NoiseIncoming::new(listener, key);
        let control = control::Control::new(store.clone(), hub.clone());
        let counts = Counts {
            handshakes: incoming.counters(),
            refused: control.refused(),
        };
        Self {
            incoming,
            control,
            admin: admin::Admin::new(store, hub),
            counts,
        }
    }

    /// What the port counts (shared: it keeps counting while the port serves).
    pub fn counts(&self) -> Counts {
        self.counts.clone()
    }

    /// Serves until `shutdown` completes; logs the totals then.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let Self {
            incoming,
            control,
            admin,
            counts,
        } = self;
        let reporter = tokio::spawn(report_failures(counts.clone()));
        let served = tonic::transport::Server::builder()
            .add_service(ControlServiceServer::new(control))
            .add_service(AdminServiceServer::new(admin))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        reporter.abort();
        tracing::info!(
            handshakes_accepted = counts.handshakes_accepted(),
            handshakes_failed = counts.handshakes_failed(),
            registrations_refused = counts.refused(),
            "control port totals"
        );
        served?;
        Ok(())
    }
}

/// How often failed handshakes and refused registrations are logged, when there were any.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What the control port counts: handshakes, and registrations refused.
#[derive(Clone)]
pub struct Counts {
    handshakes: Arc<noise::HandshakeCounters>,
    refused: Arc<AtomicU64>,
}

impl Counts {
    /// Noise handshakes that completed.
    pub fn handshakes_accepted(&self) -> u64 {
        self.handshakes.accepted()
    }

    /// Noise handshakes that failed (garbage, a wrong key, a replay, a timeout).
    pub fn handshakes_failed(&self) -> u64 {
        self.handshakes.failed()
    }

    /// `Register` calls refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Logs, once per [`REPORT_EVERY`] in which there were any, how many handshakes failed and
/// how many registrations were refused: one line however many there were.
async fn report_failures(counts: Counts) {
    let mut ticks = tokio::time::interval(REPORT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let (mut failed, mut refused) = (0, 0);
    loop {
        ticks.tick().await;
        let (failed_now, refused_now) = (counts.handshakes_failed(), counts.refused());
        if failed_now > failed || refused_now > refused {
            tracing::warn!(
                handshakes_failed = failed_now - failed,
                registrations_refused = refused_now - refused,
                "bad input on the control port in the last {} s (garbage, truncated, replayed or timed-out handshakes; refused registrations)",
                REPORT_EVERY.as_secs()
            );
        }
        (failed, refused) = (failed_now, refused_now);
    }
}
