//! The metrics endpoint of whole daemons in this process (memory platform, as in
//! in_process.rs): what it serves agrees with docs/metrics.md both ways (families, types,
//! labels), its values follow the daemon (an apply, a handshake with a second daemon woken by
//! a packet, the policy's counters), it answers nothing but GET /metrics, drops oversized and slow requests, and its
//! port closes when the daemon stops.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cvlan_agent::{Host, Role};
use cvlan_lab::metrics::{self, Answer};
use cvlan_lab::packets::echo_request;
use cvlan_mesh::device::memory::MemoryNet;
use cvlan_proto::local::connect;
use cvlan_proto::v1;
use cvland::platform::Memory;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A daemon of the two-node network (alpha and bravo, everything allowed), alpha serving
/// metrics.
struct Daemon {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), cvland::daemon::DaemonError>>,
    socket: PathBuf,
    platform: Arc<Memory>,
    metrics: SocketAddr,
}

/// A port free on loopback now (bound, read, released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address")
}

/// Both nodes' keys (created in their state dirs, as `cvland pubkey` does) and network.kdl.
fn network(dir: &Path) {
    let key = |name: &str| {
        cvlan_agent::keys::node_key(&dir.join(name).join("state"))
            .expect("a node key")
            .public_key()
    };
    let (alpha, bravo) = (key("alpha"), key("bravo"));
    std::fs::write(
        dir.join("network.kdl"),
        format!(
            "network \"t\" {{ overlay \"100.64.0.0/10\"; listen-port 51830; }}\n\
             node \"alpha\" {{ public-key \"{alpha}\"; address \"100.64.0.1\"; endpoint \"192.0.2.1:51830\"; }}\n\
             node \"bravo\" {{ public-key \"{bravo}\"; address \"100.64.0.2\"; endpoint \"192.0.2.2:51830\"; }}\n\
             policy {{ allow \"all\" from=\"*\" to=\"*\"; }}\n"
        ),
    )
    .expect("write network.kdl");
}

impl Daemon {
    /// Starts node `name` (`last` the last byte of its underlay address) on `net`, and waits
    /// for its first apply.
    async fn start(dir: &Path, name: &str, last: u8, net: &MemoryNet) -> Self {
        let metrics = free_port();
        let home = dir.join(name);
        let file = home.join("cvland.kdl");
        std::fs::write(
            &file,
            format!(
                "node \"{name}\"\nstate-dir \"{h}/state\"\nsocket \"{h}/cvland.sock\"\n\
                 source \"file\" path=\"{d}/network.kdl\"\nmetrics listen=\"{metrics}\"\n",
                h = home.display(),
                d = dir.display()
            ),
        )
        .expect("write cvland.kdl");
        let host = Host::load(&file, Role::Node).expect("a valid cvland.kdl");
        let platform = Memory::new(net.clone(), SocketAddr::from(([192, 0, 2, last], 51830)));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(cvland::daemon::run_with(host, platform.clone(), async {
            let _ = stopped.await;
        }));
        let daemon = Self {
            stop,
            task,
            socket: home.join("cvland.sock"),
            platform,
            metrics,
        };
        daemon.applied().await;
        daemon
    }

