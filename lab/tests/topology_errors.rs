//! The topology parser on bad files: every problem is a diagnostic with a stable code and a
//! span (all of them at once), never a panic; the example lab parses.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::path::Path;

use cvlan_lab::topology::{Check, Mapping, PingTarget, Service};
use cvlan_lab::{Topology, TopologyError};
use miette::Diagnostic;

fn errors(text: &str) -> TopologyError {
    Topology::parse(Path::new("bad.kdl"), text).unwrap_err()
}

fn codes(err: &TopologyError) -> Vec<&'static str> {
    err.problems.iter().map(|p| p.code).collect()
}

#[test]
fn every_problem_is_reported_with_its_code_and_place() {
    let err = errors(
        r#"switch "lan" subnet="10.0.0.0/24"
switch "lan" subnet="10.0.1.0/24"
switch "bad" subnet="not-a-net"
host "a" {
    link "lan" address="10.0.9.1"
    link "nowhere" address="10.0.0.2"
    colour "blue"
}
host "b" { link "lan" address="10.0.0.5" speed=10; cvland; }
nat "n" { mapping "full-cone"; wan "lan" address="10.0.0.1"; }
check { ping "zulu" "b"; }
"#,
    );
    let c = codes(&err);
    for expected in [
        "cvlan-lab::duplicate-name",
        "cvlan-lab::bad-subnet",
        "cvlan-lab::address-outside-subnet",
        "cvlan-lab::unknown-switch",
        "cvlan-lab::unknown-node",
        "cvlan-lab::unknown-property",
        "cvlan-lab::no-network",
        "cvlan-lab::unknown-mapping",
        "cvlan-lab::missing-child",
        "cvlan-lab::unknown-host",
    ] {
        assert!(c.contains(&expected), "{expected} missing from {c:?}");
    }
    let text = err.render();
    assert!(text.contains("bad.kdl:5:"), "{text}");
    assert!(text.contains("outside the switch's subnet"), "{text}");
    assert!(text.contains("declared switches: lan"), "{text}");
    assert!(text.contains("cvlan-lab::unknown-switch"), "{text}");
    assert!(err.to_string().starts_with("bad.kdl: "), "{err}");
    assert!(
        err.to_string().ends_with(" problems in the lab topology"),
        "{err}"
    );
    assert!(err.has_code("cvlan-lab::unknown-switch"));
    assert_eq!(
        err.code().unwrap().to_string(),
        "cvlan-lab::invalid-topology"
    );
}

#[test]
fn syntax_errors_are_diagnostics() {
    let err = errors("host \"a\" {\n    link \"lan\" address=\n");
    assert!(err.has_code("cvlan::syntax"), "{:?}", codes(&err));
    let err = errors("host a b c = = {{{");
    assert!(!err.problems.is_empty());
}

#[test]
fn deep_nesting_is_refused_before_it_reaches_the_parser() {
    // The same scanner as network.kdl's: deep, stray and broken input never reaches kdl.
    let err = errors(&"a {".repeat(5000));
    assert_eq!(codes(&err), vec!["cvlan::too-deep"]);
    for text in ["{".repeat(3000), "}".repeat(100_000), "= ".repeat(100_000)] {
        assert_eq!(codes(&errors(&text)), vec!["cvlan::syntax"]);
    }
    let err = errors(&format!("host \"a\"x {}\"", "{".repeat(3000)));
    assert_eq!(codes(&err), vec!["cvlan::syntax"]);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "\0\u{1}",
        "}",
        "host",
        "host \"\"",
        "switch \"x\" subnet=1",
        "nat \"n\"",
        "host \"a\" { link; }",
        "check { ping; }",
        "host \"A B\"",
        "lab 1 2 3",
        "host \"a\" { process \"p\"; }",
        "host \"a\" { cvland node=#true; }",
        "switch \"s\" subnet=\"10.0.0.0/31\"",
        "network #null",
    ];
    for s in samples {
        let _ = Topology::parse(Path::new("g.kdl"), s);
    }
    // An empty file is a valid (empty) lab.
    assert!(Topology::parse(Path::new("g.kdl"), "").is_ok());
}

