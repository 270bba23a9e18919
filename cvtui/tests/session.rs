//! The IO task against a small in-test daemon on a real Unix socket: it turns the local API's
//! streams into messages, `update` turns them into state, commands round-trip, and a daemon
//! that is missing, goes away or comes back is reported and reconnected to by itself.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::server::{Running, Shared};
use common::*;
use cvlan_proto::v1;
use cvlan_proto::v1::watch_events_request::Start;
use cvtui::app::{App, Conn, View};
use cvtui::msg::{Cmd, Msg};
use cvtui::update::update;
use ratatui::crossterm::event::KeyCode;
use tokio::sync::mpsc;

/// The dashboard's side of the channels, driven by the test instead of a terminal.
struct Dashboard {
    app: App,
    msgs: mpsc::Receiver<Msg>,
    cmds: mpsc::Sender<Cmd>,
    task: tokio::task::JoinHandle<()>,
    /// How many status refreshes the dashboard has asked for.
    refreshes: usize,
}

impl Dashboard {
    fn start(socket: PathBuf) -> Self {
        let (msg_tx, msgs) = mpsc::channel(cvtui::run::QUEUE);
        let (cmds, cmd_rx) = mpsc::channel(16);
        let task = tokio::spawn(cvtui::io::run(socket.clone(), msg_tx, cmd_rx));
        Self {
            app: App::new(socket.display().to_string(), t(3600), (120, 40)),
            msgs,
            cmds,
            task,
            refreshes: 0,
        }
    }

    /// Applies one message as the terminal loop does, passing its commands to the IO task.
    async fn apply(&mut self, msg: Msg) {
        for cmd in update(&mut self.app, msg) {
            self.refreshes += usize::from(matches!(cmd, Cmd::RefreshStatus));
            self.cmds.send(cmd).await.expect("io task alive");
        }
    }

    /// Applies messages until `done` holds (failing after 10 s: a condition, not a sleep).
    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.app) {
            let msg = tokio::time::timeout_at(deadline, self.msgs.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("timed out waiting for {what}; conn {:?}", self.app.conn)
                })
                .expect("io task sends");
            self.apply(msg).await;
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("run").join("cvland.sock")
}

fn rx_rate(app: &App, name: &str) -> Option<f64> {
    app.peers
        .rows()
        .iter()
        .find(|r| r.peer.name == name)
        .and_then(|r| r.rx.rate())
}

#[tokio::test]
async fn live_streams_become_messages_and_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = Shared::new(full(named_peers(3599, 0), 3599), false);
    let daemon = Running::start(&socket(&dir), Arc::clone(&shared)).await;
    let mut ui = Dashboard::start(socket(&dir));

    ui.until("the first snapshots", |app| {
        app.conn.is_up() && app.peers.loaded && app.policy.loaded && app.events.len() == 12
    })
    .await;
    assert_eq!(
        ui.app.status.as_ref().map(|s| s.name.as_str()),
        Some("gw-fra1")
    );
    assert_eq!(ui.app.peers.rows().len(), 6);
    assert_eq!(ui.app.policy.rules.len(), 5);
    assert_eq!(
        ui.app.views(),
        [View::Overview, View::Peers, View::Policy, View::Events],
        "no relays or SAs from a daemon that answers UNIMPLEMENTED"
    );
    assert_eq!(
        shared.event_starts.lock().expect("lock").as_slice(),
        [Some(Start::Last(cvtui::io::EVENT_REPLAY))]
    );

    // Changed rows only: rates from the counters and the daemon's times (1 s apart).
    let changed: Vec<v1::Peer> = named_peers(3600, 100).into_iter().take(2).collect();
    shared
        .peer_updates
        .send(v1::WatchPeersResponse {
            full: false,
            peers: changed,
            removed: vec!["web-1".into()],
            time: Some(ts(t(3600))),
        })
        .expect("watcher");
    ui.until("the partial update", |app| app.peers.rows().len() == 5)
        .await;
    assert_eq!(rx_rate(&ui.app, "db-1"), Some(100_000.0));
    assert_eq!(rx_rate(&ui.app, "db-2"), Some(200_000.0));
    assert_eq!(
        rx_rate(&ui.app, "laptop-alice"),
        Some(0.0),
        "left out: unchanged"
    );

    shared.hit_updates.send(hits(3601)).expect("watcher");
    ui.until("hit rates", |app| {
        app.policy.rules[0].packet_rate().is_some()
    })
    .await;
    assert_eq!(ui.app.policy.rules[0].packet_rate(), Some(30.0));

    // An apply event makes the dashboard ask for the status again. The replay's own source
    // and apply events asked too: those reads are over before the revision changes, so only a
    // read the new event causes can see it.
    let reads = 1 + ui.refreshes;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while shared.status_reads.load(Ordering::SeqCst) < reads {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay's {reads} status reads never came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shared.status.lock().expect("lock").revision = "d00dfeed".into();
    shared.emit(event(
        13,
        3601,
        "apply.applied",
        v1::EventLevel::Info,
        "applied",
    ));
    ui.until("the refreshed status", |app| {
        app.status
            .as_ref()
            .is_some_and(|s| s.revision == "d00dfeed")
    })
    .await;
    assert_eq!(ui.app.events.len(), 13);

    // Ping the selected peer from the Peers view.
    for k in [KeyCode::Char('2'), KeyCode::Char('p')] {
        ui.apply(key(k)).await;
    }
    ui.until("the ping run", |app| {
        app.peers.ping.as_ref().is_some_and(|r| r.done)
    })
    .await;
    let run = ui.app.peers.ping.clone().expect("ping run");
    assert_eq!(run.node, "db-1");
    assert_eq!(run.error, None);
    assert_eq!(run.replies.len(), 5);
    assert_eq!(run.replies.iter().filter(|r| r.rtt.is_none()).count(), 1);

    // Explain: the daemon's refusal reaches the form.
    ui.cmds
        .send(Cmd::Explain {
            from: "laptop-alice".into(),
            to: "db-1".into(),
            port: "5432/sctp".into(),
        })
        .await
        .expect("io task");
    ui.until("the explanation", |app| app.policy.explanation.is_some())
        .await;
    assert!(screen_of(&ui.app, View::Policy).contains("invalid port `5432/sctp`"));

    daemon.stop().await;
}

