//! Ping: one reply per probe through the tunnel.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cvlan_proto::local::BoxStream;
use cvlan_proto::v1;
use tokio::sync::watch;
use tonic::Status;

use crate::ping::Pinger;
use crate::state::Shared;

/// Probes per Ping call at most.
const MAX_PROBES: u32 = 1000;

/// Ping: resolves the node (a peer name or an overlay address), then sends `count` probes
/// from this node's overlay address, one reply message per probe, until the last probe, the
/// client leaving or the daemon stopping.
pub fn ping(
    shared: Arc<Shared>,
    request: v1::PingRequest,
    stopping: watch::Receiver<bool>,
) -> Result<BoxStream<v1::PingResponse>, Status> {
    let Some(running) = shared.read().running.clone() else {
        return Err(Status::failed_precondition("no network state applied yet"));
    };
    let map = &running.netmap;
    let wanted = request.node.trim();
    let by_address = wanted.parse::<IpAddr>().ok();
    let peer = map
        .peers
        .iter()
        .find(|p| p.name == wanted || by_address.is_some_and(|a| p.addresses.contains(&a)));
    let Some(peer) = peer else {
        return Err(Status::not_found(format!(
            "`{wanted}` is not a peer of this node"
        )));
    };
    let target = by_address
        .or_else(|| peer.addresses.first().copied())
        .ok_or_else(|| {
            Status::failed_precondition(format!("{} has no overlay address", peer.name))
        })?;
    let source = map
        .node
        .addresses
        .iter()
        .find(|a| a.is_ipv4() == target.is_ipv4())
        .copied()
        .ok_or_else(|| {
            Status::failed_precondition("this node has no overlay address of that family")
        })?;
    let pinger = Pinger::open(source, target)
        .map_err(|e| Status::internal(format!("cannot open an ICMP socket: {e}")))?;
    let count = request.count.clamp(1, MAX_PROBES);
    let gap = request
        .interval
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::from_secs(1));
    let timeout = request
        .timeout
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::from_secs(2));
    let (name, key) = (peer.name.clone(), peer.public_key);
    let live = shared.agent.live.clone();
    Ok(live.spawn(stopping, |tx| async move {
        for seq in 1..=count {
            let started = tokio::time::Instant::now();
            let probe = u16::try_from(seq % 65_536).unwrap_or(0);
            let rtt = match pinger.probe(probe, timeout).await {
                Ok(rtt) => rtt,
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("ping failed: {e}"))))
                        .await;
                    return;
                }
            };
            let mesh = shared.read().mesh.clone();
            let endpoint = match (mesh, key) {
                (Some(mesh), Some(key)) => mesh
                    .stats()
                    .await
                    .ok()
                    .and_then(|s| s.peers.into_iter().find(|p| p.public_key == key))
                    .and_then(|p| p.endpoint),
                _ => None,
            };
            let reply = v1::PingResponse {
                seq,
                node: name.clone(),
                address: target.to_string(),
                rtt: rtt.and_then(|d| prost_types::Duration::try_from(d).ok()),
                path: Some(v1::PeerPath {
                    kind: if rtt.is_some() && endpoint.is_some() {
                        v1::PathKind::Direct
                    } else {
                        v1::PathKind::Unspecified
                    }
                    .into(),
                    relay: String::new(),
                }),
                endpoint: endpoint.map(|e| e.to_string()).unwrap_or_default(),
            };
            if tx.send(Ok(reply)).await.is_err() {
                return;
            }
            if seq < count {
                tokio::time::sleep_until(started + gap).await;
            }
        }
    }))
}
