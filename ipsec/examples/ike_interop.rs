//! A manual interop check: one `Endpoint` on real UDP sockets (ports 500 and 4500) against
//! another IKEv2 implementation such as strongSwan. It prints every event, optionally pings
//! through the tunnel with hand-made ICMP echo requests (the peer's kernel answers), and can
//! trigger rekeys. `scripts/ipsec-interop-check.sh` runs it against charon in namespaces.
//!
//! ```text
//! ike_interop local=10.77.0.2 remote=10.77.0.1|any local_id=ours remote_id=theirs psk=SECRET \
//!     local_ts=100.64.2.1/32 remote_ts=100.64.1.1/32 ike=gcm-x25519|cbc-ecp256|cbc-modp2048 \
//!     esp=gcm|cbc|gcm-x25519|cbc-modp2048 [initiate=1] [seconds=20] [ping=1] \
//!     [rekey_child_at=S] [rekey_ike_at=S] [dpd=S]
//! ```
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cvlan_ipsec::transforms::{DhGroup, Encryption, EspProposal, IkeProposal, Integrity, Prf};
use cvlan_ipsec::ts::TrafficSelector;
use cvlan_ipsec::{Endpoint, EndpointConfig, Event, PeerConfig, Psk, Received};
use cvlan_types::Remote;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn ike(name: &str) -> Result<IkeProposal, String> {
    let cbc = |dh| IkeProposal {
        encryption: Encryption::AesCbc { key_bits: 256 },
        integrity: Some(Integrity::HmacSha256_128),
        prf: Prf::HmacSha256,
        dh,
    };
    Ok(match name {
        "gcm-x25519" => IkeProposal {
            encryption: Encryption::AesGcm16 { key_bits: 256 },
            integrity: None,
            prf: Prf::HmacSha256,
            dh: DhGroup::Curve25519,
        },
        "cbc-ecp256" => cbc(DhGroup::Ecp256),
        "cbc-modp2048" => cbc(DhGroup::Modp2048),
        other => return Err(format!("unknown ike proposal {other}")),
    })
}

