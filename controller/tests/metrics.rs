//! The real `cvlan-controller`'s metrics endpoint (`metrics listen=` in controller.kdl): what
//! it serves agrees with docs/metrics.md both ways, and its values follow the controller (the
//! seeded revision, a registration and its netmap stream, a refused registration, a garbage
//! handshake, an apply reaching the netmaps); the stream's gauge falls back when the node
//! leaves, and the port closes when the controller stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use cvlan_lab::metrics::{self, Scrape};
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_proto::v1::control_service_client::ControlServiceClient;
use cvlan_types::PrivateKey;
use tokio::io::AsyncWriteExt as _;

/// One scrape of `addr`, checked against the reference's tables for the controller.
async fn scrape(addr: SocketAddr) -> Scrape {
    let answer = tokio::task::spawn_blocking(move || metrics::get(addr, "/metrics"))
        .await
        .unwrap()
        .expect("an answer");
    assert_eq!(answer.status, "HTTP/1.1 200 OK", "{}", answer.body);
    metrics::check_documented(&answer.body, &["all", "cvlan-controller"])
        .unwrap_or_else(|e| panic!("served vs docs/metrics.md: {e}\n{}", answer.body))
}

/// Scrapes until `done` holds (at most 5 s).
async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = scrape(addr).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "{what}: {:#?}", scrape.values);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn value(scrape: &Scrape, name: &str, labels: &str) -> f64 {
    scrape
        .value(name, labels)
        .unwrap_or_else(|| panic!("no {name}{{{labels}}} in {:#?}", scrape.values))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_families_are_the_documented_ones_and_follow_the_controller() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ctl = Controller::start_with(&format!("metrics listen=\"{addr}\"")).await;

    let first = scrape(addr).await;
    let version = format!(
        "daemon=cvlan-controller,version={}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&first, "cvlan_build_info", &version), 1.0);
    assert_eq!(
        value(&first, "cvlan_controller_revision", ""),
        1.0,
        "seeded"
    );
    assert_eq!(
        value(&first, "cvlan_controller_nodes", "state=declared"),
        4.0
    );
    assert_eq!(
        value(&first, "cvlan_controller_nodes", "state=registered"),
        0.0
    );
    assert_eq!(value(&first, "cvlan_controller_netmap_streams", ""), 0.0);

    // alpha registers and streams; a registration with a made-up key is refused; a
    // connection that sends garbage fails its handshake.
    let mut admin = AdminServiceClient::new(ctl.channel().await);
    let key = ctl.auth_key(&mut admin).await;
    let mut alpha = ControlServiceClient::new(ctl.channel_as(&PrivateKey::generate()).await);
    alpha
        .register(register_request(&key, "alpha"))
        .await
        .unwrap();
    let mut stream = alpha
        .watch_netmap(v1::WatchNetmapRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_revision(&mut stream).await, 1);
    let mut refused = ControlServiceClient::new(ctl.channel().await);
    refused
        .register(register_request("cvlan-auth-not-a-key", "bravo"))
        .await
        .expect_err("an unknown auth key");
    let mut garbage = tokio::net::TcpStream::connect(&ctl.addr).await.unwrap();
    garbage.write_all(&[0xff; 200]).await.unwrap();
    drop(garbage);

    let online = scrape_until(addr, "alpha online, one handshake failed", |s| {
        s.value("cvlan_controller_netmap_streams", "") == Some(1.0)
            && s.value("cvlan_controller_handshakes_total", "outcome=failed") >= Some(1.0)
    })
    .await;
    assert_eq!(
        value(&online, "cvlan_controller_nodes", "state=registered"),
        1.0
    );
    assert_eq!(
        value(&online, "cvlan_controller_nodes", "state=online"),
        1.0
    );
    assert!(
        value(
            &online,
            "cvlan_controller_handshakes_total",
            "outcome=accepted"
        ) >= 3.0
    );
    assert_eq!(
        value(&online, "cvlan_controller_registrations_refused_total", ""),
        1.0
    );
    let updates = value(&online, "cvlan_controller_netmap_update_seconds_count", "");
    assert!(updates >= 1.0, "alpha's registration reached the netmaps");

    // An apply: a new revision, one more update observed, within the histogram's range.
    let extra = "node \"echo\" { address \"100.64.0.14\"; }\n";
    let revision = ctl
        .apply(&mut admin, network(ctl.port, &ctl.key.to_string(), extra))
        .await;
    assert_eq!(next_revision(&mut stream).await, revision);
    let applied = scrape_until(addr, "the apply counted", |s| {
        s.value("cvlan_controller_revision", "") == Some(revision as f64)
            && s.value("cvlan_controller_netmap_update_seconds_count", "") > Some(updates)
    })
    .await;
    assert_eq!(
        value(&applied, "cvlan_controller_nodes", "state=declared"),
        5.0
    );
    let total = value(&applied, "cvlan_controller_netmap_update_seconds_count", "");
    let (top, within_top) = applied
        .values
        .iter()
        .filter(|((name, _), _)| name == "cvlan_controller_netmap_update_seconds_bucket")
        .filter_map(|((_, le), n)| Some((le.strip_prefix("le=")?.parse::<f64>().ok()?, *n)))
        .filter(|(le, _)| le.is_finite())
        .fold((0.0, 0.0), |best, b| if b.0 > best.0 { b } else { best });
    assert!(
        (20.0..21.0).contains(&top),
        "buckets up to about 20 s: {top}"
    );
    assert_eq!(within_top, total, "every update under {top} s");
    let sum = value(&applied, "cvlan_controller_netmap_update_seconds_sum", "");
    assert!(
        sum >= 0.05 * total,
        "each update waits the 50 ms coalescing window: {sum} s for {total}"
    );

    // alpha leaves: its stream ends and the gauges fall back.
    drop(stream);
    drop(alpha);
    scrape_until(addr, "alpha's stream ended", |s| {
        s.value("cvlan_controller_netmap_streams", "") == Some(0.0)
            && s.value("cvlan_controller_nodes", "state=online") == Some(0.0)
    })
    .await;

    ctl.stop_and_count("handshakes_failed");
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the metrics port closes with the controller"
    );
}
