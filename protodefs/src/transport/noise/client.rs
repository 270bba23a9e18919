//! The client's side of the control transport (a node, cvlanctl): [`connect`] and
//! [`connect_lazy`] give a tonic `Channel` whose connections are TCP (`TCP_NODELAY`) with a
//! Noise handshake to the controller's key; [`dial`] gives one such connection.

use std::sync::{Arc, Mutex};

use cvlan_types::{PrivateKey, PublicKey};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::NoiseError;
use super::session::HANDSHAKE_TIMEOUT;
use super::stream::{NoiseStream, client_handshake};

/// Connects to the controller at `addr` (`host:port`) with the static key `local`, expecting
/// the controller's key `server`.
///
/// The first connection is made now, so an unreachable controller or a wrong key is reported
/// at once with its own error; later reconnections happen on the channel's next call.
pub async fn connect(
    addr: &str,
    local: &PrivateKey,
    server: &PublicKey,
) -> Result<Channel, NoiseError> {
    let endpoint = endpoint(addr)?;
    let first = dial(addr, local, server).await?;
    endpoint
        .connect_with_connector(connector(addr, local, server, Some(first)))
        .await
        .map_err(NoiseError::Channel)
}

/// Like [`connect`], but connects on the channel's first call instead of now.
pub fn connect_lazy(
    addr: &str,
    local: &PrivateKey,
    server: &PublicKey,
) -> Result<Channel, NoiseError> {
    Ok(endpoint(addr)?.connect_with_connector_lazy(connector(addr, local, server, None)))
}

/// Opens one control connection: TCP to `addr` (`host:port`, within the handshake timeout),
/// then the client handshake.
pub async fn dial(
    addr: &str,
    local: &PrivateKey,
    server: &PublicKey,
) -> Result<NoiseStream<TcpStream>, NoiseError> {
    let tcp = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| NoiseError::Timeout)??;
    tcp.set_nodelay(true)?;
    client_handshake(tcp, local, server).await
}

/// The URI names the controller for HTTP/2; the connector dials `addr` itself.
fn endpoint(addr: &str) -> Result<Endpoint, NoiseError> {
    Endpoint::from_shared(format!("http://{addr}")).map_err(NoiseError::Channel)
}

/// A connector that hands out `first` (when given) once, then dials anew each time.
fn connector(
    addr: &str,
    local: &PrivateKey,
    server: &PublicKey,
    first: Option<NoiseStream<TcpStream>>,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<NoiseStream<TcpStream>>,
    Error = NoiseError,
    Future = impl Future<Output = Result<TokioIo<NoiseStream<TcpStream>>, NoiseError>> + Send,
> + Clone
+ Send
+ 'static {
    let addr: Arc<str> = addr.into();
    let local = Arc::new(local.clone());
    let server = *server;
    let first = Arc::new(Mutex::new(first));
    tower::service_fn(move |_: Uri| {
        let (addr, local, first) = (addr.clone(), local.clone(), first.clone());
        async move {
            let ready = first.lock().ok().and_then(|mut slot| slot.take());
            let stream = match ready {
                Some(stream) => stream,
                None => dial(&addr, &local, &server).await?,
            };
            Ok(TokioIo::new(stream))
        }
    })
}
