//! Real backends in network namespaces: three hosts, each running `cvlan-mesh-node` (a
//! MeshDevice with a real TUN and UDP sockets), ping and TCP with a checksum both ways.

mod lab;

use std::time::Duration;

use cvlan_mesh::PrivateKey;
use lab::Lab;

const NODE: &str = env!("CARGO_BIN_EXE_cvlan-mesh-node");

/// Starts a mesh node on host `i` (overlay 100.64.0.(i+1)) with every other host as a peer.
fn start_nodes(lab: &mut Lab, keys: &[PrivateKey], offload: &[bool]) -> Vec<usize> {
    let mut ids = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let key_file = lab.file(&format!("node{i}.key"));
        std::fs::write(&key_file, key.to_base64().as_bytes()).expect("write key");
        let mut args = vec![
            NODE.to_owned(),
            "run".into(),
            "--key-file".into(),
            key_file.display().to_string(),
            "--tun".into(),
            "cvl0".into(),
            "--address".into(),
            format!("100.64.0.{}/24", i + 1),
            "--listen-port".into(),
            "51820".into(),
        ];
        if !offload[i] {
            args.push("--no-offload".into());
        }
        for (j, peer) in keys.iter().enumerate().filter(|(j, _)| *j != i) {
            args.push("--peer".into());
            args.push(format!(
                "{};allowed=100.64.0.{}/32;endpoint={}:51820",
                peer.public_key(),
                j + 1,
                lab.underlay(j)
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = lab.spawn(i, &args);
        lab.wait_for_line(id, "ready", Duration::from_secs(20));
        ids.push(id);
    }
    ids
}

#[test]
fn three_namespaces_ping_and_move_tcp_both_ways() {
    if !lab::available("three_namespaces_ping_and_move_tcp_both_ways")
        || !lab::require_tool("three_namespaces_ping_and_move_tcp_both_ways", "socat")
    {
        return;
    }
    let mut lab = Lab::new(3);
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    // Host 2 runs without offloads, so both IO paths meet each other.
    let ids = start_nodes(&mut lab, &keys, &[true, true, false]);

    for (from, to) in [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)] {
        let addr = format!("100.64.0.{}", to + 1);
        assert!(lab.ping(from, &addr, 3), "ping {from} -> {to}");
    }
    lab.tcp_transfer(0, 1, "100.64.0.2", 10 << 20);
    lab.tcp_transfer(1, 0, "100.64.0.1", 10 << 20);
    lab.tcp_transfer(2, 0, "100.64.0.1", 4 << 20);

    // Counters: host 0 saw one handshake per peer and real traffic.
    lab.signal(ids[0], "USR1");
    let report = lab.wait_for_line(ids[0], "stats", Duration::from_secs(5));
    assert!(report[0].starts_with("stats peers=2"), "{report:?}");
    let peer1 = report
        .iter()
        .find(|l| l.contains(&keys[1].public_key().to_string()))
        .expect("peer 1 listed");
    assert!(peer1.contains("endpoint=10.77.0.2:51820"), "{peer1}");
    assert!(!peer1.contains("handshakes=0 "), "{peer1}");

    // Clean shutdown removes the TUN.
    assert!(lab.terminate(ids[0]), "node exits cleanly on SIGTERM");
    let link = lab.exec(0, &["ip", "link", "show", "cvl0"]);
    assert!(!link.status.success(), "cvl0 removed after shutdown");
    assert!(lab.ping(1, "100.64.0.3", 1), "the others keep working");
}
