//! Rekeying against strongSwan while traffic runs: vrouterd rekeys the child SA and the IKE SA
//! on its own short lifetimes, strongSwan rekeys both on command (`swanctl --rekey`), and a
//! ping every 100 ms and a TCP stream keep flowing through all of it. Needs root and strongSwan.

mod lab;

use std::io::Read;
use std::time::{Duration, Instant};

use lab::{BRANCH_INNER, GW_INNER, Initiator, Setup, established};

fn rekeys_during_traffic(mut setup: Setup) {
    setup.gw_lifetime = ("14s", "6s");
    let Some(lab) = setup.start() else {
        return;
    };
    let first = lab.wait_up();
    let first_ike = first.sas[0].unique_id;
    let started = Instant::now();
    let mut server = lab
        .gw()
        .spawn(&["iperf3", "-s", "-1", "-B", GW_INNER])
        .expect("iperf3 server");
    lab.gw()
        .wait_listening(5201, Duration::from_secs(10))
        .expect("iperf3 listens");
    let mut client = lab
        .branch()
        .spawn(&[
            "iperf3",
            "-c",
            GW_INNER,
            "-B",
            BRANCH_INNER,
            "-t",
            "24",
            "-b",
            "20M",
            "-J",
        ])
        .expect("iperf3 client");
    let mut ping = lab
        .branch()
        .spawn(&[
            "ping",
            "-n",
            "-q",
            "-c",
            "240",
            "-i",
            "0.1",
            "-W",
            "2",
            "-I",
            BRANCH_INNER,
            GW_INNER,
        ])
        .expect("ping");
    let at = |secs: u64| {
        let t = started + Duration::from_secs(secs);
        std::thread::sleep(t.saturating_duration_since(Instant::now()));
    };
    at(15);
    let out = lab
        .branch()
        .swanctl(&["--rekey", "--child", "gw"])
        .expect("swanctl");
    assert!(
        out.status.success(),
        "child rekey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    at(18);
    let out = lab
        .branch()
        .swanctl(&["--rekey", "--ike", "gw"])
        .expect("swanctl");
    assert!(
        out.status.success(),
        "IKE rekey: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = client.wait().expect("iperf3 client ends");
    let mut json = String::new();
    client
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut json)
        .expect("read");
    assert!(status.success(), "iperf3 failed: {json}\n{}", lab.logs());
    let report: serde_json::Value = serde_json::from_str(&json).expect("iperf3 JSON");
    let intervals = report["intervals"].as_array().expect("intervals");
    assert!(intervals.len() >= 20, "{json}");
    for (i, interval) in intervals.iter().enumerate() {
        let bytes = interval["sum"]["bytes"].as_u64().unwrap_or(0);
        assert!(
            bytes > 0,
            "second {i} moved nothing: {json}\n{}",
            lab.logs()
        );
    }
    let _ = server.wait();
    let ping_status = ping.wait().expect("ping ends");
    let mut text = String::new();
    ping.stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("read");
    let received: u32 = text
        .lines()
        .find(|l| l.contains("received"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        received >= 236,
        "ping lost more than 4 of 240 across the rekeys ({ping_status}): {text}\n{}",
        lab.logs()
    );

    // Ours: two or more child rekeys and one or more IKE rekeys on our lifetimes; theirs:
    // the commanded ones. strongSwan's log shows both directions.
    let child_rekeys = lab.events("child.rekeyed").len();
    let ike_rekeys = lab.events("ike.rekeyed").len();
    assert!(
        child_rekeys >= 4,
        "child rekeys seen: {child_rekeys}\n{}",
        lab.logs()
    );
    assert!(
        ike_rekeys >= 2,
        "IKE rekeys seen: {ike_rekeys}\n{}",
        lab.logs()
    );
    let log = lab.swan_log();
    assert!(
        log.contains("parsed CREATE_CHILD_SA request"),
        "strongSwan answered our rekeys:\n{}",
        lab.logs()
    );
    assert!(
        log.contains("generating CREATE_CHILD_SA request"),
        "strongSwan started its own rekeys:\n{}",
        lab.logs()
    );
    let sas = lab.wait_sas("one IKE SA with one child after the rekeys", 20, |s| {
        established(s) == 1 && s.sas.len() == 1 && s.sas[0].children.len() == 1
    });
    assert_ne!(sas.sas[0].unique_id, first_ike, "the IKE SA was replaced");
    let counters = sas.counters.expect("counters");
    assert_eq!(
        counters.dropped.get("integrity_check_failed"),
        None,
        "{counters:#?}"
    );
}

#[test]
fn rekeys_by_both_sides_with_strongswan_initiating_through_nat() {
    rekeys_during_traffic(Setup::new(
        Initiator::Strongswan,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16-x25519",
    ));
}

#[test]
fn rekeys_by_both_sides_with_vrouterd_initiating_and_modp2048_pfs() {
    rekeys_during_traffic(Setup::new(
        Initiator::Vrouterd,
        "aes256-sha256-modp2048",
        "aes256-sha256-modp2048",
    ));
}