fn esp(name: &str) -> Result<EspProposal, String> {
    let gcm = Encryption::AesGcm16 { key_bits: 256 };
    let cbc = Encryption::AesCbc { key_bits: 256 };
    let sha = Some(Integrity::HmacSha256_128);
    Ok(match name {
        "gcm" => EspProposal {
            encryption: gcm,
            integrity: None,
            dh: None,
        },
        "gcm-x25519" => EspProposal {
            encryption: gcm,
            integrity: None,
            dh: Some(DhGroup::Curve25519),
        },
        "cbc" => EspProposal {
            encryption: cbc,
            integrity: sha,
            dh: None,
        },
        "cbc-modp2048" => EspProposal {
            encryption: cbc,
            integrity: sha,
            dh: Some(DhGroup::Modp2048),
        },
        other => return Err(format!("unknown esp proposal {other}")),
    })
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request.
fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"cvlan-ipsec interop ping");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: HashMap<String, String> = std::env::args()
        .skip(1)
        .filter_map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let get = |k: &str| args.get(k).cloned().ok_or_else(|| format!("missing {k}="));
    let num = |k: &str| args.get(k).and_then(|v| v.parse::<u64>().ok());
    let local_ip: Ipv4Addr = get("local")?.parse()?;
    let remote = match get("remote")?.as_str() {
        "any" => Remote::Any,
        a => Remote::Address(a.parse()?),
    };
    let ts = |k: &str| -> Result<TrafficSelector, Box<dyn Error>> {
        Ok(TrafficSelector::from_net(get(k)?.parse()?))
    };
    let (local_ts, remote_ts) = (ts("local_ts")?, ts("remote_ts")?);
    let peer = PeerConfig {
        name: "interop".into(),
        remote,
        remote_port: 500,
        local_id: get("local_id")?,
        remote_id: get("remote_id")?,
        psk: Psk::new(get("psk")?.into_bytes()),
        local_ts: vec![local_ts],
        remote_ts: vec![remote_ts],
        ike_proposals: vec![ike(&get("ike")?)?],
        esp_proposals: vec![esp(&get("esp")?)?],
        ike_lifetime: Duration::from_secs(3600),
        child_lifetime: Duration::from_secs(1200),
        dpd: num("dpd").map(Duration::from_secs),
        child_limits: Default::default(),
    };
    let sock500 = UdpSocket::bind((local_ip, 500))?;
    let sock4500 = UdpSocket::bind((local_ip, 4500))?;
    for s in [&sock500, &sock4500] {
        s.set_nonblocking(true)?;
    }
    let start = Instant::now();
    let config = EndpointConfig {
        local_ip: IpAddr::V4(local_ip),
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(config, Box::new(ChaCha20Rng::from_entropy()), start);
    let pid = ep.add_peer(peer);
    if num("initiate") == Some(1) {
        ep.initiate(start, pid)?;
    }
    let deadline = start + Duration::from_secs(num("seconds").unwrap_or(20));
    let (mut rekeyed_child, mut rekeyed_ike) = (false, false);
    let (mut pings, mut replies, mut child_up) = (0u16, 0u32, None::<u32>);
    let mut next_ping = start;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        let now = Instant::now();
        for (sock, port) in [(&sock500, 500), (&sock4500, 4500)] {
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let local = SocketAddr::new(IpAddr::V4(local_ip), port);
                match ep.handle_datagram(now, local, from, &mut buf[..n]) {
                    Received::Decrypted { packet, .. } => {
                        let p = &buf[packet];
                        if p.len() > 20 && p[9] == 1 && p[20] == 0 {
                            replies += 1;
                            println!(
                                "{:7.3} echo reply {} from {}",
                                now.duration_since(start).as_secs_f64(),
                                replies,
                                Ipv4Addr::new(p[12], p[13], p[14], p[15])
                            );
                        }
                    }
                    Received::Dropped(r) => println!(
                        "{:7.3} dropped: {}",
                        now.duration_since(start).as_secs_f64(),
                        r.name()
                    ),
                    _ => {}
                }
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        let t = now.duration_since(start).as_secs();
        if let Some(spi) = child_up
            && num("rekey_child_at").is_some_and(|s| t >= s)
            && !rekeyed_child
        {
            rekeyed_child = true;
            let _ = ep.rekey_child(now, spi);
        }
        if num("rekey_ike_at").is_some_and(|s| t >= s)
            && !rekeyed_ike
            && let Some(sa) = ep
                .list_sas(now)
                .first()
                .filter(|s| s.established_for.is_some())
        {
            rekeyed_ike = true;
            let _ = ep.rekey_ike(now, sa.id);
        }
        if num("ping") == Some(1) && child_up.is_some() && now >= next_ping {
            next_ping = now + Duration::from_secs(1);
            pings += 1;
            let (IpAddr::V4(src), IpAddr::V4(dst)) = (local_ts.start, remote_ts.start) else {
                continue;
            };
            let mut out = Vec::new();
            if let Ok(t) = ep.encrypt(now, pid, &echo_request(src, dst, pings), &mut out) {
                sock4500.send_to(&out, t.dst)?;
            }
        }
        while let Some(t) = ep.poll_transmit() {
            let sock = if t.src.port() == 4500 {
                &sock4500
            } else {
                &sock500
            };
            sock.send_to(&t.bytes, t.dst)?;
        }
        while let Some(e) = ep.poll_event() {
            println!(
                "{:7.3} event {e:?}",
                now.duration_since(start).as_secs_f64()
            );
            match e {
                Event::ChildSaUp { spi_in, .. } => child_up = Some(spi_in),
                Event::ChildSaRekeyed { new_spi_in, .. } => child_up = Some(new_spi_in),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for sa in ep.list_sas(Instant::now()) {
        println!(
            "sa {:?} {:?} {} children {:?}",
            sa.id,
            sa.state,
            sa.algorithms().unwrap_or_default(),
            sa.children
                .iter()
                .map(|c| (c.algorithms(), c.counters))
                .collect::<Vec<_>>()
        );
    }
    println!(
        "pings sent {pings}, replies {replies}, drops {}",
        ep.stats().dropped_total()
    );
    Ok(())
}
