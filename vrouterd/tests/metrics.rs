//! cvlan-vrouterd's metrics endpoint, two vrouters in this process on the in-memory network:
//! what gw serves agrees with docs/metrics.md both ways, its values follow the IKE SA with br
//! and the packets carried, a port already in use stops the start with a clear error, and the
//! port closes when the daemon stops.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::*;
use cvlan_lab::metrics::{self, Scrape};
use cvlan_netio::memory::MemoryNet;
use cvlan_vrouterd::harness::InMemory;

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const BR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("psk"), "memory-secret-0123456789\n").expect("psk");
    std::fs::write(
        dir.path().join("network.kdl"),
        network(dir.path(), "", "psk", "psk"),
    )
    .expect("network.kdl");
    dir
}

/// A port free on loopback now (bound, read, released).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address")
}

/// One scrape of `addr`, checked against the reference's tables for cvlan-vrouterd.
async fn scrape(addr: SocketAddr) -> Scrape {
    let answer = tokio::task::spawn_blocking(move || metrics::get(addr, "/metrics"))
        .await
        .expect("the request task")
        .expect("an answer");
    assert_eq!(answer.status, "HTTP/1.1 200 OK", "{}", answer.body);
    metrics::check_documented(&answer.body, &["all", "agent", "cvlan-vrouterd"])
        .unwrap_or_else(|e| panic!("served vs docs/metrics.md: {e}\n{}", answer.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_families_are_the_documented_ones_and_follow_the_sas() {
    let dir = setup();
    let net = MemoryNet::new();
    let addr = free_port();
    let mut br = start(dir.path(), "br", &net, BR).await;
    let mut gw = start_with(
        dir.path(),
        "gw",
        &net,
        GW,
        &format!("metrics listen=\"{addr}\""),
    )
    .await;
    wait_sas(&gw, "an established SA", |s| established(s) == 1).await;
    let (out, back) = hello_both_ways(&mut gw, &mut br).await;
    // A packet for no peer's subnet: dropped as no_route.
    let nowhere = udp_packet(
        Ipv4Addr::new(10, 1, 0, 5),
        Ipv4Addr::new(192, 0, 2, 7),
        b"nowhere",
    );
    assert!(gw.tun.write(&nowhere));

    let deadline = Instant::now() + Duration::from_secs(5);
    let scrape = loop {
        let scrape = scrape(addr).await;
        if scrape.value("cvlan_drops_total", "reason=no_route") == Some(1.0) {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "no no_route drop counted: {scrape:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let value = |name: &str, labels: &str| {
        scrape
            .value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in {:#?}", scrape.values))
    };
    let version = format!(
        "daemon=cvlan-vrouterd,version={}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value("cvlan_build_info", &version), 1.0);
    assert_eq!(value("cvlan_source_up", ""), 1.0);
    assert_eq!(value("cvlan_apply_total", "outcome=applied"), 1.0);
    assert_eq!(value("cvlan_ipsec_peers", "state=total"), 1.0);
    assert_eq!(value("cvlan_ipsec_peers", "state=up"), 1.0);
    assert_eq!(value("cvlan_ike_sas", "state=established"), 1.0);
    assert_eq!(value("cvlan_ike_sas", "state=connecting"), 0.0);
    assert_eq!(value("cvlan_child_sas", ""), 1.0);
    assert_eq!(
        value("cvlan_ipsec_peer_tx_bytes_total", "peer=br"),
        out.len() as f64,
        "the one packet gw sent"
    );
    assert_eq!(
        value("cvlan_ipsec_peer_rx_bytes_total", "peer=br"),
        back.len() as f64,
        "the one packet br sent back"
    );
    assert!(value("cvlan_ike_messages_total", "direction=in") >= 2.0);
    assert!(value("cvlan_ike_messages_total", "direction=out") >= 2.0);
    assert!(value("cvlan_esp_packets_total", "direction=out") >= 1.0);
    assert!(value("cvlan_esp_packets_total", "direction=in") >= 1.0);
    assert_eq!(value("cvlan_drops_total", "reason=no_child_sa"), 0.0);

    gw.stop().await;
    br.stop().await;
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the metrics port closes with the daemon"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_port_in_use_stops_the_start_with_its_address() {
    let dir = setup();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("its address");
    let started = InMemory::start(
        &dir.path().join("gw"),
        "gw",
        &dir.path().join("network.kdl"),
        &MemoryNet::new(),
        (GW, &format!("metrics listen=\"{addr}\"")),
    )
    .await;
    let Ok((running, _tun)) = started else {
        panic!("the daemon starts before it serves");
    };
    // The endpoint is bound when the daemon starts serving: the error ends the daemon.
    let error = running.stop().await.expect_err("the port is in use");
    let text = error.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("metrics"),
        "{text}"
    );
}
