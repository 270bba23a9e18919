//! cvland's families for the agent's Prometheus endpoint (`metrics listen=` in cvland.kdl):
//! peers, per-peer traffic and handshakes, policy hits per rule and direction, data-plane
//! drops by reason. Read at each scrape from the mesh's statistics and its filter's counters,
//! as the local API reads them; docs/metrics.md lists every family.
//!
//! Per-peer series cover warm peers only (those holding a WireGuard session, which includes
//! every connected one), at most [`PEER_SERIES_MAX`] of them, the busiest first: a node with
//! 100,000 configured peers costs its active peers per scrape, not its configured ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cvlan_agent::metrics::{
    Collect, Labels, Registry, agent_families, counters, gauge_value, gauges,
};
use cvlan_mesh::PublicKey;
use cvlan_mesh::device::MeshStats;
use cvlan_mesh::stats::PeerStats;

use crate::api::peers::CONNECTED_WITHIN;
use crate::state::Shared;

/// The most peers that get per-peer series in one scrape.
pub const PEER_SERIES_MAX: usize = 1000;

/// The node's metrics, read from its shared state at each scrape.
pub struct NodeMetrics {
    shared: Arc<Shared>,
}

impl NodeMetrics {
    /// The metrics of the node `shared` describes.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Collect for NodeMetrics {
    async fn collect(&self, registry: &mut Registry) {
        agent_families(registry, &self.shared.agent);
        let (running, mesh) = self.shared.running();
        let stats = match &mesh {
            Some(mesh) => mesh.warm_stats().await.ok(),
            None => None,
        };
        let hits = crate::api::policy::hits(&self.shared).await.ok();
        let total = running.as_ref().map_or(0, |r| r.netmap.peers.len());
        let names: HashMap<PublicKey, &str> = match (&running, &stats) {
            (Some(running), Some(stats)) => peer_names(running, stats),
            _ => HashMap::new(),
        };
        let warm = stats.as_ref().map_or(&[][..], |s| &s.peers[..]);
        peer_families(registry, total, warm, &names);
        let drops = counters(
            registry,
            "drops",
            "Packets the data plane dropped since the device started, by reason",
        );
        if let Some(stats) = &stats {
            for (reason, n) in stats.engine.drops.iter() {
                drops
                    .get_or_create(&vec![("reason", reason.as_str().to_owned())])
                    .inc_by(n);
            }
        }
        let packets = counters(
            registry,
            "policy_hits_packets",
            "Packets the policy filter decided since the device started, by rule and direction \
             (rule=\"default-deny\" for packets no rule allowed)",
        );
        let bytes = counters(
            registry,
            "policy_hits_bytes",
            "Bytes of the packets the policy filter decided, by rule and direction",
        );
        for row in hits.iter().flat_map(|h| &h.rules) {
            for (direction, c) in [("inbound", row.inbound), ("outbound", row.outbound)] {
                let labels: Labels =
                    vec![("rule", row.rule.clone()), ("direction", direction.into())];
                let c = c.unwrap_or_default();
                packets.get_or_create(&labels).inc_by(c.packets);
                bytes.get_or_create(&labels).inc_by(c.bytes);
            }
        }
    }
}

/// The names of the warm peers in `stats`, by key, from the running netmap (one pass over
/// it, keeping only the keys asked for).
fn peer_names<'a>(
    running: &'a crate::state::Running,
    stats: &MeshStats,
) -> HashMap<PublicKey, &'a str> {
    let mut names: HashMap<PublicKey, &str> =
        stats.peers.iter().map(|p| (p.public_key, "")).collect();
    for peer in &running.netmap.peers {
        if let Some(name) = peer.public_key.as_ref().and_then(|k| names.get_mut(k)) {
            *name = peer.name.as_str();
        }
    }
    names.retain(|_, name| !name.is_empty());
    names
}

