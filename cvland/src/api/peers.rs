//! The peer table: the running netmap's peers joined with the mesh's per-peer statistics
//! (by public key), the counts for `status`, and the live table of WatchPeers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cvlan_core::netmap::{Peer as NetmapPeer, PeerKind as CorePeerKind};
use cvlan_mesh::PublicKey;
use cvlan_mesh::device::MeshStats;
use cvlan_mesh::stats::PeerStats;
use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::local::BoxStream;
use cvlan_proto::v1;
use tokio::sync::watch;

use super::peer_table::{CHUNK, Next, PeerTable};
use crate::state::Shared;

/// A peer counts as connected while its last handshake is younger than this (WireGuard
/// rekeys every 2 minutes while traffic flows; sessions expire after 3).
pub const CONNECTED_WITHIN: Duration = Duration::from_secs(180);

/// The table now: one row per peer of the running netmap, sorted by name.
pub async fn rows(shared: &Shared) -> Vec<v1::Peer> {
    let (running, mesh) = shared.running();
    let Some(running) = running else {
        return Vec::new();
    };
    let stats = match mesh {
        Some(mesh) => mesh.stats().await.ok(),
        None => None,
    };
    let stats = stats.as_ref().map_or(&[][..], |s| &s.peers[..]);
    joined(&running.netmap.peers, stats, Clock::now())
}

/// One row per netmap peer, joined by public key with its entry in `stats` (if any).
pub fn joined(peers: &[NetmapPeer], stats: &[PeerStats], clock: Clock) -> Vec<v1::Peer> {
    let by_key: HashMap<PublicKey, &PeerStats> = stats.iter().map(|p| (p.public_key, p)).collect();
    peers
        .iter()
        .map(|p| {
            let st = p.public_key.as_ref().and_then(|k| by_key.get(k).copied());
            peer_row(p, st, clock)
        })
        .collect()
}

/// What status shows of the table, without building its rows.
pub async fn summary(shared: &Shared) -> (v1::PeerCounts, HashMap<String, u64>) {
    let (running, mesh) = shared.running();
    let Some(running) = running else {
        return Default::default();
    };
    // Connected peers are warm: status costs the active peers, not the configured ones.
    let stats = match mesh {
        Some(mesh) => mesh.warm_stats().await.ok(),
        None => None,
    };
    let now = Instant::now();
    let connected = stats
        .as_ref()
        .map_or(0, |s| s.peers.iter().filter(|p| connected(p, now)).count());
    let connected = u32::try_from(connected).unwrap_or(u32::MAX);
    let counts = v1::PeerCounts {
        total: u32::try_from(running.netmap.peers.len()).unwrap_or(u32::MAX),
        connected,
        direct: connected,
        relayed: 0,
    };
    (counts, stats.as_ref().map(drops).unwrap_or_default())
}

/// Whether a peer counts as connected at `now`.
fn connected(stats: &PeerStats, now: Instant) -> bool {
    stats
        .handshake_age(now)
        .is_some_and(|a| a < CONNECTED_WITHIN)
}

/// Data-plane drops by reason (only reasons with drops).
fn drops(stats: &MeshStats) -> HashMap<String, u64> {
    stats
        .engine
        .drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| (reason.as_str().to_owned(), n))
        .collect()
}

/// The two clocks a row is read against: handshake ages (monotonic) become wall times.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    mono: Instant,
    wall: SystemTime,
}

impl Clock {
    /// Both clocks now.
    pub fn now() -> Self {
        Self {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// One row: the netmap's peer joined with the engine's statistics for its key.
pub fn peer_row(p: &NetmapPeer, st: Option<&PeerStats>, clock: Clock) -> v1::Peer {
    let age = st.and_then(|s| s.handshake_age(clock.mono));
    let endpoint = st.and_then(|s| s.endpoint);
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
        last_handshake: age
            .and_then(|a| clock.wall.checked_sub(a))
            .map(whole_seconds),
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
        tunnel: match st {
            Some(s) if s.warm => v1::PeerTunnel::Warm,
            Some(_) => v1::PeerTunnel::Cold,
            None => v1::PeerTunnel::Unspecified,
        }
        .into(),
    }
}

/// The live table: the whole table (in chunks, the first marked `full`), then every
/// `interval` the rows that changed and the names that went away, read from the daemon's
/// shared [`PeerTable`]; the whole table again whenever the device restarted.
pub fn watch(
    shared: Arc<Shared>,
    table: Arc<PeerTable>,
    interval: Duration,
    stopping: watch::Receiver<bool>,
) -> BoxStream<v1::WatchPeersResponse> {
    let live = shared.agent.live.clone();
    live.spawn(stopping, |tx| async move {
        let _watching = table.watch().await;
        let mut seen = None;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let time = || Some(SystemTime::now().into());
            match table.next(&shared, seen).await {
                Next::Snapshot { version } => {
                    let mut after: Option<String> = None;
                    loop {
                        let peers = table.chunk(after.as_deref()).await;
                        let last = peers.len() < CHUNK;
                        let first = after.is_none();
                        after = peers.last().map(|p| p.name.clone());
                        let message = v1::WatchPeersResponse {
                            // The first chunk replaces the client's table; the rest add to it.
                            full: first,
                            peers,
                            removed: Vec::new(),
                            time: time(),
                        };
                        seen = Some(version);
                        if tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                        if last {
                            break;
                        }
                    }
                }
                Next::Delta {
                    version,
                    peers,
                    removed,
                } => {
                    seen = Some(version);
                    if peers.is_empty() && removed.is_empty() {
                        continue;
                    }
                    let message = v1::WatchPeersResponse {
                        full: false,
                        peers,
                        removed,
                        time: time(),
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
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
