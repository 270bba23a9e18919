//! Real backends in network namespaces: three hosts, each running `cvlan-mesh-node` (a
//! MeshDevice with a real TUN and UDP sockets), ping and TCP with a checksum both ways.

mod lab;

use std::time::Duration;

use cvlan_mesh::PrivateKey;
use lab::Lab;

const NODE: &str = env!("CARGO_BIN_EXE_cvlan-mesh-node");

/// Starts a mesh node on host `i` (overlay 100.64.0.(i+1) and fd7a::(i+1)) with every other
/// host as a peer that also routes 10.55.(j).0/24. Host 2's peers are reached over IPv6.
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
            "--address".into(),
            format!("fd7a::{}/64", i + 1),
            "--listen-port".into(),
            "51820".into(),
        ];
        if !offload[i] {
            args.push("--no-offload".into());
        }
        for (j, peer) in keys.iter().enumerate().filter(|(j, _)| *j != i) {
            args.push("--peer".into());
            let endpoint = if i == 2 {
                format!("[{}]:51820", lab.underlay6(j))
            } else {
                format!("{}:51820", lab.underlay(j))
            };
            args.push(format!(
                "{};allowed=100.64.0.{n}/32,fd7a::{n}/128,10.55.{j}.0/24;endpoint={endpoint}",
                peer.public_key(),
                n = j + 1,
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

    // Host 2 speaks first, so its IPv6 underlay endpoint is the one both sides use.
    for (from, to) in [(2, 0), (2, 1), (0, 1), (1, 0), (0, 2), (1, 2)] {
        let addr = format!("100.64.0.{}", to + 1);
        assert!(lab.ping(from, &addr, 3), "ping {from} -> {to}");
    }
    assert!(lab.ping(0, "fd7a::2", 2), "IPv6 overlay");
    assert!(
        lab.ping(2, "fd7a::1", 2),
        "IPv6 overlay over an IPv6 underlay"
    );
    let route = lab.route(0, "10.55.1.0/24");
    assert!(
        route.contains("dev cvl0"),
        "route for a peer's routed prefix: {route:?}"
    );
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
    let peer2 = report
        .iter()
        .find(|l| l.contains(&keys[2].public_key().to_string()))
        .expect("peer 2 listed");
    // Host 2 reached host 0 over IPv6; host 0 answers where it heard from (roaming).
    assert!(peer2.contains("endpoint=[fd00:77::3]:51820"), "{peer2}");
    assert!(!peer1.contains("handshakes=0 "), "{peer1}");

    // Clean shutdown removes the TUN.
    assert!(lab.terminate(ids[0]), "node exits cleanly on SIGTERM");
    let link = lab.exec(0, &["ip", "link", "show", "cvl0"]);
    assert!(!link.status.success(), "cvl0 removed after shutdown");
    assert!(lab.ping(1, "100.64.0.3", 1), "the others keep working");
}

#[test]
fn a_flood_at_the_udp_port_is_counted_and_established_peers_keep_working() {
    let name = "a_flood_at_the_udp_port_is_counted_and_established_peers_keep_working";
    if !lab::available(name) {
        return;
    }
    let mut lab = Lab::new(3);
    let keys: Vec<PrivateKey> = (0..2).map(|_| PrivateKey::generate()).collect();
    let ids = start_nodes(&mut lab, &keys, &[true, true]);
    assert!(lab.ping(0, "100.64.0.2", 2), "established before the flood");

    // Host 2 floods host 1 with initiations from unknown keys (valid MAC1) and garbage.
    let target = format!("{}:51820", lab.underlay(1));
    let victim = keys[1].public_key().to_string();
    let flooder = lab.spawn(
        2,
        &[
            NODE,
            "flood",
            "--target",
            &target,
            "--public-key",
            &victim,
            "--seconds",
            "4",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let replies = lab.ping_count(0, "100.64.0.2", 20);
    let sent = lab.wait_for_line(flooder, "flood sent=", Duration::from_secs(30));
    // Kernel socket buffers may shed a ping or two under the flood on a busy machine; a
    // starved or crashed node answers none.
    assert!(
        replies >= 15,
        "only {replies}/20 pings answered during the flood ({sent:?})"
    );

    lab.signal(ids[1], "USR1");
    let report = lab.wait_for_line(ids[1], "stats", Duration::from_secs(5));
    let stats = &report[0];
    println!("{sent:?}; {replies}/20 pings answered; host 1: {stats}");
    for reason in ["rate_limited=", "unknown_peer=", "bad_packet="] {
        assert!(stats.contains(reason), "{reason} counted: {stats}");
    }
    let peer0 = report
        .iter()
        .find(|l| l.contains(&keys[0].public_key().to_string()))
        .expect("peer 0 listed");
    assert!(
        peer0.contains("handshakes=1 "),
        "no re-handshake needed: {peer0}"
    );
    assert!(
        lab.ping(1, "100.64.0.1", 2),
        "still working both ways after the flood"
    );
}
