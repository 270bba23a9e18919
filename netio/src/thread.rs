//! Running a driver on a thread of its own, with its own single-threaded tokio runtime, so
//! CPU-heavy work elsewhere in a daemon (netmap computation, API calls) never queues in front
//! of packets; handles talk to it over channels.

use tokio::sync::{mpsc, oneshot};

use crate::driver::{Devices, Driver};
use crate::io::{TunIo, UdpIo};
use crate::machine::Machine;

/// Commands buffered before a sender waits.
const COMMAND_QUEUE: usize = 64;

/// Why a driver did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError<E> {
    /// The thread or its runtime could not be made.
    #[error("cannot start the data-plane thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Making the devices or the machine failed.
    #[error(transparent)]
    Setup(E),
    /// The thread ended before it was ready.
    #[error("the data-plane thread stopped before it was ready")]
    Stopped,
}

impl<E> SpawnError<E> {
    /// The setup's own error as it is; the driver's made into `E` by `thread` and `stopped`.
    pub fn flatten(self, thread: impl FnOnce(std::io::Error) -> E, stopped: E) -> E {
        match self {
            Self::Thread(e) => thread(e),
            Self::Setup(e) => e,
            Self::Stopped => stopped,
        }
    }
}

/// A driver running on its own thread. Dropping this stops it (the devices close with the
/// thread); so does dropping every command sender.
pub struct Running<C> {
    commands: mpsc::Sender<C>,
    local_port: u16,
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

/// The driver's thread has already ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the data-plane thread has already stopped")]
pub struct Stopped;

impl<C> Running<C> {
    /// The sender of commands to the machine (clone it for handles).
    pub fn commands(&self) -> &mpsc::Sender<C> {
        &self.commands
    }

    /// The primary socket's local port (useful when bound to port 0).
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Stops the driver and waits until its thread has closed the devices.
    pub async fn stop(self) -> Result<(), Stopped> {
        let _ = self.stop.send(());
        self.done.await.map_err(|_| Stopped)
    }
}

/// Starts a driver on a new thread called `name`. `setup` runs on that thread, inside its
/// runtime (tokio IO objects belong to the runtime that made them), and makes the machine and
/// the devices; this returns once they are up.
pub async fn spawn<M, T, U, E>(
    name: &'static str,
    setup: impl FnOnce() -> Result<(M, Devices<T, U>), E> + Send + 'static,
) -> Result<Running<M::Command>, SpawnError<E>>
where
    M: Machine,
    T: TunIo,
    U: UdpIo,
    E: Send + 'static,
{
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (stop, stop_rx) = oneshot::channel();
    let (ready_tx, ready) = oneshot::channel();
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(SpawnError::Thread(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let (machine, devices) = match setup() {
                    Ok(made) => made,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SpawnError::Setup(e)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(devices.primary.local_port()));
                Driver::new(name, machine, devices, command_rx, stop_rx)
                    .run()
                    .await;
                let _ = done_tx.send(());
            });
        })
        .map_err(SpawnError::Thread)?;
    let local_port = ready.await.map_err(|_| SpawnError::Stopped)??;
    Ok(Running {
        commands,
        local_port,
        stop,
        done,
    })
}
