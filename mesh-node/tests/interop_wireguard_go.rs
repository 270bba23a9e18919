//! Interop at the library level: Debian's wireguard-go (configured with `wg`) in one
//! namespace, our MeshDevice (`cvlan-mesh-node`) in another; ping and TCP both ways.

mod lab;

use std::time::Duration;

use cvlan_mesh::PrivateKey;
use lab::Lab;

const NODE: &str = env!("CARGO_BIN_EXE_cvlan-mesh-node");

#[test]
fn wireguard_go_and_cvlan_mesh_exchange_traffic_both_ways() {
    let name = "wireguard_go_and_cvlan_mesh_exchange_traffic_both_ways";
    if !lab::available(name)
        || !lab::require_tool(name, "wireguard-go")
        || !lab::require_tool(name, "wg")
        || !lab::require_tool(name, "socat")
    {
        return;
    }
    let mut lab = Lab::new(2);
    let ours = PrivateKey::generate();
    let theirs = PrivateKey::generate();

    // Host 1: wireguard-go. Its UAPI socket lives on the shared filesystem, so the interface
    // name is unique to this lab.
    let wg_if = lab.unique("wg");
    let wg_key = lab.file("wg.key");
    std::fs::write(&wg_key, theirs.to_base64().as_bytes()).unwrap();
    lab.spawn(1, &["wireguard-go", "-f", &wg_if]);
    let mut ready = false;
    for _ in 0..100 {
        if lab.exec(1, &["wg", "show", &wg_if]).status.success() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "wireguard-go came up");
    let our_pub = ours.public_key().to_string();
    let our_endpoint = format!("{}:51820", lab.underlay(0));
    lab.exec_ok(
        1,
        &[
            "wg",
            "set",
            &wg_if,
            "private-key",
            &wg_key.display().to_string(),
            "listen-port",
            "51820",
            "peer",
            &our_pub,
            "allowed-ips",
            "100.64.0.1/32",
            "endpoint",
            &our_endpoint,
        ],
    );
    lab.exec_ok(1, &["ip", "addr", "add", "100.64.0.2/24", "dev", &wg_if]);
    lab.exec_ok(1, &["ip", "link", "set", &wg_if, "up"]);

    // Host 0: our device.
    let key_file = lab.file("ours.key");
    std::fs::write(&key_file, ours.to_base64().as_bytes()).unwrap();
    let peer = format!(
        "{};allowed=100.64.0.2/32;endpoint={}:51820",
        theirs.public_key(),
        lab.underlay(1)
    );
    let key_arg = key_file.display().to_string();
    let node = lab.spawn(
        0,
        &[
            NODE,
            "run",
            "--key-file",
            &key_arg,
            "--tun",
            "cvl0",
            "--address",
            "100.64.0.1/24",
            "--listen-port",
            "51820",
            "--peer",
            &peer,
        ],
    );
    lab.wait_for_line(node, "ready", Duration::from_secs(20));

    assert!(lab.ping(0, "100.64.0.2", 3), "ours -> wireguard-go");
    assert!(lab.ping(1, "100.64.0.1", 3), "wireguard-go -> ours");
    lab.tcp_transfer(0, 1, "100.64.0.2", 10 << 20);
    lab.tcp_transfer(1, 0, "100.64.0.1", 10 << 20);

    // wireguard-go agrees a handshake happened and data moved.
    let shown = lab.exec_ok(1, &["wg", "show", &wg_if, "dump"]);
    let peer_line = shown
        .lines()
        .find(|l| l.starts_with(&our_pub))
        .expect("peer in dump");
    let fields: Vec<&str> = peer_line.split('\t').collect();
    assert_ne!(fields[4], "0", "latest handshake set: {peer_line}");
    assert!(
        fields[5].parse::<u64>().unwrap() > 10 << 20,
        "rx bytes: {peer_line}"
    );
    assert_eq!(fields[2], our_endpoint, "endpoint learned: {peer_line}");
}
