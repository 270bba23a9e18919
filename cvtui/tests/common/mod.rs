//! Fixed states for the tests and the bench: a node's status, peers, policy hits and events
//! at fixed times, fed to an `App` as messages, and a way to draw an `App` on a TestBackend.

#![allow(dead_code, missing_docs)]

pub mod server;

use std::time::{Duration, SystemTime};

use cvlan_proto::prost_types::{self, Timestamp};
use cvlan_proto::v1;
use cvtui::app::App;
use cvtui::msg::{Connected, Msg, Served};
use cvtui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// 2026-01-01T00:00:00Z: every fixture time counts from here.
pub const EPOCH: u64 = 1_767_225_600;

/// The fixture clock, `secs` after [`EPOCH`].
pub fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH + secs)
}

pub fn ts(t: SystemTime) -> Timestamp {
    Timestamp::from(t)
}

pub fn dur(ms: u64) -> prost_types::Duration {
    prost_types::Duration::try_from(Duration::from_millis(ms)).expect("in range")
}

/// The node's status: it runs revision 9f3c…, and the newest file was rejected.
pub fn status() -> v1::StatusResponse {
    v1::StatusResponse {
        name: "gw-fra1".into(),
        kind: v1::DaemonKind::Node.into(),
        network: "acme".into(),
        tenant: "acme-corp".into(),
        addresses: vec!["100.64.0.1".into(), "fd7a:115c:a1e0::1".into()],
        public_key: vec![7; 32],
        source: Some(v1::SourceInfo {
            kind: v1::SourceKind::Git.into(),
            location: "https://git.example.net/acme/net.git".into(),
            branch: "main".into(),
            path: "network.kdl".into(),
            interval: Some(dur(30_000)),
            last_contact: Some(ts(t(3590))),
            last_error: String::new(),
        }),
        revision: "9f3c2d1e0b7a6c5d4e3f".into(),
        applied_at: Some(ts(t(600))),
        last_apply: Some(v1::ApplyResult {
            outcome: v1::ApplyOutcome::Rejected.into(),
            revision: "c0ffee1234567890abcd".into(),
            time: Some(ts(t(3500))),
            message: "network.kdl is invalid; revision 9f3c2d1e0b7a keeps running".into(),
            diagnostics: vec![v1::Diagnostic {
                severity: v1::Severity::Error.into(),
                code: "cvlan::unknown-selector".into(),
                message: "rule `db-access` selects unknown tag `dba`".into(),
                file: "network.kdl".into(),
                line: 42,
                column: 17,
                labels: Vec::new(),
                help: Some("did you mean `db`?".into()),
            }],
            actions: 0,
        }),
        peers: Some(v1::PeerCounts {
            total: 6,
            connected: 4,
            direct: 3,
            relayed: 1,
        }),
        started_at: Some(ts(t(0))),
        uptime: Some(dur(3_600_000)),
        version: "0.1.0".into(),
        tun: "cvlan0".into(),
        listen_port: 41641,
        drops: Default::default(),
        live_views: None,
    }
}

/// Peer `i` of a generated table (names sort in index order).
pub fn peer(i: usize, now: u64) -> v1::Peer {
    let relayed = i % 5 == 4;
    v1::Peer {
        name: format!("node-{i:05}"),
        kind: v1::PeerKind::Node.into(),
        addresses: vec![format!("100.64.{}.{}", i / 250, i % 250 + 2)],
        public_key: vec![(i % 251) as u8; 32],
        endpoint: if relayed {
            String::new()
        } else {
            format!("198.51.{}.{}:41641", i / 250 % 256, i % 250 + 1)
        },
        path: Some(v1::PeerPath {
            kind: if relayed {
                v1::PathKind::Relay.into()
            } else {
                v1::PathKind::Direct.into()
            },
            relay: if relayed {
                "fra1".into()
            } else {
                String::new()
            },
        }),
        last_handshake: Some(ts(t(now - (i as u64 * 7) % 200))),
        rx_bytes: 1_000_000 * (i as u64 + 1),
        tx_bytes: 400_000 * (i as u64 + 1),
        rx_packets: 1000 * (i as u64 + 1),
        tx_packets: 500 * (i as u64 + 1),
        latency: (i % 3 != 2).then(|| dur(5 + (i as u64 * 13) % 40)),
        allowed_ips: vec![format!("100.64.{}.{}/32", i / 250, i % 250 + 2)],
        candidate_endpoints: vec![format!("198.51.100.{}:41641", i % 250 + 1)],
        owner: format!("user{}@acme.example", i % 4),
        tags: vec![if i.is_multiple_of(2) {
            "db".into()
        } else {
            "web".into()
        }],
        dropped_packets: 0,
        tunnel: if i % 7 == 6 {
            v1::PeerTunnel::Cold.into()
        } else {
            v1::PeerTunnel::Warm.into()
        },
    }
}

