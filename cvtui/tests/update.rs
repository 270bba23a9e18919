//! `update` on its own: sorting, filtering, rates from counters, the reconnect state, the
//! event buffer's bounds and scrolling, views that exist only when served, and the commands
//! keys produce.

mod common;

use std::time::Duration;

use common::*;
use cvlan_proto::v1;
use cvtui::app::events::EVENT_BUFFER;
use cvtui::app::peers::PeerSort;
use cvtui::app::{App, Conn, Editing, View};
use cvtui::msg::{Cmd, Connected, Feed, Msg, Served};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn names(app: &App) -> Vec<String> {
    app.peers
        .visible(0, usize::MAX)
        .map(|r| r.peer.name.clone())
        .collect()
}

fn on_peers() -> App {
    let mut app = fixed_app((100, 30));
    feed(&mut app, [key(KeyCode::Char('2'))]);
    assert_eq!(app.view, View::Peers);
    app
}

#[test]
fn s_cycles_the_sort_key_and_capital_s_reverses_it() {
    let mut app = on_peers();
    assert_eq!(
        names(&app),
        [
            "db-1",
            "db-2",
            "laptop-alice",
            "laptop-bob",
            "vr-fra",
            "web-1"
        ]
    );
    // Rates in the fixture grow with the index: web-1 receives most, db-1 sends most.
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.sort, PeerSort::RxRate);
    assert_eq!(names(&app)[0], "web-1");
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.sort, PeerSort::TxRate);
    assert_eq!(names(&app)[0], "db-1");
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.sort, PeerSort::Handshake);
    // Most recent handshake first; laptop-bob never shook hands and comes last.
    assert_eq!(names(&app).first().map(String::as_str), Some("db-1"));
    assert_eq!(names(&app).last().map(String::as_str), Some("laptop-bob"));
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.sort, PeerSort::Latency);
    let by_latency = names(&app);
    assert_eq!(by_latency[0], "db-1", "5 ms is the fastest");
    assert!(
        by_latency[3..]
            .iter()
            .all(|n| ["laptop-alice", "laptop-bob", "web-1"].contains(&n.as_str())),
        "unknown latencies last: {by_latency:?}"
    );
    feed(&mut app, [key(KeyCode::Char('S'))]);
    assert!(app.peers.reversed);
    let reversed = names(&app);
    assert_eq!(reversed.last().map(String::as_str), Some("db-1"));
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.sort, PeerSort::Name);
    assert_eq!(names(&app)[0], "web-1", "still reversed");
}

