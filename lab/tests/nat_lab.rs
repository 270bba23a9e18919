//! A lab with two public hosts on one switch and one host each behind an endpoint-independent
//! and a symmetric NAT router: connectivity, the NAT's port mapping as the receivers see it,
//! the NAT's inbound filter, and conntrack flushing.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use cvlan_lab::{Lab, LabOptions, Topology, require_root};

const TOPOLOGY: &str = r#"
lab "nat-test"
switch "wan" subnet="203.0.113.0/24"
switch "home1" subnet="192.168.1.0/24"
switch "home2" subnet="192.168.2.0/24"
nat "eim" {
    mapping "endpoint-independent"
    wan "wan" address="203.0.113.1"
    lan "home1" address="192.168.1.1"
}
nat "sym" {
    mapping "symmetric"
    wan "wan" address="203.0.113.2"
    lan "home2" address="192.168.2.1"
}
// Receivers answer every datagram with the source address and port they saw.
host "r1" {
    link "wan" address="203.0.113.10"
    process "observer" { command "socat" "UDP-RECVFROM:7000,fork" "SYSTEM:echo $SOCAT_PEERADDR $SOCAT_PEERPORT"; }
}
host "r2" {
    link "wan" address="203.0.113.11"
    process "observer" { command "socat" "UDP-RECVFROM:7000,fork" "SYSTEM:echo $SOCAT_PEERADDR $SOCAT_PEERPORT"; }
}
host "a" { link "home1" address="192.168.1.10"; }
host "b" { link "home2" address="192.168.2.10"; }
"#;

fn start() -> Lab {
    let topology = Topology::parse(Path::new("nat-test.kdl"), TOPOLOGY).unwrap();
    Lab::start(&topology, LabOptions::default()).unwrap()
}

/// What `receiver` saw as the source of a datagram sent from `host` with source port 40000.
/// socat gives up after 2 s without traffic, so a lost datagram (say, one that arrived before
/// the observer bound its port) costs a retry, never a hang.
fn observed(lab: &Lab, host: &str, receiver: &str) -> String {
    let to = format!("UDP:{receiver}:7000,sourceport=40000,reuseaddr");
    for _ in 0..5 {
        let mut socat = lab
            .host(host)
            .spawn(&["socat", "-T", "2", "STDIO", &to])
            .unwrap();
        socat.stdin.as_mut().unwrap().write_all(b"probe\n").unwrap();
        let mut line = String::new();
        BufReader::new(socat.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.trim().is_empty() {
            return line.trim().to_owned();
        }
    }
    panic!("{receiver} never answered {host}");
}

#[test]
fn hosts_reach_each_other_and_the_nats_map_as_declared() {
    let Some(_root) = require_root() else { return };
    let lab = start();

    lab.host("r1")
        .ping("203.0.113.11".parse().unwrap(), 2)
        .unwrap();
    lab.host("a")
        .ping("203.0.113.10".parse().unwrap(), 2)
        .unwrap();
    lab.host("b")
        .ping("203.0.113.11".parse().unwrap(), 2)
        .unwrap();

    // Endpoint-independent: one mapping for both destinations.
    let a1 = observed(&lab, "a", "203.0.113.10");
    let a2 = observed(&lab, "a", "203.0.113.11");
    assert!(a1.starts_with("203.0.113.1 "), "{a1}");
    assert_eq!(
        a1, a2,
        "EIM NAT must keep the mapped port for a second destination"
    );

    // Symmetric: a new port per destination.
    let b1 = observed(&lab, "b", "203.0.113.10");
    let b2 = observed(&lab, "b", "203.0.113.11");
    assert!(
        b1.starts_with("203.0.113.2 ") && b2.starts_with("203.0.113.2 "),
        "{b1} {b2}"
    );
    assert_ne!(
        b1, b2,
        "symmetric NAT must map each destination to its own port"
    );

    // Flushing conntrack forgets the mapping: the symmetric NAT then picks a fresh port.
    lab.nat("sym").flush_conntrack().unwrap();
    let b3 = observed(&lab, "b", "203.0.113.10");
    assert_ne!(b1, b3);
}

#[test]
fn unsolicited_inbound_traffic_is_dropped_by_the_nat() {
    let Some(_root) = require_root() else { return };
    let lab = start();
    let r1 = lab.host("r1");
    let out = r1
        .exec(&["ip", "route", "add", "192.168.1.0/24", "via", "203.0.113.1"])
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(r1.ping("192.168.1.10".parse().unwrap(), 1).is_err());
    // The other way round works, and its replies come back.
    lab.host("a")
        .ping("203.0.113.10".parse().unwrap(), 1)
        .unwrap();
}
