//! The controller's families for the Prometheus endpoint (`metrics listen=` in
//! controller.kdl): the running revision, nodes declared, registered and online, netmap
//! streams, how long changes take to reach published netmaps, and the control port's
//! handshakes and refused registrations. Read at each scrape from the hub and the port's
//! counters; docs/metrics.md lists every family.

use std::sync::Arc;

use cvlan_agent::metrics::{Collect, Registry, counters, gauge_value, gauges};

use crate::serve::Counts;
use crate::serve::hub::Hub;

/// The controller's metrics.
pub struct ControllerMetrics {
    hub: Arc<Hub>,
    port: Counts,
}

impl ControllerMetrics {
    /// The metrics of `hub` and of the control port that counts `port`.
    pub fn new(hub: Arc<Hub>, port: Counts) -> Self {
        Self { hub, port }
    }
}

impl Collect for ControllerMetrics {
    async fn collect(&self, registry: &mut Registry) {
        let generation = self.hub.newest();
        let (online, streams) = self.hub.online_counts();
        gauges(
            registry,
            "controller_revision",
            "The network.kdl revision the netmaps are computed from (0: none yet)",
        )
        .get_or_create(&Vec::new())
        .set(gauge_value(generation.revision));
        let nodes = gauges(
            registry,
            "controller_nodes",
            "Nodes: declared (in the running network.kdl), registered (with an unexpired key), \
             online (holding a netmap stream)",
        );
        for (state, n) in [
            ("declared", generation.declared.len()),
            ("registered", generation.maps.len()),
            ("online", online),
        ] {
            nodes
                .get_or_create(&vec![("state", state.to_owned())])
                .set(gauge_value(n));
        }
        gauges(
            registry,
            "controller_netmap_streams",
            "Netmap streams (WatchNetmap) open now",
        )
        .get_or_create(&Vec::new())
        .set(gauge_value(streams));
        registry.register(
            "controller_netmap_update_seconds",
            "Time from a change (apply, rollback, registration, endpoint report, node expiry or \
             deletion) to the published netmaps that include it, the 50 ms coalescing included",
            self.hub.update_seconds(),
        );
        let handshakes = counters(
            registry,
            "controller_handshakes",
            "Noise handshakes on the control port, by outcome",
        );
        for (outcome, n) in [
            ("accepted", self.port.handshakes_accepted()),
            ("failed", self.port.handshakes_failed()),
        ] {
            handshakes
                .get_or_create(&vec![("outcome", outcome.to_owned())])
                .inc_by(n);
        }
        counters(
            registry,
            "controller_registrations_refused",
            "Register calls refused (unknown, used or expired auth key, a name taken by \
             another machine)",
        )
        .get_or_create(&Vec::new())
        .inc_by(self.port.refused());
    }
}
