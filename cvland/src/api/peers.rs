//! The peer table: the running netmap's peers joined with the mesh's per-peer statistics
//! (by public key), the counts for `status`, and the live table of WatchPeers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cvlan_core::netmap::PeerKind as CorePeerKind;
use cvlan_mesh::PublicKey;
use cvlan_mesh::stats::PeerStats;
use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::local::BoxStream;
use cvlan_proto::v1;
use tokio::sync::watch;

use crate::state::Shared;

/// A peer counts as connected while its last handshake is younger than this (WireGuard
/// rekeys every 2 minutes while traffic flows; sessions expire after 3).
pub const CONNECTED_WITHIN: Duration = Duration::from_secs(180);

/// The peer table and what status shows of it.
#[derive(Debug, Default)]
pub struct Rows {
    /// One row per peer of the running netmap, sorted by name.
    pub peers: Vec<v1::Peer>,
    /// Peer counts.
    pub counts: v1::PeerCounts,
    /// Data-plane drops by reason (only reasons with drops).
    pub drops: HashMap<String, u64>,
}

/// Reads the table now.
pub async fn rows(shared: &Shared) -> Rows {
    let (running, mesh) = shared.running();
    let Some(running) = running else {
        return Rows::default();
    };
    let stats = match mesh {
        Some(mesh) => mesh.stats().await.ok(),
        None => None,
    };
    let now_mono = Instant::now();
    let now = SystemTime::now();
    let by_key: HashMap<PublicKey, &PeerStats> = stats
        .as_ref()
        .map(|s| s.peers.iter().map(|p| (p.public_key, p)).collect())
        .unwrap_or_default();
    let mut counts = v1::PeerCounts::default();
    let peers: Vec<v1::Peer> = running
        .netmap
        .peers
        .iter()
        .map(|p| {
            let st = p.public_key.as_ref().and_then(|k| by_key.get(k)).copied();
            let age = st.and_then(|s| s.handshake_age(now_mono));
            let endpoint = st.and_then(|s| s.endpoint);
            let connected = age.is_some_and(|a| a < CONNECTED_WITHIN);
            counts.total += 1;
            if connected {
                counts.connected += 1;
                counts.direct += 1;
            }
            let mut candidates: Vec<String> = p.endpoints.iter().map(ToString::to_string).collect();
            if let Some(e) = endpoint
                .map(|e| e.to_string())
                .filter(|e| !candidates.contains(e))
            {
                candidates.push(e);
            }
            v1::Peer {
                name: p.name.clone(),
                kind: match p.kind {
                    CorePeerKind::Node => v1::PeerKind::Node,
                    CorePeerKind::Vrouter => v1::PeerKind::Vrouter,
                }
                .into(),
                addresses: p.addresses.iter().map(ToString::to_string).collect(),
                public_key: p.public_key.as_ref().map(key_to_bytes).unwrap_or_default(),
                endpoint: endpoint.map(|e| e.to_string()).unwrap_or_default(),
                path: Some(v1::PeerPath {
                    kind: if endpoint.is_some() && age.is_some() {
                        v1::PathKind::Direct
                    } else {
                        v1::PathKind::Unspecified
                    }
                    .into(),
                    relay: String::new(),
                }),
                last_handshake: age.and_then(|a| now.checked_sub(a)).map(whole_seconds),
                rx_bytes: st.map_or(0, |s| s.rx_bytes),
                tx_bytes: st.map_or(0, |s| s.tx_bytes),
                rx_packets: st.map_or(0, |s| s.rx_packets),
                tx_packets: st.map_or(0, |s| s.tx_packets),
                latency: st
                    .and_then(|s| s.handshake_rtt)
                    .and_then(|d| prost_types::Duration::try_from(d).ok()),
                allowed_ips: p.allowed_ips.iter().map(ToString::to_string).collect(),
                candidate_endpoints: candidates,
                owner: p.owner.clone().unwrap_or_default(),
                tags: p.tags.clone(),
                dropped_packets: st.map_or(0, |s| s.rx_dropped),
            }
        })
        .collect();
    let drops = stats
        .map(|s| {
            s.engine
                .drops
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(reason, n)| (reason.as_str().to_owned(), n))
                .collect()
        })
        .unwrap_or_default();
    Rows {
        peers,
        counts,
        drops,
    }
}

/// The live table: a full snapshot, then every `interval` the rows that changed and the names
/// that went away; a full snapshot again whenever the device restarted.
pub fn watch(
    shared: Arc<Shared>,
    interval: Duration,
    stopping: watch::Receiver<bool>,
) -> BoxStream<v1::WatchPeersResponse> {
    let live = shared.agent.live.clone();
    live.spawn(stopping, |tx| async move {
        let mut previous: BTreeMap<String, v1::Peer> = BTreeMap::new();
        let mut generation = None;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let current_generation = shared.read().generation;
            let rows = rows(&shared).await;
            let full = generation != Some(current_generation);
            generation = Some(current_generation);
            let current: BTreeMap<String, v1::Peer> = rows
                .peers
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect();
            let update = if full {
                v1::WatchPeersResponse {
                    full: true,
                    peers: current.values().cloned().collect(),
                    removed: Vec::new(),
                    time: Some(SystemTime::now().into()),
                }
            } else {
                let changed: Vec<v1::Peer> = current
                    .iter()
                    .filter(|(name, row)| previous.get(*name) != Some(*row))
                    .map(|(_, row)| row.clone())
                    .collect();
                let removed: Vec<String> = previous
                    .keys()
                    .filter(|name| !current.contains_key(*name))
                    .cloned()
                    .collect();
                if changed.is_empty() && removed.is_empty() {
                    previous = current;
                    continue;
                }
                v1::WatchPeersResponse {
                    full: false,
                    peers: changed,
                    removed,
                    time: Some(SystemTime::now().into()),
                }
            };
            previous = current;
            if tx.send(Ok(update)).await.is_err() {
                return;
            }
        }
    })
}

/// A time as a timestamp truncated to whole seconds, so a row read twice compares equal.
fn whole_seconds(t: SystemTime) -> prost_types::Timestamp {
    let mut ts = prost_types::Timestamp::from(t);
    ts.nanos = 0;
    ts
}
