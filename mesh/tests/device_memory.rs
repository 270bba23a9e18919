//! The tokio shell on in-memory IO: two devices, a lossless virtual network, no root needed.

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use cvlan_mesh::device::memory::{MemoryNet, MemoryTun, MemoryTunHost};
use cvlan_mesh::device::{MeshDevice, MeshError};
use cvlan_mesh::{Engine, Event, PeerConfig, PeerSetError, PrivateKey, PublicKey};
use ipnet::IpNet;
use sim::{ip_packet, payload};

struct Host {
    device: MeshDevice,
    tun: MemoryTunHost,
    key: PublicKey,
    addr: SocketAddr,
    overlay: IpNet,
}

async fn host(net: &MemoryNet, n: u8, gso: usize) -> Host {
    let key = PrivateKey::generate();
    let public = key.public_key();
    let addr = SocketAddr::from(([192, 0, 2, n], 51820));
    let overlay: IpNet = format!("100.64.0.{n}/10").parse().expect("valid prefix");
    let (tun, host) = MemoryTun::new(vec![overlay]);
    let udp = net.bind(addr, gso);
    let engine = Engine::new(key, tokio::time::Instant::now().into_std());
    Host {
        device: MeshDevice::spawn_with(engine, move || Ok((tun, udp)))
            .await
            .expect("device starts"),
        tun: host,
        key: public,
        addr,
        overlay,
    }
}

fn as_peer(h: &Host) -> PeerConfig {
    PeerConfig::new(h.key, [IpNet::from(h.overlay.addr())]).with_endpoint(h.addr)
}

async fn read(tun: &mut MemoryTunHost) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(5), tun.read())
        .await
        .expect("a packet within 5 s")
        .expect("device alive")
}

#[tokio::test]
async fn two_devices_exchange_packets_and_report_stats_and_events() {
    let net = MemoryNet::new();
    let mut a = host(&net, 1, 64).await;
    let mut b = host(&net, 2, 1).await;
    let mut a_events = a.device.handle().subscribe();
    a.device
        .handle()
        .set_peers(vec![as_peer(&b)])
        .await
        .unwrap();
    b.device
        .handle()
        .set_peers(vec![as_peer(&a)])
        .await
        .unwrap();

    let (ia, ib) = (a.overlay.addr(), b.overlay.addr());
    assert!(a.tun.write(&ip_packet(ia, ib, b"ping")));
    assert_eq!(payload(&read(&mut b.tun).await), b"ping");
    // A burst: several packets read in one batch, sent as one GSO transmit, all delivered in order.
    for i in 0..50u8 {
        a.tun.write(&ip_packet(ia, ib, &[i; 1000]));
    }
    for i in 0..50u8 {
        assert_eq!(payload(&read(&mut b.tun).await), &[i; 1000][..]);
    }
    b.tun.write(&ip_packet(ib, ia, b"pong"));
    assert_eq!(payload(&read(&mut a.tun).await), b"pong");

    let stats = a.device.handle().stats().await.unwrap();
    assert_eq!(stats.listen_port, 51820);
    assert_eq!(stats.peers.len(), 1);
    let peer = &stats.peers[0];
    assert_eq!((peer.public_key, peer.endpoint), (b.key, Some(b.addr)));
    assert_eq!(
        (peer.tx_packets, peer.rx_packets, peer.handshakes),
        (51, 1, 1)
    );
    assert!(stats.routes.is_empty(), "overlay /32s are on-link");

    let event = tokio::time::timeout(Duration::from_secs(5), a_events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        Event::HandshakeCompleted {
            peer: b.key,
            endpoint: b.addr
        }
    );

    a.device.shutdown().await.unwrap();
    assert!(a.tun.read().await.is_none(), "TUN closed on shutdown");
    b.device.shutdown().await.unwrap();
}

#[tokio::test]
async fn routes_follow_the_peer_set_and_bad_sets_are_refused() {
    let net = MemoryNet::new();
    let a = host(&net, 1, 1).await;
    let b = host(&net, 2, 1).await;
    let handle = a.device.handle();
    let mut peer = as_peer(&b);
    peer.allowed_ips.push("10.20.0.0/16".parse().unwrap());
    handle.set_peers(vec![peer.clone()]).await.unwrap();
    assert_eq!(
        a.tun.routes(),
        vec!["10.20.0.0/16".parse::<IpNet>().unwrap()]
    );

    let own = PeerConfig::new(a.key, []);
    let err = handle.set_peers(vec![peer.clone(), own]).await.unwrap_err();
    assert!(
        matches!(err, MeshError::PeerSet(PeerSetError::OwnKey(_))),
        "{err}"
    );
    assert_eq!(
        handle.stats().await.unwrap().peers.len(),
        1,
        "previous set still running"
    );

    let changes = handle.set_peers(vec![as_peer(&b)]).await.unwrap();
    assert_eq!(changes.updated, vec![b.key]);
    assert!(a.tun.routes().is_empty());
    a.device.shutdown().await.unwrap();
    assert!(matches!(handle.stats().await, Err(MeshError::Stopped)));

    // Dropping a device without shutdown stops it too.
    let mut b = b;
    let b_handle = b.device.handle();
    drop(b.device);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), b.tun.read())
            .await
            .unwrap()
            .is_none(),
        "TUN closed on drop"
    );
    assert!(matches!(b_handle.stats().await, Err(MeshError::Stopped)));
}
