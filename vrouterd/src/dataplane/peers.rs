//! The peers the driver runs: each network.kdl `ipsec-peer` with its endpoint handle, the
//! lookup from inner destination to peer (its remote traffic selectors), and when to set up
//! an IKE SA again for peers with a fixed address, with exponential backoff.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cvlan_ipsec::{Endpoint, PeerId};
use cvlan_mesh::routing::CryptokeyRoutes;
use cvlan_types::Remote;

use crate::desired::PeerSpec;
use crate::plan::{PeerPlan, plan};

/// The first pause after an unreachable or dead peer; doubles per failure up to the cap.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(60);
/// The first pause after an authentication or proposal mismatch (it needs an operator).
const MISMATCH_BASE: Duration = Duration::from_secs(30);
const MISMATCH_CAP: Duration = Duration::from_secs(600);

/// One running peer.
struct Slot {
    spec: PeerSpec,
    id: PeerId,
    failures: u32,
    /// When to make sure it has an IKE SA (peers with a fixed address only).
    retry_at: Option<Instant>,
}

/// Every running peer, by name.
#[derive(Default)]
pub(crate) struct Peers {
    slots: BTreeMap<String, Slot>,
    /// Names by handle, kept for removed peers until their last events are reported.
    names: HashMap<PeerId, String>,
    routes: CryptokeyRoutes,
}

impl Peers {
    /// The specs that run now, by name.
    fn running(&self) -> BTreeMap<String, PeerSpec> {
        self.slots
            .iter()
            .map(|(n, s)| (n.clone(), s.spec.clone()))
            .collect()
    }

    /// Applies `desired` to the endpoint as a diff; `adjust` fixes each config for the
    /// sockets actually bound (the peer's IKE port).
    pub(crate) fn apply(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        desired: Vec<PeerSpec>,
        adjust: impl Fn(&mut cvlan_ipsec::PeerConfig),
    ) -> PeerPlan {
        let plan = plan(&self.running(), &desired);
        for name in plan.removed.iter().chain(&plan.replaced) {
            if let Some(slot) = self.slots.remove(name) {
                // Known to the endpoint: it was added by us.
                let _ = ep.remove_peer(now, slot.id);
            }
        }
        for spec in desired {
            let name = spec.name().to_owned();
            let mut config = spec.config.clone();
            adjust(&mut config);
            if plan.updated.contains(&name) {
                if let Some(slot) = self.slots.get_mut(&name) {
                    let _ = ep.update_peer(slot.id, config);
                    slot.spec = spec;
                }
                continue;
            }
            if self.slots.contains_key(&name) {
                continue;
            }
            let initiate = matches!(config.remote, Remote::Address(_));
            let id = ep.add_peer(config);
            self.names.insert(id, name.clone());
            self.slots.insert(
                name,
                Slot {
                    spec,
                    id,
                    failures: 0,
                    retry_at: initiate.then_some(now),
                },
            );
        }
        self.rebuild_routes();
        plan
    }

    fn rebuild_routes(&mut self) {
        self.routes = CryptokeyRoutes::default();
        for slot in self.slots.values() {
            for net in slot.spec.remote_prefixes() {
                self.routes.insert(net, slot.id.0);
            }
        }
    }

    /// The peer whose remote traffic selectors hold `dst`.
    pub(crate) fn route(&self, dst: std::net::IpAddr) -> Option<PeerId> {
        self.routes.lookup(dst).map(PeerId)
    }

    /// A peer's name (also shortly after it was removed).
    pub(crate) fn name(&self, id: PeerId) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("peer#{}", id.0))
    }

    /// Forgets the names of peers that no longer run (after their events were reported).
    pub(crate) fn forget_removed(&mut self) {
        let live: Vec<PeerId> = self.slots.values().map(|s| s.id).collect();
        self.names.retain(|id, _| live.contains(id));
    }

    /// Number of peers, and of those with an established IKE SA.
    pub(crate) fn counts(&self, ep: &Endpoint, now: Instant) -> (u32, u32) {
        let sas = ep.list_sas(now);
        let up = self
            .slots
            .values()
            .filter(|s| {
                sas.iter()
                    .any(|sa| sa.peer == Some(s.id) && sa.established_for.is_some())
            })
            .count();
        (self.slots.len() as u32, up as u32)
    }

    /// The peer has an IKE SA: reset its backoff.
    pub(crate) fn up(&mut self, id: PeerId) {
        if let Some(slot) = self.slot_mut(id) {
            slot.failures = 0;
        }
    }

    /// The peer lost its IKE SA or failed to get one: try again after the backoff (only for
    /// peers we initiate to).
    pub(crate) fn failed(&mut self, id: PeerId, mismatch: bool, now: Instant) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        if !matches!(slot.spec.config.remote, Remote::Address(_)) {
            return;
        }
        slot.failures = slot.failures.saturating_add(1);
        let delay = backoff(slot.failures, mismatch);
        tracing::debug!(peer = %slot.spec.name(), ?delay, "IKE SA set up again later");
        slot.retry_at = Some(now + delay);
    }

    fn slot_mut(&mut self, id: PeerId) -> Option<&mut Slot> {
        self.slots.values_mut().find(|s| s.id == id)
    }

    /// When [`Peers::initiate_due`] next has work.
    pub(crate) fn next_retry(&self) -> Option<Instant> {
        self.slots.values().filter_map(|s| s.retry_at).min()
    }

    /// Starts an IKE SA for every due peer that has none (in any state).
    pub(crate) fn initiate_due(&mut self, ep: &mut Endpoint, now: Instant) {
        if self.next_retry().is_none_or(|t| t > now) {
            return;
        }
        let sas = ep.list_sas(now);
        for slot in self.slots.values_mut() {
            if slot.retry_at.is_none_or(|t| t > now) {
                continue;
            }
            slot.retry_at = None;
            if sas.iter().any(|sa| sa.peer == Some(slot.id)) {
                continue;
            }
            if let Err(e) = ep.initiate(now, slot.id) {
                tracing::warn!(peer = %slot.spec.name(), error = %e, "cannot initiate");
            }
        }
    }

    /// The handles of every running peer.
    pub(crate) fn ids(&self) -> Vec<PeerId> {
        self.slots.values().map(|s| s.id).collect()
    }
}

/// The pause before attempt `failures + 1`.
fn backoff(failures: u32, mismatch: bool) -> Duration {
    let (base, cap) = if mismatch {
        (MISMATCH_BASE, MISMATCH_CAP)
    } else {
        (RETRY_BASE, RETRY_CAP)
    };
    base.saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_mismatches_wait_longer() {
        assert_eq!(backoff(1, false), Duration::from_secs(1));
        assert_eq!(backoff(2, false), Duration::from_secs(2));
        assert_eq!(backoff(7, false), Duration::from_secs(60));
        assert_eq!(backoff(100, false), Duration::from_secs(60));
        assert_eq!(backoff(1, true), Duration::from_secs(30));
        assert_eq!(backoff(9, true), Duration::from_secs(600));
    }
}
