//! The whole daemon in this process, on the memory platform (the real engine and driver over
//! in-memory TUN and UDP; no root): the file source, applying, a rejected edit that leaves the
//! running state alone, forwarding for a subnet router, and a restart that comes up on the
//! cache while the source is gone. The same local API cvlanctl uses answers every question.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cvlan_agent::{Host, Role};
use cvlan_lab::packets::echo_request;
use cvlan_mesh::device::memory::MemoryNet;
use cvlan_proto::local::connect;
use cvlan_proto::v1;
use cvland::platform::Memory;
use tokio::sync::oneshot;

const BRAVO: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const CAROL: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

/// The network: alpha (this host, key `alpha`), bravo, then `extra`.
fn network(alpha: &str, extra: &str) -> String {
    format!(
        "network \"t\" {{ overlay \"100.64.0.0/10\"; listen-port 51830; }}\n\
         node \"alpha\" {{ public-key \"{alpha}\"; address \"100.64.0.1\"; routes \"10.9.0.0/16\"; }}\n\
         node \"bravo\" {{ public-key \"{BRAVO}\"; address \"100.64.0.2\"; endpoint \"192.0.2.2:51830\"; }}\n\
         {extra}\
         policy {{ allow \"all\" from=\"*\" to=\"*\"; }}\n"
    )
}

fn carol() -> String {
    format!("node \"carol\" {{ public-key \"{CAROL}\"; address \"100.64.0.3\"; }}\n")
}

/// A fresh directory with alpha's node key in its state dir (created on the host, as
/// `cvland pubkey` does) and the two-node network.kdl: the directory, the file's path and
/// alpha's public key.
fn network_dir() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let alpha = cvlan_agent::keys::node_key(&dir.path().join("state"))
        .expect("alpha's node key")
        .public_key()
        .to_string();
    let net = dir.path().join("network.kdl");
    std::fs::write(&net, network(&alpha, "")).expect("write network.kdl");
    (dir, net, alpha)
}

/// A daemon running in this process; stopped (and waited for) on drop of the test's runtime.
struct Daemon {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), cvland::daemon::DaemonError>>,
    socket: PathBuf,
    platform: Arc<Memory>,
}

