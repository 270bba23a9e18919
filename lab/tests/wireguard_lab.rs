//! wireguard-go peers in a lab: keys made on each host with `wg genkey` and written into the
//! network.kdl the hosts follow, interfaces configured from it with `wg`, and overlay traffic
//! between a public peer and peers behind endpoint-independent and symmetric NATs.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::os::unix::fs::PermissionsExt;

use cvlan_lab::{Lab, LabOptions, netfile, require_root};

const NETWORK: &str = r#"// The lab fills in public keys and the public peer's endpoint.
network "wglab" {
    overlay "100.64.0.0/10"
    listen-port 51820
}
node "pub" { address "100.64.0.1"; }
node "home" { address "100.64.0.2"; }
node "far" {
    address "100.64.0.3" // behind the symmetric NAT
}
"#;

const TOPOLOGY: &str = r#"
lab "wg-test"
network "network.kdl"
switch "wan" subnet="203.0.113.0/24"
switch "home1" subnet="192.168.1.0/24"
switch "home2" subnet="192.168.2.0/24"
nat "eim" { wan "wan" address="203.0.113.1"; lan "home1" address="192.168.1.1"; }
nat "sym" {
    mapping "symmetric"
    wan "wan" address="203.0.113.2"
    lan "home2" address="192.168.2.1"
}
host "pub" {
    link "wan" address="203.0.113.10"
    wireguard-go endpoint="wan"
}
host "home" {
    link "home1" address="192.168.1.10"
    wireguard-go
}
host "far" {
    link "home2" address="192.168.2.10"
    wireguard-go node="far"
}
"#;

#[test]
fn wireguard_go_peers_follow_the_filled_in_network_file() {
    let Some(_root) = require_root() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.kdl"), NETWORK).unwrap();
    let topo = dir.path().join("lab.kdl");
    std::fs::write(&topo, TOPOLOGY).unwrap();
    let lab = Lab::start_file(&topo, LabOptions::default()).unwrap();

    // The file the hosts follow has every key and the published endpoint; comments stay.
    let text = std::fs::read_to_string(lab.network_file()).unwrap();
    assert!(text.starts_with("// The lab fills in public keys"));
    assert!(text.contains("// behind the symmetric NAT"));
    let info = netfile::read_network(&text).unwrap();
    for host in ["pub", "home", "far"] {
        let h = lab.host(host);
        let key = h.public_key().unwrap();
        assert_eq!(info.node(host).unwrap().public_key.as_deref(), Some(key));
        let shown = h
            .exec(&["wg", "show", h.wireguard_interface().unwrap(), "public-key"])
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), key);
        // The private key stays in the host's directory, 0600, and out of network.kdl.
        let private = h.dir().join("private.key");
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let private = std::fs::read_to_string(private).unwrap();
        assert!(!text.contains(private.trim()));
    }
    assert_eq!(
        info.node("pub").unwrap().endpoints,
        vec!["203.0.113.10:51820".parse().unwrap()]
    );

    // Peers behind either NAT reach the public one; it answers them once they have spoken.
    lab.host("home")
        .ping("100.64.0.1".parse().unwrap(), 3)
        .unwrap();
    lab.host("far")
        .ping("100.64.0.1".parse().unwrap(), 3)
        .unwrap();
    lab.host("pub")
        .ping("100.64.0.2".parse().unwrap(), 3)
        .unwrap();
    lab.host("pub")
        .ping("100.64.0.3".parse().unwrap(), 3)
        .unwrap();
}
