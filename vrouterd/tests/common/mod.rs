//! Two vrouterd daemons in one process (cvlan_vrouterd::harness) on cvlan-netio's in-memory
//! network and TUN, and helpers to watch them through the local API.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cvlan_netio::memory::{MemoryNet, MemoryTunHost};
use cvlan_proto::local::{self, LocalApiServiceClient};
use cvlan_proto::v1;
use cvlan_vrouterd::harness::{InMemory, pair_network};
use tonic::transport::Channel;

/// The network two vrouters share ([`pair_network`]) on the default proposals, gw's secret
/// read from `dir/gw_psk` and br's from `dir/br_psk`; `extra` goes into gw's block.
pub fn network(dir: &Path, extra: &str, gw_psk: &str, br_psk: &str) -> String {
    let pair = pair_network(&dir.join(gw_psk), &dir.join(br_psk));
    let proposals = "        proposals ike=\"aes256-sha256-ecp256\" esp=\"aes256-sha256\"\n";
    assert!(pair.contains(proposals), "the pair names its proposals");
    let defaults = pair.replace(proposals, "");
    let gw_end = defaults
        .find("}\nvrouter \"br\"")
        .expect("gw's block ends before br's");
    let (gw, br) = defaults.split_at(gw_end);
    format!("{gw}    {extra}\n{br}")
}

/// Writes `text` as `path` the way an operator's tool does: aside, then renamed over it.
pub fn replace_file(path: &Path, text: &str) {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).expect("write");
    std::fs::rename(&aside, path).expect("rename");
}

/// One daemon: its TUN's host side, its socket, and how to stop it.
pub struct Running {
    pub name: String,
    pub tun: MemoryTunHost,
    pub socket: PathBuf,
    inner: Option<InMemory>,
}

impl Running {
    /// A local API client.
    pub async fn client(&self) -> LocalApiServiceClient<Channel> {
        local::connect(&self.socket).await.expect("connects")
    }

    /// The SAs as the API lists them.
    pub async fn sas(&self) -> v1::SasResponse {
        self.client()
            .await
            .sas(v1::SasRequest::default())
            .await
            .expect("Sas")
            .into_inner()
    }

    /// Stops the daemon (SAs deleted politely) and waits for it.
    pub async fn stop(mut self) {
        if let Some(inner) = self.inner.take() {
            tokio::time::timeout(Duration::from_secs(10), inner.stop())
                .await
                .expect("stops within 10 s")
                .expect("stops cleanly");
        }
    }
}

/// Starts vrouter `name` with its files in `dir` (network.kdl must exist there), on `net`
/// at `addr` (NAT-T 4500 and IKE 500).
pub async fn start(dir: &Path, name: &str, net: &MemoryNet, addr: Ipv4Addr) -> Running {
    start_with(dir, name, net, addr, "").await
}

/// [`start`] with `host_lines` added to the vrouter's vrouterd.kdl.
pub async fn start_with(
    dir: &Path,
    name: &str,
    net: &MemoryNet,
    addr: Ipv4Addr,
    host_lines: &str,
) -> Running {
    let network = dir.join("network.kdl");
    let (inner, tun) = InMemory::start(&dir.join(name), name, &network, net, (addr, host_lines))
        .await
        .expect("daemon starts");
    Running {
        name: name.to_owned(),
        tun,
        socket: inner.socket.clone(),
        inner: Some(inner),
    }
}

/// Waits until `check` holds for the daemon's SA listing (up to 10 s).
pub async fn wait_sas(
    r: &Running,
    what: &str,
    check: impl Fn(&v1::SasResponse) -> bool,
) -> v1::SasResponse {
    for _ in 0..200 {
        let sas = r.sas().await;
        if check(&sas) {
            return sas;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{}: {what} did not happen within 10 s: {:#?}",
        r.name,
        r.sas().await
    );
}

/// Established IKE SAs with at least one child.
pub fn established(sas: &v1::SasResponse) -> usize {
    sas.sas
        .iter()
        .filter(|s| s.state() == v1::IkeSaState::Established && !s.children.is_empty())
        .count()
}

/// Buffered events of kind `kind` (prefix match as the API does).
pub async fn events(r: &Running, kind: &str) -> Vec<v1::WatchEventsResponse> {
    local::buffered_events(&mut r.client().await, kind)
        .await
        .expect("WatchEvents")
}

/// Waits until an event of `kind` exists whose message contains `text` (up to 10 s).
pub async fn wait_event(r: &Running, kind: &str, text: &str) -> v1::WatchEventsResponse {
    for _ in 0..200 {
        if let Some(e) = events(r, kind)
            .await
            .into_iter()
            .find(|e| e.message.contains(text))
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{}: no {kind} event containing {text:?} within 10 s; events: {:#?}",
        r.name,
        events(r, "").await
    );
}

/// An IPv4 UDP packet from `src` to `dst` carrying `payload` (checksums right).
pub fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&6000u16.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// The next packet the daemon wrote to its TUN (up to 5 s).
pub async fn read_tun(tun: &mut MemoryTunHost) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(5), tun.read())
        .await
        .expect("a packet within 5 s")
        .expect("device alive")
}

/// One UDP packet from gw's subnet to br's through the SA and one back, each read from the
/// other TUN device as written; returns (gw's, br's).
pub async fn hello_both_ways(gw: &mut Running, br: &mut Running) -> (Vec<u8>, Vec<u8>) {
    let out = udp_packet(
        Ipv4Addr::new(10, 1, 0, 5),
        Ipv4Addr::new(10, 2, 0, 9),
        b"hello br",
    );
    assert!(gw.tun.write(&out));
    assert_eq!(read_tun(&mut br.tun).await, out);
    let back = udp_packet(
        Ipv4Addr::new(10, 2, 0, 9),
        Ipv4Addr::new(10, 1, 0, 5),
        b"hello gw",
    );
    assert!(br.tun.write(&back));
    assert_eq!(read_tun(&mut gw.tun).await, back);
    (out, back)
}
