//! `cvlanctl peers`: one row per peer with its path, handshake age, traffic and latency.

use cvlan_proto::v1::{PeerKind, PeerTunnel, PeersRequest};
use serde::Serialize;

use crate::live::{Client, duration, key_text, rfc3339, since, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{age, bytes, millis, print_json, print_table, table};

/// One row of `peers --json`.
#[derive(Debug, Serialize)]
struct PeerJson {
    name: String,
    kind: &'static str,
    addresses: Vec<String>,
    public_key: String,
    /// The endpoint in use, `ip:port`.
    endpoint: Option<String>,
    /// `direct`, `relay:NAME`, or null before any path exists.
    path: Option<String>,
    /// `warm` (holds a WireGuard session) or `cold` (configuration and counters only, woken
    /// by its first packet); null from a daemon that does not say.
    tunnel: Option<&'static str>,
    last_handshake: Option<String>,
    last_handshake_age_seconds: Option<u64>,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
    /// Decrypted packets from the peer dropped (malformed, spoofed source, refused by policy).
    dropped_packets: u64,
    latency_ms: Option<f64>,
    allowed_ips: Vec<String>,
    owner: Option<String>,
    tags: Vec<String>,
}

/// The JSON document of `peers --json`.
#[derive(Debug, Serialize)]
struct PeersJson {
    peers: Vec<PeerJson>,
}

/// Runs `peers`.
pub async fn run(mut client: Client, json: bool) -> Outcome {
    let response = client.peers(PeersRequest {}).await?.into_inner();
    let peers: Vec<PeerJson> = response.peers.into_iter().map(to_json).collect();
    if json {
        print_json(&PeersJson { peers })?;
        return Ok(Answer::Yes);
    }
    let mut out = table(&[
        "peer",
        "address",
        "endpoint",
        "path",
        "tunnel",
        "handshake",
        "rx",
        "tx",
        "latency",
    ]);
    for p in &peers {
        out.add_row(vec![
            p.name.clone(),
            p.addresses.first().cloned().unwrap_or_else(|| "-".into()),
            p.endpoint.clone().unwrap_or_else(|| "-".into()),
            p.path.clone().unwrap_or_else(|| "-".into()),
            p.tunnel.unwrap_or("-").into(),
            p.last_handshake_age_seconds.map_or_else(
                || "never".into(),
                |s| format!("{} ago", age(std::time::Duration::from_secs(s))),
            ),
            bytes(p.rx_bytes),
            bytes(p.tx_bytes),
            p.latency_ms.map_or_else(
                || "-".into(),
                |ms| millis(std::time::Duration::from_secs_f64(ms / 1000.0)),
            ),
        ]);
    }
    print_table(&out)?;
    Ok(Answer::Yes)
}

fn to_json(p: cvlan_proto::v1::Peer) -> PeerJson {
    let handshake = time(p.last_handshake.as_ref());
    let path = p
        .path
        .as_ref()
        .map(ToString::to_string)
        .filter(|path| path != "-");
    PeerJson {
        kind: match p.kind() {
            PeerKind::Vrouter => "vrouter",
            PeerKind::Node | PeerKind::Unspecified => "node",
        },
        public_key: key_text(&p.public_key),
        endpoint: (!p.endpoint.is_empty()).then(|| p.endpoint.clone()),
        path,
        tunnel: match p.tunnel() {
            PeerTunnel::Warm => Some("warm"),
            PeerTunnel::Cold => Some("cold"),
            PeerTunnel::Unspecified => None,
        },
        last_handshake: handshake.map(rfc3339),
        last_handshake_age_seconds: handshake.map(|t| since(t).as_secs()),
        latency_ms: duration(p.latency.as_ref()).map(|d| d.as_secs_f64() * 1000.0),
        owner: (!p.owner.is_empty()).then(|| p.owner.clone()),
        name: p.name,
        addresses: p.addresses,
        rx_bytes: p.rx_bytes,
        tx_bytes: p.tx_bytes,
        rx_packets: p.rx_packets,
        tx_packets: p.tx_packets,
        dropped_packets: p.dropped_packets,
        allowed_ips: p.allowed_ips,
        tags: p.tags,
    }
}