impl Daemon {
    async fn start(dir: &Path) -> Self {
        let file = dir.join("cvland.kdl");
        std::fs::write(
            &file,
            format!(
                "node \"alpha\"\nstate-dir \"{d}/state\"\nsocket \"{d}/cvland.sock\"\nsource \"file\" path=\"{d}/network.kdl\"\n",
                d = dir.display()
            ),
        )
        .expect("write cvland.kdl");
        let host = Host::load(&file, Role::Node).expect("a valid cvland.kdl");
        let addr = SocketAddr::from(([192, 0, 2, 1], 51830));
        let platform = Memory::new(MemoryNet::new(), addr);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(cvland::daemon::run_with(host, platform.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
            socket: dir.join("cvland.sock"),
            platform,
        }
    }

    /// Starts a daemon in `dir` and waits for its first apply.
    async fn applied(dir: &Path) -> (Self, v1::StatusResponse) {
        let daemon = Self::start(dir).await;
        let first = daemon
            .status_until("first apply", |s| outcome(s) == v1::ApplyOutcome::Applied)
            .await;
        (daemon, first)
    }

    async fn status(&self) -> v1::StatusResponse {
        let mut client = connect(&self.socket).await.expect("connect");
        client
            .status(v1::StatusRequest {})
            .await
            .expect("status")
            .into_inner()
    }

    /// Waits (up to 10 s) for a status `ready` accepts, and returns it.
    async fn status_until(
        &self,
        what: &str,
        ready: impl Fn(&v1::StatusResponse) -> bool,
    ) -> v1::StatusResponse {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.socket.exists() {
                let status = self.status().await;
                if ready(&status) {
                    return status;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {what} within 10 s: {status:#?}"
                );
            }
            assert!(Instant::now() < deadline, "the socket never appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .expect("the daemon task")
            .expect("the daemon stopped cleanly");
        assert!(!self.socket.exists(), "the socket is removed on stop");
    }
}

fn outcome(status: &v1::StatusResponse) -> v1::ApplyOutcome {
    status
        .last_apply
        .as_ref()
        .map_or(v1::ApplyOutcome::Unspecified, v1::ApplyResult::outcome)
}

fn peers(status: &v1::StatusResponse) -> u32 {
    status.peers.as_ref().map_or(0, |p| p.total)
}

/// Writes `text` beside `path` and renames it over, as editors do.
fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).expect("write the new file");
    std::fs::rename(&aside, path).expect("rename it over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_rejects_a_bad_edit_and_restarts_from_the_cache() {
    let (dir, net, alpha) = network_dir();
    let (daemon, applied) = Daemon::applied(dir.path()).await;
    assert_eq!(applied.name, "alpha");
    assert_eq!(applied.addresses, ["100.64.0.1"]);
    assert_eq!(peers(&applied), 1, "bravo");
    assert_eq!(applied.listen_port, 51830, "the memory socket's port");
    assert_eq!(applied.revision.len(), 64, "the file's SHA-256");
    let source = applied.source.clone().unwrap();
    assert_eq!(source.kind(), v1::SourceKind::File);
    assert!(source.last_contact.is_some() && source.last_error.is_empty());
    assert!(
        daemon
            .platform
            .forwarding()
            .contains(&"/proc/sys/net/ipv4/ip_forward"),
        "alpha routes 10.9.0.0/16: forwarding on, {:?}",
        daemon.platform.forwarding()
    );

    // An edit that cannot be parsed: rejected with its diagnostic, the old state runs on.
    replace(&net, &network(&alpha, "tags \"oops\n"));
    let rejected = daemon
        .status_until("rejection", |s| outcome(s) == v1::ApplyOutcome::Rejected)
        .await;
    let last = rejected.last_apply.clone().unwrap();
    assert_eq!(last.diagnostics[0].code, "cvlan::syntax", "{last:#?}");
    assert!(last.diagnostics[0].line > 0);
    assert!(
        last.message.contains("previous state keeps running"),
        "{}",
        last.message
    );
    assert_eq!(
        rejected.revision, applied.revision,
        "still the first revision"
    );
    assert_eq!(peers(&rejected), 1);

    // The next good edit applies.
    replace(&net, &network(&alpha, &carol()));
    let grown = daemon
        .status_until("carol's arrival", |s| peers(s) == 2)
        .await;
    assert_eq!(outcome(&grown), v1::ApplyOutcome::Applied);
    assert_ne!(grown.revision, applied.revision);
    daemon.stop().await;

    // Restarted with the source gone: up on the cached netmap, the error in status.
    std::fs::remove_file(&net).unwrap();
    let daemon = Daemon::start(dir.path()).await;
    let cached = daemon
        .status_until("the cached netmap and the source error", |s| {
            s.source
                .as_ref()
                .is_some_and(|src| !src.last_error.is_empty())
        })
        .await;
    assert_eq!(
        cached.revision, grown.revision,
        "the cache holds the last good map"
    );
    assert_eq!(peers(&cached), 2);
    assert!(
        cached.source.unwrap().last_error.contains("network.kdl"),
        "the error names the file"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_answers_with_the_outcome_and_plan_checks_without_applying() {
    let (dir, _net, alpha) = network_dir();
    let (daemon, first) = Daemon::applied(dir.path()).await;
    let mut client = connect(&daemon.socket).await.unwrap();
    let reload = client
        .reload(v1::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(reload.revision, first.revision);
    assert_eq!(
        reload.outcome(),
        v1::ApplyOutcome::Applied,
        "the same revision again: the decided outcome stands"
    );

    let plan = client
        .local_plan(v1::LocalPlanRequest {
            files: vec![v1::SourceFile {
                name: "network.kdl".into(),
                text: network(&alpha, &carol()),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plan.ok, "{plan:#?}");
    assert_eq!(plan.revision, first.revision);
    assert!(
        plan.actions.iter().any(|a| a.target == "carol"),
        "{:#?}",
        plan.actions
    );
    assert_eq!(peers(&daemon.status().await), 1, "planning applied nothing");

    let events = cvlan_proto::local::buffered_events(&mut client, "apply")
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.kind == "apply.applied"),
        "{events:#?}"
    );
    daemon.stop().await;
}

/// The live views' counters from status.
fn live_views(status: &v1::StatusResponse) -> v1::LiveViewCounts {
    status.live_views.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_views_end_with_their_clients() {
    const CLIENTS: u64 = 100;
    let (dir, _net, _alpha) = network_dir();
    let (daemon, first) = Daemon::applied(dir.path()).await;
    assert_eq!(live_views(&first).open, 0);
    let fast = Some(prost_types::Duration {
        seconds: 0,
        nanos: 100_000_000,
    });
    for round in 0..CLIENTS {
        let mut client = connect(&daemon.socket).await.expect("connect");
        let mut peers = client
            .watch_peers(v1::WatchPeersRequest { interval: fast })
            .await
            .expect("watch peers")
            .into_inner();
        let snapshot = peers.message().await.expect("a snapshot").expect("one");
        assert!(snapshot.full && snapshot.peers.len() == 1, "{snapshot:#?}");
        let mut hits = client
            .watch_policy_hits(v1::WatchPolicyHitsRequest { interval: fast })
            .await
            .expect("watch hits")
            .into_inner();
        hits.message().await.expect("hits").expect("one");
        let mut events = client
            .watch_events(v1::WatchEventsRequest {
                follow: true,
                start: Some(v1::watch_events_request::Start::Last(1)),
                ..Default::default()
            })
            .await
            .expect("watch events")
            .into_inner();
        events.message().await.expect("an event").expect("one");
        if round == 0 {
            let open = live_views(&daemon.status().await).open;
            assert_eq!(open, 3, "three views run while their client reads");
        }
        // The client goes away without a word, as a closed cvtui does.
        drop((peers, hits, events, client));
    }
    let settled = daemon
        .status_until("every live view ended", |s| live_views(s).open == 0)
        .await;
    assert_eq!(live_views(&settled).opened, 3 * CLIENTS);
    assert_eq!(live_views(&settled).slow_dropped, 0);
    daemon.stop().await;
}

/// The network with alpha publishing an endpoint: not behind NAT, so it keeps no peer alive
/// and every peer stays cold until traffic.
fn reachable_network(alpha: &str, extra: &str) -> String {
    network(alpha, extra).replacen(
        "address \"100.64.0.1\";",
        "address \"100.64.0.1\"; endpoint \"192.0.2.1:51830\";",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_peers_sends_the_table_in_chunks_then_only_the_peers_that_moved() {
    const EXTRA: u32 = 2500;
    let (dir, net, alpha) = network_dir();
    let extra: String = (0..EXTRA)
        .map(|i| {
            let mut key = [9u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let key = cvlan_mesh::PublicKey(key);
            format!("node \"p{i:04}\" {{ public-key \"{key}\"; }}\n")
        })
        .collect();
    replace(&net, &reachable_network(&alpha, &extra));
    let (daemon, first) = Daemon::applied(dir.path()).await;
    let total = EXTRA as usize + 1;
    assert_eq!(peers(&first) as usize, total);
    let tun = daemon.platform.take_tun().expect("the device's TUN");

    let mut client = connect(&daemon.socket).await.expect("connect");
    // A big apply names its first peers in events of their own and counts the rest in one.
    let events = cvlan_proto::local::buffered_events(&mut client, "peer")
        .await
        .expect("events");
    let (named, elided): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.kind == "peer.added");
    assert_eq!(named.len(), cvland::reconcile::PEER_EVENTS);
    assert_eq!(elided.len(), 1, "{elided:#?}");
    assert_eq!(elided[0].kind, "peer.changes-elided");
    let rest = (total - cvland::reconcile::PEER_EVENTS).to_string();
    assert_eq!(elided[0].fields.get("total"), Some(&rest));
    assert_eq!(elided[0].fields.get("added"), Some(&rest));
    let mut stream = client
        .watch_peers(v1::WatchPeersRequest {
            interval: Some(prost_types::Duration {
                seconds: 0,
                nanos: 100_000_000,
            }),
        })
        .await
        .expect("watch peers")
        .into_inner();
    let mut names = std::collections::BTreeSet::new();
    let mut sizes = Vec::new();
    while names.len() < total {
        let message = stream.message().await.expect("a message").expect("open");
        assert_eq!(
            message.full,
            sizes.is_empty(),
            "only the first chunk is full"
        );
        sizes.push(message.peers.len());
        names.extend(message.peers.into_iter().map(|p| p.name));
    }
    assert_eq!(
        sizes,
        [1000, 1000, 501],
        "the table in chunks of 1,000 rows"
    );

    // Nothing moves: nothing is sent.
    let quiet = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(quiet.is_err(), "a message with nothing changed: {quiet:?}");

    // A packet for bravo wakes it (a handshake goes out): its row alone comes next.
    assert!(tun.write(&echo_request(
        Ipv4Addr::new(100, 64, 0, 1),
        Ipv4Addr::new(100, 64, 0, 2)
    )));
    let moved = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("bravo's row within 5 s")
        .expect("a message")
        .expect("open");
    assert!(!moved.full && moved.removed.is_empty(), "{moved:?}");
    let rows: Vec<(&str, v1::PeerTunnel)> = moved
        .peers
        .iter()
        .map(|p| (p.name.as_str(), p.tunnel()))
        .collect();
    assert_eq!(rows, [("bravo", v1::PeerTunnel::Warm)]);
    assert!(moved.peers[0].tx_bytes > 0);

    // Carol joins, p0000 leaves: an added row and a removed name.
    let extra = extra.replacen(&extra[..extra.find('\n').expect("a line") + 1], "", 1);
    replace(
        &net,
        &reachable_network(&alpha, &format!("{extra}{}", carol())),
    );
    let mut added = Vec::new();
    let mut removed = Vec::new();
    while added.is_empty() || removed.is_empty() {
        let message = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("the edit within 5 s")
            .expect("a message")
            .expect("open");
        assert!(!message.full, "an edit is sent as a change");
        // bravo's handshake retries move its counters; nothing else may be sent.
        added.extend(
            message
                .peers
                .into_iter()
                .map(|p| p.name)
                .filter(|n| n != "bravo"),
        );
        removed.extend(message.removed);
    }
    assert_eq!(
        (added, removed),
        (vec!["carol".to_owned()], vec!["p0000".to_owned()])
    );
    drop((stream, client));
    daemon.stop().await;
}