/// The small named peer table of the snapshots.
pub fn named_peers(now: u64, traffic: u64) -> Vec<v1::Peer> {
    let names = [
        "db-1",
        "db-2",
        "laptop-alice",
        "laptop-bob",
        "vr-fra",
        "web-1",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut p = peer(i, now);
            p.name = (*name).into();
            p.rx_bytes += traffic * (i as u64 + 1) * 1000;
            p.tx_bytes += traffic * (6 - i as u64) * 300;
            if *name == "laptop-bob" {
                p.last_handshake = None;
                p.path = None;
                p.endpoint = String::new();
                p.latency = None;
            }
            if *name == "vr-fra" {
                p.kind = v1::PeerKind::Vrouter.into();
            }
            p
        })
        .collect()
}

pub fn full(peers: Vec<v1::Peer>, at: u64) -> v1::WatchPeersResponse {
    v1::WatchPeersResponse {
        full: true,
        peers,
        removed: Vec::new(),
        time: Some(ts(t(at))),
    }
}

/// Policy hits at `at`, growing with `at` so rates are constant per rule.
pub fn hits(at: u64) -> v1::PolicyHitsResponse {
    let rule = |index: u32, name: &str, action: v1::PolicyAction, pps: u64| v1::RuleHits {
        rule: name.into(),
        index,
        action: action.into(),
        default_deny: false,
        inbound: Some(v1::HitCounters {
            packets: pps * at + u64::from(index) * 10,
            bytes: pps * at * 800,
        }),
        outbound: Some(v1::HitCounters {
            packets: pps * at / 2,
            bytes: pps * at * 300,
        }),
    };
    let mut rules = vec![
        rule(0, "admins-anywhere", v1::PolicyAction::Allow, 20),
        rule(1, "eng-to-db", v1::PolicyAction::Allow, 350 + (at % 7) * 40),
        rule(2, "block-staging", v1::PolicyAction::Deny, 3),
        rule(3, "web-public", v1::PolicyAction::Allow, 1200),
    ];
    let mut deny = rule(4, "default-deny", v1::PolicyAction::Deny, 9);
    deny.default_deny = true;
    rules.push(deny);
    v1::PolicyHitsResponse {
        rules,
        time: Some(ts(t(at))),
        since: Some(ts(t(600))),
        revision: "9f3c2d1e0b7a6c5d4e3f".into(),
    }
}

/// The daemon's answer to "may `from` reach `to` on `port`": accepted by rule eng-to-db.
pub fn explain_answer(from: &str, to: &str, port: &str) -> v1::PolicyExplainResponse {
    let end = |name: &str, address: &str| v1::ExplainEndpoint {
        address: address.into(),
        kind: "node".into(),
        name: name.into(),
    };
    let selector = |selector: &str, via: &str, reason: &str| v1::SelectorMatch {
        selector: selector.into(),
        via: via.into(),
        reason: reason.into(),
    };
    v1::PolicyExplainResponse {
        verdict: v1::Verdict::Accept.into(),
        rule: "eng-to-db".into(),
        rule_index: Some(1),
        action: v1::PolicyAction::Allow.into(),
        from: Some(end(from, "100.64.0.7")),
        to: Some(end(to, "100.64.0.2")),
        port: port.into(),
        matched: Some(v1::RuleMatch {
            from: Some(selector(
                "tag:eng",
                from,
                &format!("node {from} carries tag eng"),
            )),
            to: Some(selector(
                "node:db-1",
                to,
                &format!("the receiver is node {to}"),
            )),
            port: port.into(),
        }),
    }
}

pub fn event(
    seq: u64,
    at: u64,
    kind: &str,
    level: v1::EventLevel,
    message: &str,
) -> v1::WatchEventsResponse {
    v1::WatchEventsResponse {
        seq,
        time: Some(ts(t(at))),
        kind: kind.into(),
        level: level.into(),
        message: message.into(),
        fields: [("peer".to_owned(), format!("node-{:05}", seq % 7))].into(),
    }
}

