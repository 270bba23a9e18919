//! The daemon side of the local API's Unix socket: [`LocalSocket`] binds and publishes the
//! socket (replacing a stale one, refusing a live one), serves a [`LocalApiService`] on it, and
//! removes it again on shutdown, on error and on drop.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use super::{MAX_MESSAGE_BYTES, SOCKET_GROUP};
pub use crate::v1::local_api_service_server::{LocalApiService, LocalApiServiceServer};
/// The response type of the server-streaming calls of [`LocalApiService`].
pub use tonic::codegen::BoxStream;

/// The socket's permissions: owner and group read and write, nobody else.
pub const SOCKET_MODE: u32 = 0o660;

/// How long shutdown waits for open calls (live streams) to finish before it returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Why a daemon could not serve the local API.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A live daemon already answers on the socket.
    #[error("{} is in use: another daemon is serving the local API there", path.display())]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something other than a socket sits at the path; it is left alone.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// Preparing, binding or publishing the socket failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("bind", "remove the stale socket", ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The gRPC server failed.
    #[error("serving the local API on {} failed: {source}", path.display())]
    Transport {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Binds `socket` and serves `service` on it until `shutdown` completes.
///
/// See [`LocalSocket::bind`] for how the socket is prepared and [`LocalSocket::serve`] for
/// shutdown. The socket is removed when this returns, whatever the outcome.
pub async fn serve<S: LocalApiService>(
    socket: impl AsRef<Path>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    LocalSocket::bind(socket)
        .await?
        .serve(service, shutdown)
        .await
}

/// A bound local-API socket, published and ready for clients; removed when dropped.
#[derive(Debug)]
pub struct LocalSocket {
    listener: UnixListener,
    guard: SocketFile,
}

impl LocalSocket {
    /// Binds the local-API socket at `socket`.
    ///
    /// Creates the parent directory when missing. A socket left behind by a daemon that died
    /// (nobody accepts on it) is replaced; a socket a live daemon answers on is refused with
    /// [`ServeError::InUse`], and anything that is not a socket with [`ServeError::NotASocket`].
    /// The socket is bound under a temporary name, given mode 0660 and group `cvlan` (when the
    /// group exists), then renamed into place, so no client ever sees it with other permissions.
    pub async fn bind(socket: impl AsRef<Path>) -> Result<Self, ServeError> {
        let path = socket.as_ref().to_path_buf();
        let io_err = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| ServeError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err("create the directory of", &path))?;
        }
        remove_stale(&path).await?;

        let staging = staging_path(&path);
        remove_if_exists(&staging).map_err(io_err("remove", &staging))?;
        let listener = UnixListener::bind(&staging).map_err(io_err("bind", &staging))?;
        let staged = SocketFile::adopt(staging.clone()).map_err(io_err("inspect", &staging))?;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_err("set the mode of", &staging))?;
        give_to_group(&staging, SOCKET_GROUP);
        std::fs::rename(&staging, &path).map_err(io_err("publish the socket at", &path))?;
        let guard = staged.renamed(path);
        tracing::info!(socket = %guard.path.display(), "local API listening");
        Ok(Self { listener, guard })
    }

    /// The path clients connect to.
    pub fn path(&self) -> &Path {
        &self.guard.path
    }

    /// Serves `service` until `shutdown` completes, then removes the socket.
    ///
    /// On shutdown no new connection is accepted; open calls get [`SHUTDOWN_GRACE`] to finish
    /// (a live stream that does not end is abandoned then, its task ending with the runtime).
    pub async fn serve<S: LocalApiService>(
        self,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let Self { listener, guard } = self;
        let service = LocalApiServiceServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                shutdown.await;
                // The receiver is gone only when serving already ended; nothing to tell then.
                let _ = stopping_tx.send(());
            });
        let grace_over = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = server => result,
            () = grace_over => {
                tracing::warn!(socket = %guard.path.display(), "open local API calls outlived the shutdown grace; closing");
                Ok(())
            }
        };
        let path = guard.path.clone();
        drop(guard);
        result.map_err(|source| ServeError::Transport { path, source })
    }
}

/// Removes a socket at `path` that nobody accepts on; refuses a live one and non-sockets.
async fn remove_stale(path: &Path) -> Result<(), ServeError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ServeError::Io {
                action: "inspect",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(ServeError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match UnixStream::connect(path).await {
        Ok(_) => Err(ServeError::InUse {
            path: path.to_path_buf(),
        }),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %path.display(), "removing a stale local API socket");
            remove_if_exists(path).map_err(|source| ServeError::Io {
                action: "remove the stale socket",
                path: path.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(ServeError::Io {
            action: "probe the existing socket",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A short, unique name next to `path` to bind under before the socket is published.
fn staging_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".cvl{}-{n}", std::process::id()))
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Gives the socket to `group` when it exists. Failing that, the socket keeps the daemon's
/// group and the log says why: the daemon still serves root and its own group.
fn give_to_group(path: &Path, group: &str) {
    match nix::unistd::Group::from_name(group) {
        Ok(Some(found)) => {
            if let Err(error) = std::os::unix::fs::chown(path, None, Some(found.gid.as_raw())) {
                tracing::warn!(%error, group, "cannot give the local API socket to its group");
            }
        }
        Ok(None) => {
            tracing::debug!(
                group,
                "group does not exist; the socket keeps the daemon's group"
            );
        }
        Err(error) => {
            tracing::warn!(%error, group, "cannot look up the local API socket's group");
        }
    }
}

/// The socket file this process created, identified by device and inode, removed on drop
/// unless something else has replaced it meanwhile.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Takes charge of the socket just bound at `path`.
    fn adopt(path: PathBuf) -> io::Result<Self> {
        let metadata = std::fs::symlink_metadata(&path)?;
        Ok(Self {
            path,
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }

    /// The same socket, after it was renamed to `path`.
    fn renamed(mut self, path: PathBuf) -> Self {
        self.path = path;
        self
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours && let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(%error, socket = %self.path.display(), "cannot remove the local API socket");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_goes_to_the_group_when_it_exists_and_keeps_its_own_otherwise() {
        // `cvlan` need not exist on a build machine; any existing group proves the chown, and
        // a group that cannot exist proves the fallback.
        let Some(existing) = ["daemon", "adm", "nogroup", "users"]
            .iter()
            .find_map(|name| nix::unistd::Group::from_name(name).ok().flatten())
        else {
            panic!("none of the standard groups exists on this machine");
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let before = std::fs::metadata(&path).expect("metadata").gid();

        give_to_group(&path, "no-such-group-cvlan-test");
        assert_eq!(std::fs::metadata(&path).expect("metadata").gid(), before);

        give_to_group(&path, &existing.name);
        let after = std::fs::metadata(&path).expect("metadata").gid();
        // Only root (or a member of the group) may chown to another group; as anyone else the
        // call is refused and the socket keeps its group, which the fallback allows.
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(after, existing.gid.as_raw());
        } else {
            assert!(after == before || after == existing.gid.as_raw());
        }
    }
}