    /// Waits (up to 10 s) for the first apply, through the local API.
    async fn applied(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.socket.exists() {
                let mut client = connect(&self.socket).await.expect("connect");
                let status = client
                    .status(v1::StatusRequest {})
                    .await
                    .expect("status")
                    .into_inner();
                let outcome = status
                    .last_apply
                    .as_ref()
                    .map_or(v1::ApplyOutcome::Unspecified, v1::ApplyResult::outcome);
                if outcome == v1::ApplyOutcome::Applied {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no first apply within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the daemon task")
            .expect("the daemon stopped cleanly");
    }
}

/// `GET path` from the endpoint at `addr`, off the runtime's threads.
async fn get(addr: SocketAddr, path: &str) -> Answer {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || metrics::get(addr, &path))
        .await
        .expect("the request task")
        .expect("an answer")
}

/// `request` as is to the endpoint at `addr`; the answer once the server closes.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Answer {
    tokio::task::spawn_blocking(move || metrics::exchange(addr, &request, Duration::from_secs(15)))
        .await
        .expect("the request task")
        .expect("the server closes within 15 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_families_are_the_documented_ones_and_follow_the_daemon() {
    let dir = tempfile::tempdir().expect("a temp dir");
    network(dir.path());
    let net = MemoryNet::new();
    let daemon = Daemon::start(dir.path(), "alpha", 1, &net).await;
    let bravo = Daemon::start(dir.path(), "bravo", 2, &net).await;

    // A packet for bravo: alpha's filter counts it, alpha and bravo handshake.
    let tun = daemon.platform.take_tun().expect("the device's TUN");
    assert!(tun.write(&echo_request(
        Ipv4Addr::new(100, 64, 0, 1),
        Ipv4Addr::new(100, 64, 0, 2)
    )));
    let deadline = Instant::now() + Duration::from_secs(5);
    let scrape = loop {
        let Answer { status, head, body } = get(daemon.metrics, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{head}\n{body}");
        assert!(
            head.contains("content-type: application/openmetrics-text; version=1.0.0"),
            "{head}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        let scrape = metrics::Scrape::parse(&body).expect("OpenMetrics text");
        if scrape
            .value("cvlan_peer_last_handshake_seconds", "peer=bravo")
            .is_some()
        {
            // Served and documented agree both ways, with their types and labels (a family
            // without samples, as the per-peer ones before a handshake, is not served).
            break metrics::check_documented(&body, &["all", "agent", "cvland"])
                .unwrap_or_else(|e| panic!("served vs docs/metrics.md: {e}\n{body}"));
        }
        assert!(
            Instant::now() < deadline,
            "no handshake with bravo:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let value = |name: &str, labels: &str| {
        scrape
            .value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in {:#?}", scrape.values))
    };
    let version = format!("daemon=cvland,version={}", env!("CARGO_PKG_VERSION"));
    assert_eq!(value("cvlan_build_info", &version), 1.0);
    assert_eq!(value("cvlan_source_up", ""), 1.0);
    assert_eq!(value("cvlan_apply_total", "outcome=applied"), 1.0);
    assert_eq!(value("cvlan_apply_total", "outcome=rejected"), 0.0);
    assert_eq!(value("cvlan_peers", "state=total"), 1.0);
    assert_eq!(value("cvlan_peers", "state=warm"), 1.0, "bravo is warm");
    assert_eq!(value("cvlan_peers", "state=connected"), 1.0);
    assert!(value("cvlan_peer_rx_bytes_total", "peer=bravo") > 0.0);
    assert!(value("cvlan_peer_tx_bytes_total", "peer=bravo") > 0.0);
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let handshake = value("cvlan_peer_last_handshake_seconds", "peer=bravo");
    assert!(
        (unix_now - 30.0..=unix_now + 1.0).contains(&handshake),
        "a Unix time of the last seconds: {handshake} (now {unix_now})"
    );
    assert_eq!(
        value(
            "cvlan_policy_hits_packets_total",
            "direction=outbound,rule=all"
        ),
        1.0,
        "the echo request, allowed by rule `all`"
    );
    assert!(
        value(
            "cvlan_policy_hits_bytes_total",
            "direction=outbound,rule=all"
        ) >= 28.0
    );
    assert_eq!(
        value(
            "cvlan_policy_hits_packets_total",
            "direction=inbound,rule=default-deny"
        ),
        0.0
    );
    assert_eq!(value("cvlan_drops_total", "reason=no_route"), 0.0);
    assert_eq!(value("cvlan_live_views_open", ""), 0.0);

    bravo.stop().await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_only_get_metrics_drops_bad_requests_and_stops_with_the_daemon() {
    let dir = tempfile::tempdir().expect("a temp dir");
    network(dir.path());
    let daemon = Daemon::start(dir.path(), "alpha", 1, &MemoryNet::new()).await;
    let addr = daemon.metrics;

    assert_eq!(get(addr, "/").await.status, "HTTP/1.1 404 Not Found");
    assert_eq!(
        get(addr, "/metrics/extra").await.status,
        "HTTP/1.1 404 Not Found"
    );
    let post = format!("POST /metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    let Answer { status, head, .. } = exchange(addr, post.into_bytes()).await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(head.contains("allow: get"), "{head}");

    // A request head past 8 KiB is refused, not read on.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let Answer { status, body, .. } = exchange(addr, big.into_bytes()).await;
    assert!(
        !status.contains("200") && !body.contains("cvlan_"),
        "an oversized request was answered: {status}"
    );

    // A client that never finishes its request is cut after 5 s.
    let started = Instant::now();
    let status = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec())
        .await
        .status;
    let waited = started.elapsed();
    assert!(
        !status.contains("200"),
        "a slow request was answered: {status}"
    );
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(12)).contains(&waited),
        "cut after {waited:?}"
    );

    // Still serving after all that.
    assert_eq!(get(addr, "/metrics").await.status, "HTTP/1.1 200 OK");

    daemon.stop().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the metrics port closes with the daemon"
    );
}