/// `cvlan_peers` and the per-peer families of the `warm` peers that have a name in `names`.
fn peer_families(
    registry: &mut Registry,
    total: usize,
    warm: &[PeerStats],
    names: &HashMap<PublicKey, &str>,
) {
    let now = Instant::now();
    let wall = SystemTime::now();
    let connected = warm
        .iter()
        .filter(|p| p.handshake_age(now).is_some_and(|a| a < CONNECTED_WITHIN))
        .count();
    let peers = gauges(
        registry,
        "peers",
        "Peers of this node: total (configured), warm (holding a session; the per-peer series \
         cover at most 1000 of them), connected (a handshake within 180 s)",
    );
    for (state, n) in [
        ("total", total),
        ("warm", warm.len()),
        ("connected", connected),
    ] {
        peers
            .get_or_create(&vec![("state", state.to_owned())])
            .set(gauge_value(n));
    }
    let rx = counters(
        registry,
        "peer_rx_bytes",
        "UDP payload bytes of authenticated WireGuard messages received from the peer",
    );
    let tx = counters(
        registry,
        "peer_tx_bytes",
        "UDP payload bytes of WireGuard messages sent to the peer",
    );
    let handshake = gauges(
        registry,
        "peer_last_handshake_seconds",
        "Unix time of the peer's last completed handshake (whole seconds)",
    );
    let mut named: Vec<(&str, &PeerStats)> = warm
        .iter()
        .filter_map(|p| names.get(&p.public_key).map(|n| (*n, p)))
        .collect();
    named.sort_unstable_by(|a, b| {
        let traffic = |p: &PeerStats| p.rx_bytes.saturating_add(p.tx_bytes);
        traffic(b.1).cmp(&traffic(a.1)).then(a.0.cmp(b.0))
    });
    for (name, p) in named.into_iter().take(PEER_SERIES_MAX) {
        let labels: Labels = vec![("peer", name.to_owned())];
        rx.get_or_create(&labels).inc_by(p.rx_bytes);
        tx.get_or_create(&labels).inc_by(p.tx_bytes);
        let at = p
            .handshake_age(now)
            .and_then(|a| wall.checked_sub(a))
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        if let Some(at) = at {
            handshake
                .get_or_create(&labels)
                .set(gauge_value(at.as_secs()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warm_peer(i: u32) -> PeerStats {
        let mut key = [7u8; 32];
        key[..4].copy_from_slice(&i.to_be_bytes());
        PeerStats {
            public_key: PublicKey(key),
            allowed_ips: Vec::new(),
            endpoint: None,
            static_endpoint: None,
            persistent_keepalive: None,
            last_handshake: None,
            handshakes: 0,
            handshake_attempts: 0,
            rx_bytes: u64::from(i),
            tx_bytes: 0,
            rx_packets: 0,
            tx_packets: 0,
            rx_dropped: 0,
            warm: true,
            handshake_rtt: None,
        }
    }

    #[test]
    fn per_peer_series_are_capped_to_the_busiest_warm_peers() {
        let warm: Vec<PeerStats> = (0..1500).map(warm_peer).collect();
        let names: Vec<String> = (0..1500).map(|i| format!("p{i:04}")).collect();
        let by_key: HashMap<PublicKey, &str> = warm
            .iter()
            .zip(&names)
            .map(|(p, n)| (p.public_key, n.as_str()))
            .collect();
        let mut registry = Registry::with_prefix("cvlan");
        peer_families(&mut registry, 100_000, &warm, &by_key);
        let text = cvlan_agent::metrics::text(&registry).expect("encodes");
        let rx: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("cvlan_peer_rx_bytes_total{"))
            .collect();
        assert_eq!(rx.len(), PEER_SERIES_MAX, "capped");
        assert!(text.contains("cvlan_peer_rx_bytes_total{peer=\"p1499\"} 1499"));
        assert!(text.contains("cvlan_peer_rx_bytes_total{peer=\"p0500\"} 500"));
        assert!(
            !text.contains("peer=\"p0499\""),
            "the quietest are left out"
        );
        assert!(text.contains("cvlan_peers{state=\"total\"} 100000"));
        assert!(text.contains("cvlan_peers{state=\"warm\"} 1500"));
        assert!(text.contains("cvlan_peers{state=\"connected\"} 0"));
    }
}
