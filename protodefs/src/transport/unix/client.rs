//! The client side of the local API's Unix socket: [`connect`], with an error that names the
//! socket and the usual reason when no daemon is there.

use std::io;
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{MAX_MESSAGE_BYTES, SOCKET_GROUP};
pub use crate::v1::local_api_service_client::LocalApiServiceClient;

/// Why a client could not reach the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing exists at the socket path.
    #[error("cannot reach the daemon: {} does not exist (is cvland running?)", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket exists but nobody listens on it.
    #[error("cannot reach the daemon: {} refuses connections (is cvland running?)", path.display())]
    Refused {
        /// The socket path.
        path: PathBuf,
    },
    /// The caller may not open the socket.
    #[error(
        "cannot reach the daemon: permission denied on {} (join group `{SOCKET_GROUP}` or run as root)",
        path.display()
    )]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// Any other failure to connect.
    #[error("cannot reach the daemon at {}: {source}", path.display())]
    Other {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Connects to the local API at `socket`.
///
/// The first connection is made now, so a daemon that is not there is reported at once; later
/// reconnections (after a daemon restart) happen on the next call.
pub async fn connect(
    socket: impl AsRef<Path>,
) -> Result<LocalApiServiceClient<Channel>, ConnectError> {
    let path = socket.as_ref().to_path_buf();
    let dial = path.clone();
    // The URI is required by the HTTP/2 layer and otherwise unused: the connector ignores it.
    let channel = Endpoint::from_static("http://cvland.local")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move { UnixStream::connect(dial).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|source| classify_connect_error(path, source))?;
    Ok(LocalApiServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// The daemon's buffered events (up to its last 1,000) whose kind starts with `kind`, without
/// following: what `cvlanctl events --json` would print, for tests and scripts.
pub async fn buffered_events(
    client: &mut LocalApiServiceClient<Channel>,
    kind: &str,
) -> Result<Vec<crate::v1::WatchEventsResponse>, tonic::Status> {
    let mut stream = client
        .watch_events(crate::v1::WatchEventsRequest {
            start: Some(crate::v1::watch_events_request::Start::Last(1000)),
            kinds: vec![kind.to_owned()],
            follow: false,
        })
        .await?
        .into_inner();
    let mut events = Vec::new();
    while let Some(event) = tokio_stream::StreamExt::next(&mut stream).await {
        events.push(event?);
    }
    Ok(events)
}

/// Names the usual reasons (no socket, nobody listening, no permission) from the OS error
/// inside tonic's error.
fn classify_connect_error(path: PathBuf, source: tonic::transport::Error) -> ConnectError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::NotFound => return ConnectError::NotRunning { path },
                io::ErrorKind::ConnectionRefused => return ConnectError::Refused { path },
                io::ErrorKind::PermissionDenied => return ConnectError::PermissionDenied { path },
                _ => break,
            }
        }
        cause = error.source();
    }
    ConnectError::Other { path, source }
}
