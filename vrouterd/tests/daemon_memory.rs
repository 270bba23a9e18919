//! The daemon end to end without root: two vrouterd daemons on an in-memory network set up an
//! IKE SA, carry packets between their TUN devices, apply network.kdl changes as a diff, keep
//! the old state on an invalid file, report a wrong PSK on both sides, and count garbage.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use cvlan_netio::memory::MemoryNet;
use cvlan_netio::{DatagramBatch, UdpIo};
use cvlan_proto::v1;

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const BR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn setup(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("psk"), "memory-secret-0123456789\n").expect("psk");
    std::fs::write(
        dir.path().join("network.kdl"),
        network(dir.path(), extra, "psk", "psk"),
    )
    .expect("network.kdl");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vrouters_carry_packets_and_apply_changes_as_a_diff() {
    let dir = setup("");
    let net = MemoryNet::new();
    let br = start(dir.path(), "br", &net, BR).await;
    let mut gw = start(dir.path(), "gw", &net, GW).await;
    let mut br = br;

    let sas = wait_sas(&gw, "an established SA", |s| established(s) == 1).await;
    let ike = &sas.sas[0];
    assert_eq!(ike.peer, "br");
    assert!(ike.initiator, "gw initiates to its fixed-address peer");
    assert_eq!(ike.encryption, "AES_GCM_16-256");
    assert_eq!(ike.prf, "PRF_HMAC_SHA2_256");
    assert_eq!(ike.dh_group, "CURVE_25519");
    assert_eq!(
        (ike.local_id.as_str(), ike.remote_id.as_str()),
        ("gw.example", "br.example")
    );
    assert_eq!(ike.remote_address, "10.0.0.2:4500", "moved to NAT-T");
    let child = &ike.children[0];
    assert_eq!(child.local_ts, ["10.1.0.0/24"]);
    assert_eq!(child.remote_ts, ["10.2.0.0/24"]);
    let gw_ike_id = ike.unique_id;
    wait_sas(&br, "the responder's SA", |s| established(s) == 1).await;
    wait_event(&gw, "ike.established", "with br established").await;
    wait_event(&br, "child.installed", "10.2.0.0/24 === 10.1.0.0/24").await;

    // Packets both ways, TUN to TUN.
    let (out, _) = hello_both_ways(&mut gw, &mut br).await;
    let sas = gw.sas().await;
    let child = &sas.sas[0].children[0];
    assert_eq!((child.packets_out, child.packets_in), (1, 1));
    assert_eq!(child.bytes_out, out.len() as u64);
    assert_eq!(
        gw.tun.routes(),
        ["10.2.0.0/24".parse::<ipnet::IpNet>().unwrap()]
    );

    // A peer added to gw's block: applied as a diff, the running SA untouched.
    let net_file = dir.path().join("network.kdl");
    let extra = r#"ipsec-peer "dialin" {
        remote "%any"
        id local="gw.example" remote="dialin.example"
        auth "psk" secret-file="PSKFILE"
        remote-ts "10.3.0.0/24"
    }"#
    .replace("PSKFILE", &dir.path().join("psk").display().to_string());
    replace_file(&net_file, &network(dir.path(), &extra, "psk", "psk"));
    wait_event(&gw, "peer.added", "dialin").await;
    let applied = wait_event(&gw, "apply.applied", "1 added (dialin)").await;
    assert_eq!(applied.fields["trigger"], "file changed");
    let sas = wait_sas(&gw, "routes for the new peer", |s| established(s) == 1).await;
    assert_eq!(
        sas.sas[0].unique_id, gw_ike_id,
        "the SA with br was not disturbed"
    );
    assert_eq!(
        gw.tun.routes(),
        [
            "10.2.0.0/24".parse::<ipnet::IpNet>().unwrap(),
            "10.3.0.0/24".parse().unwrap()
        ]
    );

    // An invalid file changes nothing and is reported with its diagnostics.
    replace_file(
        &net_file,
        "network \"lab\" {\n  overlay \"not a cidr\"\n}\nvrouter {\n",
    );
    wait_event(&gw, "apply.rejected", "is invalid").await;
    let status = gw
        .client()
        .await
        .status(v1::StatusRequest {})
        .await
        .expect("Status")
        .into_inner();
    let last = status.last_apply.clone().expect("last apply");
    assert_eq!(last.outcome(), v1::ApplyOutcome::Rejected);
    assert!(!last.diagnostics.is_empty());
    assert_eq!(status.kind(), v1::DaemonKind::Vrouter);
    assert_eq!(status.name, "gw");
    assert_eq!(status.addresses, ["100.64.0.1"]);
    assert_eq!(status.listen_port, 4500);
    assert_eq!(status.peers.expect("peers").total, 2);
    assert_ne!(
        status.revision, last.revision,
        "the running revision is the older one"
    );
    let sas = gw.sas().await;
    assert_eq!(established(&sas), 1);
    assert_eq!(sas.sas[0].unique_id, gw_ike_id);

    // A valid file again (without the dial-in peer); then `Reload` re-reads the file and the
    // secrets: nothing changed, so nothing happens.
    replace_file(&net_file, &network(dir.path(), "", "psk", "psk"));
    wait_event(&gw, "apply.applied", "1 removed (dialin)").await;
    let reload = gw
        .client()
        .await
        .reload(v1::ReloadRequest {})
        .await
        .expect("Reload")
        .into_inner()
        .result
        .expect("a result");
    assert_eq!(reload.outcome(), v1::ApplyOutcome::Unchanged, "{reload:#?}");
    assert_eq!(gw.sas().await.sas[0].unique_id, gw_ike_id);

    // A changed secret on one side: the peer is set up again and fails on both sides with a
    // clear reason, leaving nothing half-open.
    std::fs::write(dir.path().join("wrong"), "not-the-same-secret\n").expect("psk");
    replace_file(&net_file, &network(dir.path(), "", "wrong", "psk"));
    wait_event(&gw, "peer.changed", "br").await;
    let failed = wait_event(&gw, "ike.failed", "authentication failed").await;
    assert_eq!(failed.fields["reason"], "authentication-failed");
    assert_eq!(failed.level(), v1::EventLevel::Error);
    let theirs = wait_event(&br, "ike.failed", "authentication failed").await;
    assert!(
        theirs.message.contains("does not verify"),
        "{}",
        theirs.message
    );
    wait_sas(&gw, "no SA left", |s| s.sas.is_empty()).await;
    wait_sas(&br, "no SA left", |s| s.sas.is_empty()).await;
    let text = events(&gw, "").await;
    for e in &text {
        assert!(
            !e.message.contains("memory-secret") && !e.message.contains("not-the-same"),
            "a secret leaked into an event: {}",
            e.message
        );
    }

    gw.stop().await;
    br.stop().await;
    assert!(
        !dir.path().join("gw/vrouterd.sock").exists(),
        "socket removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_both_ports_is_counted_and_creates_no_state() {
    let dir = setup("");
    let net = MemoryNet::new();
    let br = start(dir.path(), "br", &net, BR).await;
    let attacker: SocketAddr = "10.0.0.66:500".parse().unwrap();
    let mut sock = net.bind(attacker, 1);
    let mut datagrams: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0xff; 7],
        vec![0; 27],      // shorter than an IKE header
        vec![0x5a; 3000], // oversized garbage
        vec![0; 65_000],  // oversized zeros
        {
            // A header that claims IKE_SA_INIT with a wrong length.
            let mut h = vec![
                1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 8,
            ];
            h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xff, 0xff]);
            h
        },
    ];
    // ESP-looking datagrams with unknown SPIs, and the same one replayed.
    for spi in [0x1000u32, 0x1000, 0xdead_beef] {
        let mut esp = spi.to_be_bytes().to_vec();
        esp.extend_from_slice(&[0, 0, 0, 1]);
        esp.extend_from_slice(&[0xab; 60]);
        datagrams.push(esp);
    }
    let to_ike: SocketAddr = "10.0.0.2:500".parse().unwrap();
    let to_natt: SocketAddr = "10.0.0.2:4500".parse().unwrap();
    let mut sent = 0u64;
    for d in &datagrams {
        for to in [to_ike, to_natt] {
            sock.send(
                &cvlan_netio::Transmit {
                    destination: to,
                    size: d.len(),
                    segment_size: None,
                },
                d,
            )
            .await
            .expect("send");
            sent += 1;
        }
    }
    let sas = wait_sas(&br, "every datagram counted", |s| {
        s.counters
            .as_ref()
            .is_some_and(|c| c.dropped_total + c.keepalives_in >= sent)
    })
    .await;
    let counters = sas.counters.expect("counters");
    assert!(sas.sas.is_empty(), "no state: {:#?}", sas.sas);
    assert_eq!(counters.half_open, 0);
    assert_eq!(counters.ike_in, 0, "nothing was accepted as IKE");
    for reason in ["truncated", "unknown_esp_spi"] {
        assert!(
            counters.dropped.contains_key(reason),
            "{reason}: {:?}",
            counters.dropped
        );
    }
    // Nothing was answered.
    let mut batch = DatagramBatch::new(4, 2048);
    let answer = tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut batch)).await;
    assert!(answer.is_err(), "garbage got an answer");
    br.stop().await;
}
