//! The IO side: one task keeps a connection to the daemon (reconnecting with backoff), turns
//! its live streams into [`Msg`]s and runs the [`Cmd`]s `update` returns; a thread reads keys;
//! a ticker moves the clock. Nothing here touches the [`App`](crate::app::App).

pub mod input;
mod session;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::conn::backoff;
use crate::msg::{Cmd, Msg};
use session::{Ended, Resume};

/// How often the live peer table and the policy hits are sent.
pub const FEED_INTERVAL: Duration = Duration::from_secs(1);

/// How many buffered events to replay on the first connection.
pub const EVENT_REPLAY: u32 = 500;

/// How often the clock ticks (ages, uptime, retry countdowns).
pub const TICK: Duration = Duration::from_secs(1);

/// Keeps talking to the daemon at `socket` until `msgs` closes: connects, streams, and on any
/// failure reports it and tries again after [`backoff`]. Commands arriving while disconnected
/// are answered with an error message rather than left hanging.
pub async fn run(socket: PathBuf, msgs: mpsc::Sender<Msg>, mut cmds: mpsc::Receiver<Cmd>) {
    let mut attempt = 0u32;
    let mut resume = Resume::default();
    loop {
        if msgs.send(Msg::Connecting { attempt }).await.is_err() {
            return;
        }
        let error = match cvlan_proto::local::connect(&socket).await {
            Ok(client) => match session::run(client, &msgs, &mut cmds, &mut resume).await {
                Ended::Closed => return,
                Ended::Lost { reason, was_up } => {
                    if was_up {
                        attempt = 0;
                    }
                    reason
                }
            },
            Err(error) => error.to_string(),
        };
        let retry_in = backoff(attempt);
        let down = Msg::Disconnected {
            error,
            attempt,
            retry_in,
        };
        if msgs.send(down).await.is_err() {
            return;
        }
        attempt = attempt.saturating_add(1);
        let deadline = Instant::now() + retry_in;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { return };
                    if let Some(answer) = refusal(cmd)
                        && msgs.send(answer).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// The answer to a command that arrives while the daemon is not connected.
fn refusal(cmd: Cmd) -> Option<Msg> {
    const DOWN: &str = "not connected to the daemon";
    match cmd {
        Cmd::Ping { node, .. } => Some(Msg::PingEnded {
            node,
            error: Some(DOWN.into()),
        }),
        Cmd::Explain { .. } => Some(Msg::Explained(Err(DOWN.into()))),
        Cmd::Quit | Cmd::RefreshStatus | Cmd::RefreshRelays => None,
    }
}

/// Sends the wall clock every [`TICK`] until `msgs` closes.
pub async fn tick(msgs: mpsc::Sender<Msg>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        if msgs.send(Msg::Tick(SystemTime::now())).await.is_err() {
            return;
        }
    }
}
