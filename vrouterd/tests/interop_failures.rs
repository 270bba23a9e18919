//! What goes wrong, against strongSwan: a wrong PSK and a proposal mismatch (each with either
//! side initiating) fail with a clear reason on both sides and leave no SA; a dead peer's SAs
//! are removed by DPD on either side; and a NAT rebinding (`conntrack -F` on a symmetric NAT)
//! in front of strongSwan is followed. Needs root and strongSwan (CI=true: must run).

mod lab;

use std::time::{Duration, Instant};

use cvlan_proto::v1;
use lab::{Initiator, Interop, Setup, established};

/// Waits until strongSwan lists no IKE SA.
fn wait_swan_empty(lab: &Interop, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let sas = lab.swan_sas();
        if !sas.contains("IKEv2") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "strongSwan still lists:\n{sas}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until strongSwan's log contains `text`.
fn wait_swan_log(lab: &Interop, text: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !lab.swan_log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "strongSwan never logged {text:?}:\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Nothing half-open on our side either.
fn assert_no_state(lab: &Interop) {
    let sas = lab.wait_sas("no SA left", 15, |s| s.sas.is_empty());
    assert_eq!(sas.counters.expect("counters").half_open, 0);
}

fn failed_event(lab: &Interop, reason: &str, text: &str) -> v1::WatchEventsResponse {
    let e = lab.wait_event("ike.failed", text, 30);
    assert_eq!(e.fields["reason"], reason, "{e:#?}");
    assert_eq!(e.fields["peer"], "br", "{e:#?}");
    assert_eq!(e.level(), v1::EventLevel::Error);
    e
}

fn wrong_psk(initiator: Initiator) -> Setup {
    let mut setup = Setup::new(initiator, "aes256gcm16-prfsha256-x25519", "aes256gcm16");
    setup.gw_secret = "/cvlan-lab-test/psk-gw";
    setup.br_secret = "/cvlan-lab-test/psk-br";
    setup
}

fn mismatch(initiator: Initiator) -> Setup {
    let mut setup = Setup::new(initiator, "aes256gcm16-prfsha256-x25519", "aes256gcm16");
    setup.br_proposals = ("aes256-sha256-modp2048", "aes256-sha256");
    setup
}

#[test]
fn wrong_psk_from_strongswan_is_refused_on_both_sides() {
    let Some(lab) = wrong_psk(Initiator::Strongswan).start() else {
        return;
    };
    failed_event(
        &lab,
        "authentication-failed",
        "does not verify with our pre-shared key",
    );
    wait_swan_log(&lab, "received AUTHENTICATION_FAILED notify error", 20);
    assert_no_state(&lab);
    wait_swan_empty(&lab, 20);
}

#[test]
fn wrong_psk_to_strongswan_is_refused_on_both_sides() {
    let Some(lab) = wrong_psk(Initiator::Vrouterd).start() else {
        return;
    };
    failed_event(
        &lab,
        "authentication-failed",
        "the peer refused our authentication",
    );
    wait_swan_log(&lab, "MAC mismatched", 20);
    wait_swan_log(&lab, "N(AUTH_FAILED)", 5);
    assert_no_state(&lab);
    wait_swan_empty(&lab, 20);
}

#[test]
fn proposal_mismatch_from_strongswan_is_refused_on_both_sides() {
    let Some(lab) = mismatch(Initiator::Strongswan).start() else {
        return;
    };
    let e = failed_event(
        &lab,
        "no-proposal-chosen",
        "none of the peer's proposals is acceptable",
    );
    assert!(
        e.message.contains("aes256gcm16-prfsha256-x25519"),
        "names ours: {}",
        e.message
    );
    wait_swan_log(&lab, "received NO_PROPOSAL_CHOSEN notify error", 20);
    assert_no_state(&lab);
    wait_swan_empty(&lab, 20);
}

#[test]
fn proposal_mismatch_to_strongswan_is_refused_on_both_sides() {
    let Some(lab) = mismatch(Initiator::Vrouterd).start() else {
        return;
    };
    failed_event(
        &lab,
        "no-proposal-chosen",
        "the peer accepts none of our proposals",
    );
    wait_swan_log(&lab, "received proposals unacceptable", 20);
    wait_swan_log(&lab, "N(NO_PROP)", 5);
    assert_no_state(&lab);
    wait_swan_empty(&lab, 20);
}

fn kill(lab: &Interop, name: &str) {
    let pid = lab
        .lab
        .record()
        .processes
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.pid.to_string())
        .expect("the daemon's pid");
    let out = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .output()
        .expect("kill");
    assert!(out.status.success(), "kill {name}: {out:?}");
}

#[test]
fn dpd_removes_the_sas_of_a_dead_strongswan() {
    let Some(lab) = Setup::new(
        Initiator::Strongswan,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    )
    .start() else {
        return;
    };
    lab.wait_up();
    assert_eq!(lab.ping("gw", 2, "0.2"), 2);
    kill(&lab, "charon");
    let dead = lab.wait_event("dpd.dead", "is dead", 60);
    assert_eq!(dead.fields["peer"], "br");
    lab.wait_event("ike.deleted", "the peer is dead (DPD)", 5);
    lab.wait_event("child.deleted", "deleted", 5);
    lab.wait_sas("the dead peer's SAs removed", 5, |s| s.sas.is_empty());
}

#[test]
fn strongswan_dpd_removes_the_sas_of_a_dead_vrouterd() {
    let Some(lab) = Setup::new(
        Initiator::Vrouterd,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    )
    .start() else {
        return;
    };
    let sas = lab.wait_up();
    assert_eq!(established(&sas), 1);
    kill(&lab, "vrouterd");
    wait_swan_empty(&lab, 40);
    assert!(lab.swan_log().contains("giving up after"), "{}", lab.logs());
}

#[test]
fn a_nat_rebinding_in_front_of_strongswan_is_followed() {
    let mut setup = Setup::new(
        Initiator::Strongswan,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    );
    setup.nat_mapping = "symmetric";
    let Some(lab) = setup.start() else {
        return;
    };
    let before = lab.wait_up().sas[0].remote_address.clone();
    assert_eq!(lab.ping("branch", 3, "0.2"), 3);
    lab.lab.nat("nat").flush_conntrack().expect("conntrack -F");
    // strongSwan's next packets leave through a new random port; the first may be lost.
    assert!(
        lab.ping("branch", 5, "0.2") >= 4,
        "branch -> gw after the rebinding\n{}",
        lab.logs()
    );
    let after = lab.wait_sas("the new mapping followed", 10, |s| {
        s.sas.first().is_some_and(|sa| sa.remote_address != before)
    });
    let now = &after.sas[0];
    assert!(now.remote_address.starts_with("198.51.100.1:"), "{now:#?}");
    assert_eq!(
        lab.ping("gw", 5, "0.2"),
        5,
        "gw -> branch reaches the new mapping\n{}",
        lab.logs()
    );
    assert_eq!(established(&after), 1, "no new SA was needed");
}
