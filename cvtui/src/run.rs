//! The terminal loop: messages in, `update`, commands out, and at most one redraw per frame
//! however fast messages arrive (everything queued is applied before the next frame).

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::App;
use crate::msg::{Cmd, Msg};
use crate::{io as api, ui, update};

/// The shortest time between two redraws (about 30 frames a second).
pub const FRAME: Duration = Duration::from_millis(33);

/// Messages waiting for the loop; a full queue makes the streams wait (the daemon then
/// reports `events.lost` rather than the dashboard growing without bound).
pub const QUEUE: usize = 1024;

/// Commands waiting for the IO task.
const COMMANDS: usize = 64;

/// The most messages applied between two looks at the frame clock.
const BATCH: usize = 4096;

/// Runs the dashboard on `terminal` against the daemon at `socket` until the operator quits.
pub async fn run<B: Backend>(terminal: &mut Terminal<B>, socket: PathBuf) -> io::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let (msg_tx, mut msg_rx) = mpsc::channel(QUEUE);
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMANDS);
    let api_task = tokio::spawn(api::run(socket.clone(), msg_tx.clone(), cmd_rx));
    let ticker = tokio::spawn(api::tick(msg_tx.clone()));
    api::input::spawn(msg_tx)?;
    let size = terminal.size().map_err(io::Error::other)?;
    let mut app = App::new(
        socket.display().to_string(),
        SystemTime::now(),
        (size.width, size.height),
    );
    let result = tokio::select! {
        result = drive(terminal, &mut app, &mut msg_rx, &cmd_tx) => result,
        result = terminated() => result,
    };
    api_task.abort();
    ticker.abort();
    result
}

/// Completes on SIGTERM or SIGHUP (the SSH session went away), so the terminal is restored
/// as on `q`.
async fn terminated() -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::select! {
        _ = term.recv() => Ok(()),
        _ = hangup.recv() => Ok(()),
    }
}

/// Applies messages and redraws until a `Quit` command or the end of the messages.
pub async fn drive<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    msgs: &mut mpsc::Receiver<Msg>,
    cmds: &mpsc::Sender<Cmd>,
) -> io::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let draw = |terminal: &mut Terminal<B>, app: &App| {
        terminal
            .draw(|frame| ui::render(app, frame))
            .map(drop)
            .map_err(io::Error::other)
    };
    draw(terminal, app)?;
    let mut last_draw = Instant::now();
    let mut redraw_at: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(redraw_at.unwrap_or(last_draw)), if redraw_at.is_some() => {
                draw(terminal, app)?;
                last_draw = Instant::now();
                redraw_at = None;
            }
            msg = msgs.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                let mut pending = Vec::new();
                apply(app, msg, &mut pending);
                for _ in 0..BATCH {
                    let Ok(msg) = msgs.try_recv() else { break };
                    apply(app, msg, &mut pending);
                }
                for cmd in pending {
                    if cmd == Cmd::Quit {
                        return Ok(());
                    }
                    if cmds.try_send(cmd).is_err() {
                        app.notice = Some("busy: a command was dropped, try again".into());
                    }
                }
                redraw_at.get_or_insert(last_draw + FRAME);
            }
        }
    }
}

/// Applies one message, collecting its commands without repeats (a burst of apply events
/// asks for the status once).
fn apply(app: &mut App, msg: Msg, pending: &mut Vec<Cmd>) {
    for cmd in update::update(app, msg) {
        if !pending.contains(&cmd) {
            pending.push(cmd);
        }
    }
}