#[test]
fn semantic_errors_about_nodes_and_nats() {
    let err = errors(
        r#"network "n.kdl"
switch "lan" subnet="10.0.0.0/24"
nat "n" { wan "lan" address="10.0.0.1"; lan "lan" address="10.0.0.2"; }
host "a" { link "lan" address="10.0.0.3"; cvland node="x"; wireguard-go node="y"; }
host "b" { link "lan" address="10.0.0.3"; cvland node="x" endpoint="wan"; }
host "c" { gateway "192.168.0.1"; }
"#,
    );
    let c = codes(&err);
    for expected in [
        "cvlan-lab::nat-loop",
        "cvlan-lab::two-mesh-nodes",
        "cvlan-lab::duplicate-address",
        "cvlan-lab::duplicate-node",
        "cvlan-lab::bad-endpoint",
        "cvlan-lab::no-link",
        "cvlan-lab::unreachable-gateway",
    ] {
        assert!(c.contains(&expected), "{expected} missing from {c:?}");
    }
}

#[test]
fn the_example_lab_parses_and_its_network_template_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab");
    let topo = Topology::load(&dir.join("topology.kdl")).unwrap();
    let cvland_hosts = topo
        .hosts
        .iter()
        .filter(|h| h.services.iter().any(|s| matches!(s, Service::Cvland(_))))
        .count();
    assert!(cvland_hosts >= 3);
    assert!(topo.hosts.iter().any(|h| {
        h.services
            .iter()
            .any(|s| matches!(s, Service::WireguardGo(_)))
    }));
    assert!(
        topo.nats
            .iter()
            .any(|n| n.mapping == Mapping::EndpointIndependent)
    );
    assert!(!topo.checks.is_empty());
    let network = std::fs::read_to_string(topo.network.as_ref().unwrap()).unwrap();
    let info = cvlan_lab::netfile::read_network(&network).unwrap();
    for host in &topo.hosts {
        let node = host.mesh_node().unwrap();
        assert!(
            info.node(&node.node).unwrap().address.is_some(),
            "{} unpinned",
            node.node
        );
    }
    for check in &topo.checks {
        let Check::Ping { to, .. } = check;
        if let PingTarget::Host(h) = to {
            assert!(topo.host(h).is_some());
        }
    }
}

#[test]
fn ipsec_hosts_are_checked_and_parsed() {
    let err = errors(
        r#"switch "lan" subnet="10.0.0.0/24"
host "a" {
    link "lan" address="10.0.0.2"
    vrouterd
    strongswan vrouter="x" config="x.conf"
    loopback "not-a-cidr"
}
host "b" { link "lan" address="10.0.0.3"; cvland; vrouterd vrouter="a"; }
host "c" { link "lan" address="10.0.0.4"; strongswan; }
"#,
    );
    let c = codes(&err);
    for expected in [
        "cvlan-lab::strongswan-config",
        "cvlan-lab::bad-address",
        "cvlan-lab::two-ipsec-daemons",
        "cvlan-lab::duplicate-node",
        "cvlan-lab::no-network",
    ] {
        assert!(c.contains(&expected), "{expected} missing from {c:?}");
    }

    let dir = std::path::Path::new("/labs/t.kdl");
    let topo = Topology::parse(
        dir,
        r#"network "network.kdl"
switch "lan" subnet="10.0.0.0/24"
host "gw" { link "lan" address="10.0.0.2"; loopback "10.1.0.1/32"; vrouterd; }
host "br" { link "lan" address="10.0.0.3"; strongswan vrouter="branch"; }
host "f" { link "lan" address="10.0.0.4"; strongswan config="f.swanctl.conf"; }
"#,
    )
    .unwrap();
    use cvlan_lab::topology::StrongswanConfig;
    assert_eq!(
        topo.host("gw").unwrap().services,
        [Service::Vrouterd("gw".into())]
    );
    assert_eq!(topo.host("gw").unwrap().vrouter(), Some("gw"));
    assert_eq!(
        topo.host("gw").unwrap().loopback,
        ["10.1.0.1/32".parse().unwrap()]
    );
    assert_eq!(
        topo.host("br").unwrap().services,
        [Service::Strongswan(StrongswanConfig::Vrouter(
            "branch".into()
        ))]
    );
    assert_eq!(
        topo.host("f").unwrap().services,
        [Service::Strongswan(StrongswanConfig::File(
            "/labs/f.swanctl.conf".into()
        ))]
    );
    assert_eq!(topo.host("f").unwrap().vrouter(), None);
}