/// A varied event stream: handshakes, path changes, an apply rejection.
pub fn events(n: u64) -> Vec<v1::WatchEventsResponse> {
    (1..=n)
        .map(|seq| {
            let (kind, level, message) = match seq % 6 {
                0 => (
                    "peer.path",
                    v1::EventLevel::Info,
                    "path changed to relay:fra1",
                ),
                1 => (
                    "peer.handshake",
                    v1::EventLevel::Debug,
                    "handshake completed",
                ),
                2 => (
                    "source.changed",
                    v1::EventLevel::Info,
                    "new revision fetched",
                ),
                3 => (
                    "apply.rejected",
                    v1::EventLevel::Error,
                    "network.kdl is invalid",
                ),
                4 => ("relay.connected", v1::EventLevel::Info, "connected to fra1"),
                _ => ("peer.changed", v1::EventLevel::Warn, "endpoint moved"),
            };
            event(seq, 3000 + seq, kind, level, message)
        })
        .collect()
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn chars(text: &str) -> Vec<Msg> {
    text.chars().map(|c| key(KeyCode::Char(c))).collect()
}

/// Applies messages, returning every command they produced.
pub fn feed(app: &mut App, msgs: impl IntoIterator<Item = Msg>) -> Vec<cvtui::msg::Cmd> {
    msgs.into_iter().flat_map(|m| update(app, m)).collect()
}

/// A connected dashboard with a full set of data, as of t(3600).
pub fn fixed_app(size: (u16, u16)) -> App {
    let mut app = App::new("/run/cloudvlan/cvland.sock", t(3590), size);
    feed(
        &mut app,
        [
            Msg::Connecting { attempt: 0 },
            Msg::Connected(Box::new(Connected {
                status: status(),
                served: Served::default(),
            })),
            Msg::Peers(full(named_peers(3599, 0), 3599)),
            Msg::Peers(full(named_peers(3600, 100), 3600)),
        ],
    );
    for at in 3540..=3600 {
        update(&mut app, Msg::PolicyHits(hits(at)));
    }
    feed(&mut app, events(40).into_iter().map(Msg::Event));
    update(&mut app, Msg::Tick(t(3600)));
    app
}

/// The screen of `app` on a TestBackend of its size.
pub fn draw(app: &App) -> TestBackend {
    let backend = TestBackend::new(app.size.0, app.size.1);
    let mut terminal = Terminal::new(backend).expect("test terminal");
    terminal
        .draw(|frame| cvtui::ui::render(app, frame))
        .expect("draws");
    terminal.backend().clone()
}

/// The screen as plain text, one line per row.
pub fn screen(app: &App) -> String {
    draw(app).to_string()
}

/// Relay paths at `at` (home relay first).
pub fn relays(at: u64) -> v1::RelaysResponse {
    let relay = |name: &str, home: bool, state: v1::RelayConnectionState, rx: u64| v1::RelayPath {
        name: name.into(),
        region: "eu-central".into(),
        address: format!("{name}.relay.example.net:443"),
        home,
        state: state.into(),
        latency: Some(dur(if home { 4 } else { 19 })),
        connected_since: home.then(|| ts(t(120))),
        peers: if home {
            vec!["laptop-bob".into()]
        } else {
            Vec::new()
        },
        rx_bytes: rx * at,
        tx_bytes: rx * at / 3,
        last_error: if home {
            String::new()
        } else {
            "connection refused".into()
        },
    };
    v1::RelaysResponse {
        relays: vec![
            relay("fra1", true, v1::RelayConnectionState::Connected, 2048),
            relay("ams1", false, v1::RelayConnectionState::Disconnected, 0),
        ],
        time: Some(ts(t(at))),
    }
}

/// A network position behind an endpoint-independent NAT.
pub fn netcheck() -> v1::NetcheckResponse {
    v1::NetcheckResponse {
        udp: true,
        nat_type: v1::NatType::EndpointIndependent.into(),
        public_v4: "203.0.113.9:41641".into(),
        public_v6: String::new(),
        relays: Vec::new(),
        preferred_relay: "fra1".into(),
        measured_at: Some(ts(t(3000))),
    }
}

/// One IKE SA with two children, at `at`.
pub fn sas(at: u64) -> v1::SasResponse {
    let child = |id: u64, name: &str| v1::ChildSa {
        name: name.into(),
        unique_id: id,
        state: v1::ChildSaState::Installed.into(),
        spi_in: 0xc1a0_0000 + id as u32,
        spi_out: 0x0d0e_0000 + id as u32,
        encryption: "AES_GCM_16-256".into(),
        local_ts: vec!["100.64.0.0/10".into()],
        remote_ts: vec![format!("10.{id}.0.0/16")],
        bytes_in: 5000 * id * at,
        bytes_out: 2000 * id * at,
        installed_at: Some(ts(t(1800))),
        ..Default::default()
    };
    v1::SasResponse {
        sas: vec![v1::IkeSa {
            peer: "branch-ber".into(),
            unique_id: 1,
            state: v1::IkeSaState::Established.into(),
            initiator: false,
            remote_address: "192.0.2.50:4500".into(),
            encryption: "AES_GCM_16-256".into(),
            prf: "PRF_HMAC_SHA2_256".into(),
            dh_group: "CURVE_25519".into(),
            nat_remote: true,
            established_at: Some(ts(t(1700))),
            children: vec![child(1, "branch-ber"), child(2, "branch-ber-voice")],
            ..Default::default()
        }],
        time: Some(ts(t(at))),
        ..Default::default()
    }
}
