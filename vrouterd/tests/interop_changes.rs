//! Changes while running, against strongSwan: vrouterd sets a deleted SA up again by itself,
//! and SIGHUP re-reads the secrets (a changed PSK re-establishes the peer, which strongSwan,
//! still holding the old one, then refuses). Needs root and strongSwan (CI=true: must run).

mod lab;

use std::time::{Duration, Instant};

use lab::{Initiator, Setup, established};

#[test]
fn vrouterd_sets_the_sa_up_again_after_strongswan_deletes_it() {
    let Some(lab) = Setup::new(
        Initiator::Vrouterd,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    )
    .start() else {
        return;
    };
    let first = lab.wait_up().sas[0].unique_id;
    let out = lab
        .branch()
        .swanctl(&["--terminate", "--ike", "gw"])
        .expect("swanctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.wait_event("ike.deleted", "the peer deleted it", 10);
    let sas = lab.wait_sas("a new IKE SA", 20, |s| {
        established(s) == 1 && s.sas[0].unique_id != first
    });
    assert!(sas.sas[0].initiator);
    assert_eq!(lab.ping("gw", 3, "0.2"), 3, "{}", lab.logs());
}

#[test]
fn sighup_rereads_a_changed_secret() {
    let Some(lab) = Setup::new(
        Initiator::Vrouterd,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    )
    .start() else {
        return;
    };
    lab.wait_up();
    let network = std::fs::read_to_string(lab.lab.network_file()).expect("network.kdl");
    let psk = cvlan_lab::netfile::secret_files(&network).expect("secret files")[0].clone();
    std::fs::write(&psk, "a-new-secret-only-vrouterd-knows\n").expect("new secret");
    let pid = lab
        .lab
        .record()
        .processes
        .iter()
        .find(|p| p.name == "vrouterd")
        .map(|p| p.pid.to_string())
        .expect("vrouterd's pid");
    let started = Instant::now();
    let out = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .output()
        .expect("kill");
    assert!(out.status.success());
    let applied = lab.wait_event("apply.applied", "1 re-established (br)", 10);
    assert_eq!(applied.fields["trigger"], "SIGHUP");
    lab.wait_event("peer.changed", "br", 5);
    let failed = lab.wait_event("ike.failed", "the peer refused our authentication", 20);
    assert_eq!(failed.fields["reason"], "authentication-failed");
    assert!(started.elapsed() < Duration::from_secs(20));
    for e in lab.events("") {
        assert!(
            !e.message.contains("a-new-secret"),
            "a secret in an event: {}",
            e.message
        );
    }
    let log = std::fs::read_to_string(lab.gw().dir().join("vrouterd.log")).expect("log");
    assert!(!log.contains("a-new-secret"), "a secret in the log");
}

#[test]
fn the_example_ipsec_lab_comes_up_and_carries_traffic() {
    let Some(_root) = cvlan_lab::require_root() else {
        return;
    };
    if !std::path::Path::new(cvlan_lab::strongswan::CHARON).exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "strongSwan is not installed and CI=true forbids skipping"
        );
        return;
    }
    let topology =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab/ipsec/topology.kdl");
    let lab = cvlan_lab::Lab::start_file(&topology, cvlan_lab::LabOptions::default())
        .expect("the example lab starts");
    let branch = lab.host("branch");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = branch
            .exec(&["ping", "-c", "1", "-W", "1", "-I", "10.2.0.1", "10.1.0.1"])
            .expect("ping");
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "no tunnel in the example lab");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = branch.swanctl(&["--list-sas"]).expect("swanctl");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ESTABLISHED"));
}
