//! cvlan-vrouterd against strongSwan 5.9 (kernel-libipsec) for each proposal the issue names,
//! with strongSwan initiating from behind a NAT router and with vrouterd initiating: the SA
//! comes up on both sides with the negotiated algorithms, pings pass both ways, and 10 MB go
//! each way over TCP with an intact SHA-256. Needs root and strongSwan (CI=true: must run).

mod lab;

use cvlan_proto::v1;
use lab::{Initiator, Setup, established};

fn interop(initiator: Initiator, ike: &'static str, esp: &'static str, names: [&str; 4]) {
    let Some(lab) = Setup::new(initiator, ike, esp).start() else {
        return;
    };
    let sas = lab.wait_up();
    assert_eq!(established(&sas), 1);
    let sa = &sas.sas[0];
    assert_eq!(sa.peer, "br");
    assert_eq!(sa.initiator, initiator == Initiator::Vrouterd, "{sa:#?}");
    let algorithms: Vec<&str> = [&sa.encryption, &sa.integrity, &sa.prf, &sa.dh_group]
        .into_iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let expected: Vec<&str> = names.into_iter().filter(|s| !s.is_empty()).collect();
    assert_eq!(algorithms, expected);
    if initiator == Initiator::Strongswan {
        assert!(sa.nat_remote, "strongSwan is behind the NAT: {sa:#?}");
    }
    let swan = lab.swan_sas();
    assert!(swan.contains("ESTABLISHED"), "{swan}");
    assert!(
        swan.contains(&expected.join("/")),
        "strongSwan agrees on {expected:?}:\n{swan}"
    );

    assert_eq!(lab.ping("gw", 5, "0.2"), 5, "gw -> branch\n{}", lab.logs());
    assert_eq!(
        lab.ping("branch", 5, "0.2"),
        5,
        "branch -> gw\n{}",
        lab.logs()
    );
    lab.transfer("gw");
    lab.transfer("branch");

    let sas = lab.sas();
    let child = &sas.sas[0].children[0];
    assert!(child.bytes_out >= 10 * 1024 * 1024, "{child:#?}");
    assert!(child.bytes_in >= 10 * 1024 * 1024, "{child:#?}");
    assert_eq!(child.state(), v1::ChildSaState::Installed);
    let counters = sas.counters.expect("counters");
    assert_eq!(counters.dropped_total, 0, "nothing dropped: {counters:#?}");
}

const GCM: (&str, &str, [&str; 4]) = (
    "aes256gcm16-prfsha256-x25519",
    "aes256gcm16",
    ["AES_GCM_16-256", "", "PRF_HMAC_SHA2_256", "CURVE_25519"],
);
const CBC_ECP: (&str, &str, [&str; 4]) = (
    "aes256-sha256-ecp256",
    "aes256-sha256",
    [
        "AES_CBC-256",
        "HMAC_SHA2_256_128",
        "PRF_HMAC_SHA2_256",
        "ECP_256",
    ],
);
const CBC_MODP: (&str, &str, [&str; 4]) = (
    "aes256-sha256-modp2048",
    "aes256-sha256",
    [
        "AES_CBC-256",
        "HMAC_SHA2_256_128",
        "PRF_HMAC_SHA2_256",
        "MODP_2048",
    ],
);

#[test]
fn gcm_x25519_strongswan_initiates_through_nat() {
    interop(Initiator::Strongswan, GCM.0, GCM.1, GCM.2);
}

#[test]
fn gcm_x25519_vrouterd_initiates() {
    interop(Initiator::Vrouterd, GCM.0, GCM.1, GCM.2);
}

#[test]
fn cbc_ecp256_strongswan_initiates_through_nat() {
    interop(Initiator::Strongswan, CBC_ECP.0, CBC_ECP.1, CBC_ECP.2);
}

#[test]
fn cbc_ecp256_vrouterd_initiates() {
    interop(Initiator::Vrouterd, CBC_ECP.0, CBC_ECP.1, CBC_ECP.2);
}

#[test]
fn cbc_modp2048_strongswan_initiates_through_nat() {
    interop(Initiator::Strongswan, CBC_MODP.0, CBC_MODP.1, CBC_MODP.2);
}

#[test]
fn cbc_modp2048_vrouterd_initiates() {
    interop(Initiator::Vrouterd, CBC_MODP.0, CBC_MODP.1, CBC_MODP.2);
}