fn screen_of(app: &App, view: View) -> String {
    let mut app = app.clone();
    app.view = view;
    screen(&app)
}

#[tokio::test]
async fn a_missing_or_restarting_daemon_is_reported_and_found_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = socket(&dir);
    let mut ui = Dashboard::start(path.clone());

    // Nobody there: a clear message, and attempts go on by themselves.
    ui.until("a second failed attempt", |app| {
        matches!(app.conn, Conn::Down { attempt: 1, .. })
    })
    .await;
    let Conn::Down { error, .. } = &ui.app.conn else {
        unreachable!()
    };
    assert!(error.contains("does not exist"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(screen(&ui.app).contains("Not connected"));

    let shared = Shared::new(full(named_peers(3600, 0), 3600), false);
    let daemon = Running::start(&path, Arc::clone(&shared)).await;
    ui.until("the connection", |app| {
        app.conn.is_up() && app.events.len() == 12
    })
    .await;

    // The daemon stops: reported, the last data stays on screen.
    daemon.stop().await;
    ui.until("the loss", |app| matches!(app.conn, Conn::Down { .. }))
        .await;
    assert_eq!(ui.app.peers.rows().len(), 6, "stale data kept");
    assert!(screen(&ui.app).contains("stale data"));

    // It comes back (same daemon, same start time) with events the dashboard missed: the
    // event stream resumes after the last one seen, without repeats.
    for seq in 13..=15 {
        shared.emit(event(
            seq,
            3700,
            "peer.handshake",
            v1::EventLevel::Info,
            "hs",
        ));
    }
    let daemon = Running::start(&path, Arc::clone(&shared)).await;
    ui.until("the reconnection", |app| {
        app.conn.is_up() && app.events.len() == 15
    })
    .await;
    assert_eq!(
        shared.event_starts.lock().expect("lock").last(),
        Some(&Some(Start::AfterSeq(12)))
    );
    let seqs: Vec<u64> = ui
        .app
        .events
        .window(100)
        .iter()
        .map(|s| s.event.seq)
        .collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
    daemon.stop().await;
}

#[tokio::test]
async fn relays_and_sas_views_appear_when_the_daemon_serves_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = Shared::new(full(named_peers(3600, 0), 3600), true);
    let daemon = Running::start(&socket(&dir), shared).await;
    let mut ui = Dashboard::start(socket(&dir));
    ui.until("relays, netcheck and SAs", |app| {
        app.conn.is_up()
            && !app.relays.relays.is_empty()
            && app.relays.netcheck.is_some()
            && !app.sas.sas.is_empty()
    })
    .await;
    assert_eq!(ui.app.views().len(), 6);
    assert!(screen_of(&ui.app, View::Relays).contains("fra1"));
    assert!(screen_of(&ui.app, View::Sas).contains("branch-ber"));
    daemon.stop().await;
}