#[test]
fn the_selection_stays_on_the_same_peer_when_the_order_changes() {
    let mut app = on_peers();
    feed(&mut app, [key(KeyCode::Down), key(KeyCode::Down)]);
    assert_eq!(app.peers.selected_name(), Some("laptop-alice"));
    feed(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(app.peers.selected_name(), Some("laptop-alice"));
    // A partial update that moves rates keeps the selection too.
    let mut busy = named_peers(3601, 100)
        .into_iter()
        .find(|p| p.name == "db-1")
        .expect("db-1");
    busy.rx_bytes += 1_000_000_000;
    feed(
        &mut app,
        [Msg::Peers(v1::WatchPeersResponse {
            full: false,
            peers: vec![busy],
            removed: Vec::new(),
            time: Some(ts(t(3601))),
        })],
    );
    assert_eq!(names(&app)[0], "db-1", "now the busiest");
    assert_eq!(app.peers.selected_name(), Some("laptop-alice"));
}

#[test]
fn the_filter_narrows_as_it_is_typed_and_esc_clears_it() {
    let mut app = on_peers();
    feed(&mut app, [key(KeyCode::Char('/'))]);
    assert_eq!(app.editing, Some(Editing::PeerFilter));
    feed(&mut app, chars("LAP"));
    assert_eq!(
        names(&app),
        ["laptop-alice", "laptop-bob"],
        "case-insensitive"
    );
    // While typing, letters are text, not commands: `q` does not quit.
    let cmds = feed(&mut app, chars("top-b"));
    assert!(cmds.is_empty());
    assert_eq!(names(&app), ["laptop-bob"]);
    feed(&mut app, [key(KeyCode::Backspace)]);
    assert_eq!(
        names(&app),
        ["laptop-alice", "laptop-bob"],
        "`laptop-` matches both"
    );
    feed(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(app.editing, None);
    // Addresses, endpoints, owners and tags match too.
    app.peers.filter = "100.64.0.7".into();
    app.peers.refresh_order(None);
    assert_eq!(names(&app), ["web-1"]);
    app.peers.filter = "relay:fra1".into();
    app.peers.refresh_order(None);
    assert!(names(&app).is_empty(), "the path is not searched");
    app.peers.filter = "user1@".into();
    app.peers.refresh_order(None);
    assert_eq!(names(&app), ["db-2", "web-1"]);
    app.peers.filter = "web".into();
    app.peers.refresh_order(None);
    assert_eq!(
        names(&app),
        ["db-2", "laptop-bob", "web-1"],
        "tag web or name"
    );
    feed(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(names(&app).len(), 6);
}

#[test]
fn rates_come_from_counters_and_their_times() {
    let mut app = App::new("s", t(0), (80, 24));
    let mut p = peer(0, 100);
    p.rx_bytes = 1_000;
    p.tx_bytes = 500;
    feed(&mut app, [Msg::Peers(full(vec![p.clone()], 100))]);
    let row = app.peers.selected_row().expect("row");
    assert_eq!(row.rx.rate(), None, "one reading gives no rate");
    // 2 s later: +6,000 received, +1,000 sent.
    p.rx_bytes = 7_000;
    p.tx_bytes = 1_500;
    let partial = v1::WatchPeersResponse {
        full: false,
        peers: vec![p.clone()],
        removed: Vec::new(),
        time: Some(ts(t(102))),
    };
    feed(&mut app, [Msg::Peers(partial)]);
    let row = app.peers.selected_row().expect("row");
    assert_eq!(row.rx.rate(), Some(3_000.0));
    assert_eq!(row.tx.rate(), Some(500.0));
    // A message that leaves the row out means it did not change: rate zero.
    let quiet = v1::WatchPeersResponse {
        full: false,
        peers: Vec::new(),
        removed: Vec::new(),
        time: Some(ts(t(103))),
    };
    feed(&mut app, [Msg::Peers(quiet)]);
    assert_eq!(app.peers.selected_row().expect("row").rx.rate(), Some(0.0));
    // The daemon restarted: counters start over; no negative rate.
    p.rx_bytes = 10;
    feed(&mut app, [Msg::Peers(full(vec![p], 110))]);
    assert_eq!(app.peers.selected_row().expect("row").rx.rate(), None);
}

#[test]
fn removed_peers_leave_the_table_and_new_ones_join() {
    let mut app = App::new("s", t(0), (80, 24));
    feed(
        &mut app,
        [Msg::Peers(full(
            (0..5).map(|i| peer(i, 100)).collect(),
            100,
        ))],
    );
    let update = v1::WatchPeersResponse {
        full: false,
        peers: vec![peer(7, 101)],
        removed: vec!["node-00001".into(), "node-00003".into(), "no-such".into()],
        time: Some(ts(t(101))),
    };
    feed(&mut app, [Msg::Peers(update)]);
    assert_eq!(
        names(&app),
        ["node-00000", "node-00002", "node-00004", "node-00007"]
    );
    let again = v1::WatchPeersResponse {
        full: false,
        peers: vec![peer(4, 102)],
        removed: vec!["node-00000".into()],
        time: Some(ts(t(102))),
    };
    feed(&mut app, [Msg::Peers(again)]);
    assert_eq!(names(&app), ["node-00002", "node-00004", "node-00007"]);
}

#[test]
fn policy_rates_and_history_follow_the_snapshots() {
    let mut app = App::new("s", t(0), (80, 24));
    for at in 100..=110 {
        feed(&mut app, [Msg::PolicyHits(hits(at))]);
    }
    let rules = &app.policy.rules;
    assert_eq!(rules.len(), 5);
    assert!(rules[4].hits.default_deny);
    // admins-anywhere: 20 pkt/s in and 10 out.
    assert_eq!(rules[0].in_packets.rate(), Some(20.0));
    assert_eq!(rules[0].out_packets.rate(), Some(10.0));
    assert_eq!(rules[0].packet_rate(), Some(30.0));
    assert_eq!(
        rules[0].history.len(),
        10,
        "one sample per snapshot after the first"
    );
    assert!(rules[0].history.iter().all(|&v| v == 30));
    // Counting restarted (a new policy loaded): no rate across the restart, history kept.
    let mut restarted = hits(111);
    restarted.since = Some(ts(t(111)));
    feed(&mut app, [Msg::PolicyHits(restarted)]);
    assert_eq!(app.policy.rules[0].packet_rate(), None);
    assert_eq!(app.policy.rules[0].history.len(), 10);
}

#[test]
fn the_event_buffer_is_bounded_and_counts_what_it_dropped_and_lost() {
    let mut app = App::new("s", t(0), (80, 24));
    let n = EVENT_BUFFER as u64 + 1_234;
    feed(
        &mut app,
        (1..=n).map(|seq| {
            Msg::Event(event(
                seq,
                seq,
                "peer.handshake",
                v1::EventLevel::Info,
                "hs",
            ))
        }),
    );
    assert_eq!(app.events.len(), EVENT_BUFFER);
    assert_eq!(app.events.dropped, 1_234);
    let window = app.events.window(3);
    let seqs: Vec<u64> = window.iter().map(|s| s.event.seq).collect();
    assert_eq!(seqs, [n - 2, n - 1, n], "the newest are kept");
    let mut lost = event(n + 1, n, "events.lost", v1::EventLevel::Warn, "missed");
    lost.fields = [("count".to_owned(), "77".to_owned())].into();
    feed(&mut app, [Msg::Event(lost)]);
    assert_eq!(app.events.lost, 77);
}

#[test]
fn scrolled_back_events_stay_put_while_new_ones_arrive() {
    let mut app = fixed_app((80, 24));
    feed(&mut app, [key(KeyCode::Char('4'))]);
    let rows = cvtui::ui::layout::event_rows(app.size);
    feed(&mut app, [key(KeyCode::PageUp)]);
    assert!(!app.events.following());
    let before: Vec<u64> = app
        .events
        .window(rows)
        .iter()
        .map(|s| s.event.seq)
        .collect();
    assert_eq!(before.last(), Some(&(40 - rows as u64)));
    feed(&mut app, events(60).into_iter().skip(40).map(Msg::Event));
    let after: Vec<u64> = app
        .events
        .window(rows)
        .iter()
        .map(|s| s.event.seq)
        .collect();
    assert_eq!(before, after, "new events do not move a paused view");
    feed(&mut app, [key(KeyCode::Char('g'))]);
    assert_eq!(
        app.events.window(rows)[0].event.seq,
        1,
        "Home shows the oldest"
    );
    feed(
        &mut app,
        [
            key(KeyCode::PageDown),
            key(KeyCode::PageDown),
            key(KeyCode::PageDown),
        ],
    );
    assert!(
        app.events.following(),
        "scrolling past the newest follows again"
    );
    // The kind filter: a prefix, case-insensitive.
    feed(&mut app, [key(KeyCode::Char('/'))]);
    feed(&mut app, chars("APPLY"));
    assert!(
        app.events
            .window(100)
            .iter()
            .all(|s| s.event.kind == "apply.rejected")
    );
    assert_eq!(app.events.matching(), 10);
}

#[test]
fn connection_states_follow_the_io_messages() {
    let mut app = App::new("/tmp/x.sock", t(10), (80, 24));
    assert_eq!(app.conn, Conn::Connecting { attempt: 0 });
    feed(
        &mut app,
        [Msg::Disconnected {
            error: "cannot reach the daemon".into(),
            attempt: 2,
            retry_in: Duration::from_secs(1),
        }],
    );
    assert_eq!(
        app.conn,
        Conn::Down {
            error: "cannot reach the daemon".into(),
            attempt: 2,
            retry_at: t(11)
        }
    );
    assert!(cvtui_screen_says(&app, "cannot reach the daemon"));
    feed(&mut app, [Msg::Connecting { attempt: 3 }]);
    assert_eq!(app.conn, Conn::Connecting { attempt: 3 });
    let connected = |served| {
        Msg::Connected(Box::new(Connected {
            status: status(),
            served,
        }))
    };
    feed(&mut app, [connected(Served::default())]);
    assert_eq!(app.conn, Conn::Up { since: t(10) });
    assert_eq!(
        app.status.as_ref().map(|s| s.name.as_str()),
        Some("gw-fra1")
    );
    // Data survives a drop and a reconnect to the same daemon (same start time).
    feed(&mut app, [Msg::Peers(full(named_peers(3600, 1), 3600))]);
    feed(
        &mut app,
        [
            Msg::Disconnected {
                error: "lost".into(),
                attempt: 0,
                retry_in: Duration::from_millis(250),
            },
            connected(Served::default()),
        ],
    );
    assert_eq!(app.peers.rows().len(), 6);
    // A restarted daemon (new start time) starts the tables afresh.
    let mut restarted = status();
    restarted.started_at = Some(ts(t(5000)));
    feed(
        &mut app,
        [Msg::Connected(Box::new(Connected {
            status: restarted,
            served: Served::default(),
        }))],
    );
    assert!(app.peers.rows().is_empty());
    assert!(!app.peers.loaded);
}

fn cvtui_screen_says(app: &App, text: &str) -> bool {
    screen(app).contains(text)
}

#[test]
fn optional_views_exist_only_while_the_daemon_serves_them() {
    let mut app = fixed_app((80, 24));
    assert_eq!(
        app.views(),
        [View::Overview, View::Peers, View::Policy, View::Events]
    );
    feed(&mut app, [key(KeyCode::Char('5'))]);
    assert_eq!(app.view, View::Overview, "no fifth view");
    assert!(!screen(&app).contains("Relays"));
    let served = Served {
        relays: true,
        sas: false,
    };
    feed(
        &mut app,
        [Msg::Connected(Box::new(Connected {
            status: status(),
            served,
        }))],
    );
    feed(&mut app, [key(KeyCode::Char('5'))]);
    assert_eq!(app.view, View::Relays);
    // Relay events ask for the relays again; others do not.
    let cmds = feed(
        &mut app,
        [Msg::Event(event(
            1,
            1,
            "relay.disconnected",
            v1::EventLevel::Warn,
            "x",
        ))],
    );
    assert_eq!(cmds, [Cmd::RefreshRelays]);
    // The daemon was replaced by one without relays: the view goes away.
    feed(
        &mut app,
        [Msg::Connected(Box::new(Connected {
            status: status(),
            served: Served::default(),
        }))],
    );
    assert_eq!(app.view, View::Overview);
    // A core feed the daemon does not serve says so in its view.
    feed(
        &mut app,
        [Msg::Unserved(Feed::PolicyHits), key(KeyCode::Char('3'))],
    );
    assert!(screen(&app).contains("does not serve WatchPolicyHits"));
}

#[test]
fn tab_and_digits_switch_views_and_wrap() {
    let mut app = fixed_app((80, 24));
    feed(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.view, View::Peers);
    feed(&mut app, [key(KeyCode::Char('4')), key(KeyCode::Tab)]);
    assert_eq!(app.view, View::Overview, "wraps around");
    feed(&mut app, [key(KeyCode::BackTab)]);
    assert_eq!(app.view, View::Events);
    feed(&mut app, [key(KeyCode::Char('3'))]);
    assert_eq!(app.view, View::Policy);
}

#[test]
fn keys_ask_for_ping_explain_and_quit() {
    let mut app = on_peers();
    feed(&mut app, [key(KeyCode::Down)]);
    let cmds = feed(&mut app, [key(KeyCode::Char('p'))]);
    assert_eq!(
        cmds,
        [Cmd::Ping {
            node: "db-2".into(),
            count: 5
        }]
    );
    assert!(app.peers.detail, "the replies show in the detail pane");

    feed(&mut app, [key(KeyCode::Char('3')), key(KeyCode::Char('e'))]);
    assert_eq!(app.editing, Some(Editing::Explain));
    // Incomplete: nothing is asked, the first empty field gets the focus.
    feed(&mut app, chars("alice"));
    let cmds = feed(&mut app, [key(KeyCode::Enter)]);
    assert!(cmds.is_empty());
    assert_eq!(app.policy.form.focus, 1);
    feed(&mut app, chars("db-1"));
    feed(&mut app, [key(KeyCode::Tab)]);
    feed(&mut app, chars("5432/tcp"));
    let cmds = feed(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(
        cmds,
        [Cmd::Explain {
            from: "alice".into(),
            to: "db-1".into(),
            port: "5432/tcp".into()
        }]
    );
    feed(&mut app, [Msg::Explained(Err("invalid port `x`".into()))]);
    assert!(screen(&app).contains("invalid port `x`"));

    assert_eq!(feed(&mut app, [key(KeyCode::Char('q'))]), [Cmd::Quit]);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    feed(&mut app, [key(KeyCode::Char('e'))]);
    assert_eq!(
        feed(&mut app, [ctrl_c]),
        [Cmd::Quit],
        "Ctrl-C quits even while typing"
    );
}

#[test]
fn the_help_lists_every_key_of_the_view() {
    for (digit, context) in [
        ('2', cvtui::keys::Context::Peers),
        ('3', cvtui::keys::Context::Policy),
        ('4', cvtui::keys::Context::Events),
    ] {
        let mut app = fixed_app((160, 48));
        feed(
            &mut app,
            [key(KeyCode::Char(digit)), key(KeyCode::Char('?'))],
        );
        let text = screen(&app);
        for b in cvtui::keys::of(context)
            .chain(cvtui::keys::of(cvtui::keys::Context::Global))
            .chain(cvtui::keys::of(cvtui::keys::Context::Typing))
        {
            assert!(
                text.contains(b.help),
                "help lacks `{}` in {context:?}",
                b.help
            );
        }
        feed(&mut app, [key(KeyCode::Esc)]);
        assert!(!app.help);
    }
}
