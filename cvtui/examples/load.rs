//! The dashboard under load in one process, for `/usr/bin/time -v` (peak RSS): 10,000 peers
//! with rates, a burst of 10,000 events, then 200 frames of the Peers and Events views at
//! 160x48. Prints the time per frame; run it as
//!
//! `cargo build --release -p cvtui --example load && /usr/bin/time -v target/release/examples/load`

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::time::Instant;

use common::*;
use cvtui::app::App;
use cvtui::msg::{Connected, Msg, Served};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

fn main() -> std::io::Result<()> {
    let mut app = App::new("/run/cloudvlan/cvland.sock", t(3600), (160, 48));
    feed(
        &mut app,
        [Msg::Connected(Box::new(Connected {
            status: status(),
            served: Served::default(),
        }))],
    );
    for at in [3599, 3600] {
        let peers = (0..10_000).map(|i| peer(i, at)).collect();
        feed(&mut app, [Msg::Peers(full(peers, at))]);
    }
    let burst = Instant::now();
    feed(&mut app, events(10_000).into_iter().map(Msg::Event));
    let burst = burst.elapsed();
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap_or_else(|e| match e {});
    let frames = 200;
    let start = Instant::now();
    for i in 0..frames {
        let view = if i % 2 == 0 { '2' } else { '4' };
        feed(&mut app, [key(KeyCode::Char(view))]);
        terminal
            .draw(|frame| cvtui::ui::render(&app, frame))
            .unwrap_or_else(|e| match e {});
    }
    let per_frame = start.elapsed() / frames;
    let mut out = std::io::stdout().lock();
    writeln!(out, "peers: {}", app.peers.rows().len())?;
    writeln!(
        out,
        "events kept: {} (dropped {})",
        app.events.len(),
        app.events.dropped
    )?;
    writeln!(out, "burst of 10,000 events applied in {burst:?}")?;
    writeln!(out, "{frames} frames, {per_frame:?} per frame")?;
    Ok(())
}
