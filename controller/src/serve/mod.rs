//! The controller's one port: Noise IK over TCP (handshakes in their own tasks, bounded, failed
//! ones counted), then gRPC with the control service nodes call and the admin service cvlanctl
//! calls, until shutdown.

pub mod admin;
pub mod control;
pub mod hub;

use std::sync::Arc;

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
    let incoming = noise::NoiseIncoming::new(listener, &key);
    tonic::transport::Server::builder()
        .add_service(ControlServiceServer::new(control::Control::new(
            store.clone(),
            hub.clone(),
        )))
        .add_service(AdminServiceServer::new(admin::Admin::new(store, hub)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
