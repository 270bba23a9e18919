//! cvlan-vrouterd's families for the agent's Prometheus endpoint (`metrics listen=` in
//! vrouterd.kdl): IPsec peers, IKE and child SAs by state, per-peer ESP traffic, IKE and ESP
//! messages, and drops by reason. Read at each scrape from the data plane's SA snapshot, as the
//! local API's `Sas` reads it; docs/metrics.md lists every family.
//!
//! Label sets are bounded by network.kdl (peer names) and the code (states, reasons,
//! directions): no SPI, address or traffic selector is a label.

use std::collections::BTreeMap;
use std::sync::Arc;

use cvlan_agent::metrics::{Collect, Registry, agent_families, counters, gauge_value, gauges};
use cvlan_ipsec::DropReason;
use cvlan_proto::v1::IkeSaState;

use crate::api::ike_state;
use crate::daemon::Shared;
use crate::dataplane::SasSnapshot;

/// The vrouter's metrics, read from its shared state at each scrape.
pub(crate) struct VrouterMetrics {
    shared: Arc<Shared>,
}

impl VrouterMetrics {
    /// The metrics of the vrouter `shared` describes.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Collect for VrouterMetrics {
    async fn collect(&self, registry: &mut Registry) {
        agent_families(registry, &self.shared.agent);
        // A data plane that stopped answering leaves its families out of this scrape.
        if let Ok(snapshot) = self.shared.dataplane.sas().await {
            ipsec_families(registry, &snapshot);
        }
    }
}

/// The states IKE SAs are counted under, each always served.
const IKE_STATES: [IkeSaState; 4] = [
    IkeSaState::Connecting,
    IkeSaState::Established,
    IkeSaState::Rekeying,
    IkeSaState::Deleting,
];

/// The label of `state`: the local API's name, lowercase (`established`).
fn state_label(state: IkeSaState) -> String {
    state
        .as_str_name()
        .trim_start_matches("IKE_SA_STATE_")
        .to_ascii_lowercase()
}

/// Every family of the data plane's `snapshot`.
fn ipsec_families(registry: &mut Registry, snapshot: &SasSnapshot) {
    let peers = gauges(
        registry,
        "ipsec_peers",
        "IPsec peers of this vrouter: total (configured), up (an established IKE SA)",
    );
    for (state, n) in [("total", snapshot.peers_total), ("up", snapshot.peers_up)] {
        peers
            .get_or_create(&vec![("state", state.to_owned())])
            .set(i64::from(n));
    }

    let mut by_state: BTreeMap<String, usize> = IKE_STATES
        .into_iter()
        .map(|s| (state_label(s), 0))
        .collect();
    // Per peer: ESP payload bytes in and out of its current child SAs.
    let mut traffic: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut children = 0;
    for sa in &snapshot.sas {
        *by_state
            .entry(state_label(ike_state(sa.state)))
            .or_default() += 1;
        children += sa.children.iter().filter(|c| c.outbound_active).count();
        if let Some(peer) = sa.peer_name.as_deref() {
            let t = traffic.entry(peer).or_default();
            for c in &sa.children {
                t.0 = t.0.saturating_add(c.counters.bytes_in);
                t.1 = t.1.saturating_add(c.counters.bytes_out);
            }
        }
    }
    let ike = gauges(registry, "ike_sas", "IKE SAs now, by state");
    for (state, n) in by_state {
        ike.get_or_create(&vec![("state", state)])
            .set(gauge_value(n));
    }
    gauges(
        registry,
        "child_sas",
        "Child SAs carrying outbound traffic now",
    )
    .get_or_create(&Vec::new())
    .set(gauge_value(children));

    let rx = counters(
        registry,
        "ipsec_peer_rx_bytes",
        "Bytes decrypted from the peer's current child SAs (a rekey starts them from zero)",
    );
    let tx = counters(
        registry,
        "ipsec_peer_tx_bytes",
        "Bytes encrypted into the peer's current child SAs (a rekey starts them from zero)",
    );
    for (peer, (bytes_in, bytes_out)) in traffic {
        let labels = vec![("peer", peer.to_owned())];
        rx.get_or_create(&labels).inc_by(bytes_in);
        tx.get_or_create(&labels).inc_by(bytes_out);
    }

    let stats = &snapshot.stats;
    let mut directions = |name: &str, help: &str, inbound: u64, outbound: u64| {
        let family = counters(registry, name, help);
        for (direction, n) in [("in", inbound), ("out", outbound)] {
            family
                .get_or_create(&vec![("direction", direction.to_owned())])
                .inc_by(n);
        }
    };
    directions(
        "ike_messages",
        "IKE messages received and sent since the data plane started",
        stats.ike_in,
        stats.ike_out,
    );
    directions(
        "esp_packets",
        "ESP packets received and sent since the data plane started",
        stats.esp_in,
        stats.esp_out,
    );
    counters(
        registry,
        "ike_retransmits",
        "IKE requests sent again for want of an answer",
    )
    .get_or_create(&Vec::new())
    .inc_by(stats.retransmits);

    let drops = counters(
        registry,
        "drops",
        "Packets the data plane dropped since it started, by reason",
    );
    let reasons = DropReason::ALL
        .iter()
        .map(|r| (r.name(), stats.dropped(*r)))
        .chain([
            ("no_route", snapshot.counters.no_route),
            ("no_child_sa", snapshot.counters.no_child_sa),
        ]);
    for (reason, n) in reasons {
        drops
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc_by(n);
    }
}
