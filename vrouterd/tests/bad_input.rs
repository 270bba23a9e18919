//! Bad input on the real sockets of a running vrouterd with a live SA to strongSwan:
//! truncated, oversized, garbage, forged and replayed datagrams on UDP 500 and 4500 from
//! another host never crash it, create no state, leave the SA alone, and are each counted
//! under a reason visible through the local API. Needs root and strongSwan.

mod lab;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::{GW_ADDR, Initiator, Interop, Setup, established};

/// The first UDP payload in a pcap file (Ethernet link type).
fn first_udp_payload(pcap: &[u8]) -> Vec<u8> {
    assert!(pcap.len() > 24 + 16, "no packet captured");
    let frame = &pcap[24 + 16..];
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = &ip[ihl..];
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    udp[8..len].to_vec()
}

/// Captures one ESP-in-UDP datagram strongSwan sends to gw (the payload).
fn capture_esp(lab: &Interop) -> Vec<u8> {
    let file = lab.lab.run_dir().join("esp.pcap");
    let path = file.display().to_string();
    let filter = format!("udp dst port 4500 and dst host {GW_ADDR} and udp[8:4] != 0");
    let mut tcpdump = lab
        .gw()
        .spawn(&[
            "tcpdump", "-i", "eth0", "-c", "1", "-U", "-w", &path, &filter,
        ])
        .expect("tcpdump");
    // tcpdump attaches its filter at some point after it starts: ping until it has caught one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tcpdump.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "tcpdump captured nothing");
        assert_eq!(lab.ping("branch", 1, "0.2"), 1, "the tunnel answers");
    }
    first_udp_payload(&std::fs::read(&file).expect("pcap"))
}

fn send(lab: &Interop, name: &str, port: u16, datagram: &[u8]) {
    let file = lab.lab.run_dir().join(format!("datagram-{name}"));
    std::fs::write(&file, datagram).expect("write");
    let input = format!("OPEN:{}", file.display());
    let to = format!("UDP-SENDTO:{GW_ADDR}:{port}");
    let out = lab
        .lab
        .host("probe")
        .exec(&["socat", "-u", "-b", "65536", &input, &to])
        .expect("socat");
    assert!(
        out.status.success(),
        "send {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dropped(lab: &Interop) -> BTreeMap<String, u64> {
    lab.sas()
        .counters
        .expect("counters")
        .dropped
        .into_iter()
        .collect()
}

#[test]
fn bad_datagrams_on_both_ports_are_counted_and_change_nothing() {
    let mut setup = Setup::new(
        Initiator::Vrouterd,
        "aes256gcm16-prfsha256-x25519",
        "aes256gcm16",
    );
    setup.probe = true;
    let Some(lab) = setup.start() else {
        return;
    };
    let up = lab.wait_up();
    let (ike_id, child_spi) = (up.sas[0].unique_id, up.sas[0].children[0].spi_in);
    let esp = capture_esp(&lab);
    assert_eq!(
        u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]),
        child_spi,
        "ours"
    );
    let mut forged = esp.clone();
    forged[4..8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    let ike_header_only = {
        let mut h = vec![0x11; 8];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28]);
        h
    };
    let mut bad_length = ike_header_only.clone();
    bad_length[24..28].copy_from_slice(&9000u32.to_be_bytes());
    let mut marker_then_junk = vec![0, 0, 0, 0];
    marker_then_junk.extend(std::iter::repeat_n(0x41, 60_000));
    let cases: Vec<(&str, u16, Vec<u8>, &str)> = vec![
        ("short-ike", 500, vec![1, 2, 3], "truncated"),
        ("short-natt", 4500, vec![1, 2, 3], "truncated"),
        ("header-claims-more", 500, bad_length, "malformed"),
        ("oversized-ike", 500, vec![0x5a; 65_000], "malformed"),
        ("oversized-natt-ike", 4500, marker_then_junk, "malformed"),
        (
            "garbage-esp",
            4500,
            (0..200u32).map(|i| (i * 7 + 3) as u8).collect(),
            "unknown_esp_spi",
        ),
        ("replayed-esp", 4500, esp.clone(), "replayed"),
        ("forged-esp", 4500, forged, "integrity_check_failed"),
    ];
    let before = dropped(&lab);
    for (name, port, datagram, _) in &cases {
        for _ in 0..3 {
            send(&lab, name, *port, datagram);
        }
    }
    let mut expected = before.clone();
    for (_, _, _, reason) in &cases {
        *expected.entry((*reason).to_owned()).or_default() += 3;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = dropped(&lab);
        if expected
            .iter()
            .all(|(r, n)| now.get(r).copied().unwrap_or(0) >= *n)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counted drops {now:?}, expected at least {expected:?}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each datagram counted once, under its reason, and nothing else dropped.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dropped(&lab), expected);
    let sas = lab.sas();
    assert_eq!(established(&sas), 1);
    assert_eq!(sas.sas.len(), 1, "no new state: {sas:#?}");
    assert_eq!(sas.sas[0].unique_id, ike_id);
    assert_eq!(sas.sas[0].children[0].spi_in, child_spi);
    assert_eq!(sas.counters.expect("counters").half_open, 0);
    // Still serving and forwarding.
    assert_eq!(lab.ping("gw", 3, "0.2"), 3, "{}", lab.logs());
    assert!(Path::new(&lab.gw().socket_path()).exists());
}
