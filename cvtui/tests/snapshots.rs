//! Every view drawn from fixed states on a TestBackend at 80×24 (the smallest supported
//! terminal) and 160×48, compared with insta snapshots. States are built only by feeding
//! messages to `update`, as the running dashboard does.

mod common;

use common::*;
use cvtui::app::App;
use cvtui::msg::{Connected, Msg, Served};
use ratatui::crossterm::event::KeyCode;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// Snapshots `make(size)` at both sizes, named `NAME-80x24` and `NAME-160x48`.
fn snap(name: &str, make: impl Fn((u16, u16)) -> App) {
    for size in SIZES {
        let app = make(size);
        insta::assert_snapshot!(format!("{name}-{}x{}", size.0, size.1), draw(&app));
    }
}

fn with(size: (u16, u16), msgs: Vec<Msg>) -> App {
    let mut app = fixed_app(size);
    feed(&mut app, msgs);
    app
}

#[test]
fn overview() {
    snap("overview", fixed_app);
}

#[test]
fn peers() {
    snap("peers", |size| with(size, vec![key(KeyCode::Char('2'))]));
}

#[test]
fn peers_sorted_by_rx_rate() {
    snap("peers-sorted-rx", |size| {
        with(size, vec![key(KeyCode::Char('2')), key(KeyCode::Char('s'))])
    });
}

#[test]
fn peers_filtered_while_typing() {
    snap("peers-filter", |size| {
        let mut msgs = vec![key(KeyCode::Char('2')), key(KeyCode::Char('/'))];
        msgs.extend(chars("laptop"));
        with(size, msgs)
    });
}

#[test]
fn peer_detail_with_ping() {
    snap("peers-detail-ping", |size| {
        let mut app = with(
            size,
            vec![
                key(KeyCode::Char('2')),
                key(KeyCode::Down),
                key(KeyCode::Char('p')),
            ],
        );
        for seq in 1..=3 {
            let reply = cvlan_proto::v1::PingResponse {
                seq,
                node: "db-2".into(),
                address: "100.64.0.3".into(),
                rtt: (seq != 2).then(|| dur(4 + u64::from(seq))),
                path: Some(cvlan_proto::v1::PeerPath {
                    kind: cvlan_proto::v1::PathKind::Direct.into(),
                    relay: String::new(),
                }),
                endpoint: "198.51.0.2:41641".into(),
            };
            feed(&mut app, [Msg::PingReply(reply)]);
        }
        app
    });
}

#[test]
fn policy() {
    snap("policy", |size| with(size, vec![key(KeyCode::Char('3'))]));
}

#[test]
fn policy_explain_answer() {
    snap("policy-explain", |size| {
        let mut msgs = vec![key(KeyCode::Char('3')), key(KeyCode::Char('e'))];
        msgs.extend(chars("laptop-alice"));
        msgs.push(key(KeyCode::Tab));
        msgs.extend(chars("db-1"));
        msgs.push(key(KeyCode::Tab));
        msgs.extend(chars("5432/tcp"));
        msgs.push(key(KeyCode::Enter));
        let mut app = with(size, msgs);
        let answer = common::explain_answer("laptop-alice", "db-1", "5432/tcp");
        feed(&mut app, [Msg::Explained(Ok(answer))]);
        app
    });
}

#[test]
fn events_following_live() {
    snap("events", |size| with(size, vec![key(KeyCode::Char('4'))]));
}

#[test]
fn events_filtered_and_scrolled() {
    snap("events-filter", |size| {
        let mut msgs: Vec<Msg> = events(150).into_iter().skip(40).map(Msg::Event).collect();
        msgs.extend([key(KeyCode::Char('4')), key(KeyCode::Char('/'))]);
        msgs.extend(chars("peer"));
        msgs.push(key(KeyCode::Enter));
        msgs.push(key(KeyCode::Up));
        msgs.push(key(KeyCode::Up));
        with(size, msgs)
    });
}

#[test]
fn help_on_peers() {
    snap("help-peers", |size| {
        with(size, vec![key(KeyCode::Char('2')), key(KeyCode::Char('?'))])
    });
}

#[test]
fn relays_and_sas_when_served() {
    let served = |size| {
        let mut app = fixed_app(size);
        feed(
            &mut app,
            [
                Msg::Connected(Box::new(Connected {
                    status: status(),
                    served: Served {
                        relays: true,
                        sas: true,
                    },
                })),
                Msg::Relays(relays(3590)),
                Msg::Relays(relays(3600)),
                Msg::Netcheck(netcheck()),
                Msg::Sas(sas(3599)),
                Msg::Sas(sas(3600)),
            ],
        );
        app
    };
    snap("relays", |size| {
        let mut app = served(size);
        feed(&mut app, [key(KeyCode::Char('5'))]);
        app
    });
    snap("sas", |size| {
        let mut app = served(size);
        feed(&mut app, [key(KeyCode::Char('6'))]);
        app
    });
}

#[test]
fn daemon_not_running() {
    snap("not-running", |size| {
        let mut app = App::new("/run/cloudvlan/cvland.sock", t(100), size);
        feed(
            &mut app,
            [Msg::Disconnected {
                error: "cannot reach the daemon: /run/cloudvlan/cvland.sock does not exist (is cvland running?)".into(),
                attempt: 3,
                retry_in: std::time::Duration::from_secs(2),
            }],
        );
        app
    });
}

#[test]
fn connection_lost_keeps_the_last_data() {
    snap("connection-lost", |size| {
        with(
            size,
            vec![
                key(KeyCode::Char('2')),
                Msg::Disconnected {
                    error: "lost the daemon (WatchPeers: transport error)".into(),
                    attempt: 0,
                    retry_in: std::time::Duration::from_millis(250),
                },
            ],
        )
    });
}

#[test]
fn overview_shows_the_resolver_when_the_daemon_serves_it() {
    let dns = cvtui::msg::Msg::Dns(cvlan_proto::v1::DnsStatusResponse {
        domain: "corp.cvlan".into(),
        listen: "100.64.0.10:53".into(),
        serving: true,
        records: 12,
        host_mode: cvlan_proto::v1::HostDnsMode::Manual.into(),
        ..Default::default()
    });
    let app = with((160, 48), vec![dns]);
    let text = screen(&app);
    assert!(
        text.contains("corp.cvlan on 100.64.0.10:53 · 12 records"),
        "{text}"
    );
    let failed = cvtui::msg::Msg::Dns(cvlan_proto::v1::DnsStatusResponse {
        domain: "corp.cvlan".into(),
        error: "cannot answer for corp.cvlan on 100.64.0.10:53: port taken".into(),
        ..Default::default()
    });
    let text = screen(&with((160, 48), vec![failed]));
    assert!(text.contains("corp.cvlan · cannot answer"), "{text}");
    // Without the call served, the overview has no dns line (the other snapshots).
    assert!(!screen(&fixed_app((160, 48))).contains(" records · "));
}
