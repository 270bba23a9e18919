//! Criterion benches of the dashboard's hot paths: drawing the Peers view with 10,000 peers
//! (against 10 peers as the baseline in the same run), applying a live update of 1,000
//! changed rows, and applying a burst of 10,000 events then drawing the frame after it.
//!
//! `cargo bench -p cvtui --bench render`

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use cvlan_proto::v1;
use cvtui::app::App;
use cvtui::msg::{Connected, Msg, Served};
use cvtui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

const SIZE: (u16, u16) = (160, 48);

/// A connected dashboard on the Peers view with `n` peers and their rates.
fn app_with_peers(n: usize) -> App {
    let mut app = App::new("/run/cloudvlan/cvland.sock", t(3600), SIZE);
    feed(
        &mut app,
        [Msg::Connected(Box::new(Connected {
            status: status(),
            served: Served::default(),
        }))],
    );
    feed(
        &mut app,
        [Msg::Peers(full(
            (0..n).map(|i| peer(i, 3599)).collect(),
            3599,
        ))],
    );
    let mut later: Vec<v1::Peer> = (0..n).map(|i| peer(i, 3600)).collect();
    for (i, p) in later.iter_mut().enumerate() {
        p.rx_bytes += (i as u64 % 97) * 10_000;
    }
    feed(
        &mut app,
        [Msg::Peers(full(later, 3600)), key(KeyCode::Char('2'))],
    );
    app
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test terminal")
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("cvtui");
    for n in [10, 10_000] {
        let app = app_with_peers(n);
        let mut term = terminal();
        group.bench_function(format!("render peers view, {n} peers, 160x48"), |b| {
            b.iter(|| {
                term.draw(|frame| cvtui::ui::render(black_box(&app), frame))
                    .expect("draws");
            });
        });
    }

    let app = app_with_peers(10_000);
    let changed: Vec<v1::Peer> = (0..10_000)
        .step_by(10)
        .map(|i| {
            let mut p = peer(i, 3601);
            p.rx_bytes += 5_000_000;
            p
        })
        .collect();
    let partial = v1::WatchPeersResponse {
        full: false,
        peers: changed,
        removed: Vec::new(),
        time: Some(ts(t(3601))),
    };
    group.bench_function("apply 1,000 changed rows of 10,000 peers (re-sort)", |b| {
        b.iter_batched(
            || (app.clone(), partial.clone()),
            |(mut app, partial)| update(&mut app, Msg::Peers(partial)),
            BatchSize::LargeInput,
        );
    });

    let burst: Vec<v1::WatchEventsResponse> = events(10_000);
    group.bench_function("apply a burst of 10,000 events", |b| {
        b.iter_batched(
            || (app.clone(), burst.clone()),
            |(mut app, burst)| {
                for e in burst {
                    update(&mut app, Msg::Event(e));
                }
                app
            },
            BatchSize::LargeInput,
        );
    });

    let mut after_burst = app.clone();
    feed(&mut after_burst, burst.iter().cloned().map(Msg::Event));
    feed(&mut after_burst, [key(KeyCode::Char('4'))]);
    let mut term = terminal();
    group.bench_function("render events view after the burst, 160x48", |b| {
        b.iter(|| {
            term.draw(|frame| cvtui::ui::render(black_box(&after_burst), frame))
                .expect("draws");
        });
    });
    group.finish();
}

criterion_group!(render, benches);
criterion_main!(render);
