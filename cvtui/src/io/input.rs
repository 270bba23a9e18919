//! The terminal's keys and resizes, read on a thread of their own (crossterm's read blocks)
//! and sent on as messages.

use std::io;
use std::thread::JoinHandle;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

use crate::msg::Msg;

/// Starts the reader; it ends when the terminal can no longer be read or `msgs` closes.
pub fn spawn(msgs: mpsc::Sender<Msg>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cvtui-keys".into())
        .spawn(move || {
            loop {
                let msg = match event::read() {
                    Ok(Event::Key(key)) => Msg::Key(key),
                    Ok(Event::Resize(width, height)) => Msg::Resize { width, height },
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if msgs.blocking_send(msg).is_err() {
                    return;
                }
            }
        })
}
