//! The SA listing for the daemon's `Sas` view, shaped after `swanctl --list-sas`: each IKE
//! SA with its peer, state, SPIs, algorithms and times, and its child SAs with SPIs,
//! algorithms, traffic selectors, traffic counters and times.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::config::PeerId;
use super::endpoint::Endpoint;
use super::event::IkeSaId;
use super::sa::IkeState;
use crate::esp::TrafficCounters;
use crate::transforms::{EspProposal, IkeProposal, Name};
use crate::ts::TrafficSelector;

/// One IKE SA as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// Handle.
    pub id: IkeSaId,
    /// The peer, once identified.
    pub peer: Option<PeerId>,
    /// The peer's name, once identified.
    pub peer_name: Option<String>,
    /// Life-cycle state.
    pub state: IkeState,
    /// True if we initiated it.
    pub initiator: bool,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Our identity.
    pub local_id: Option<String>,
    /// The peer's identity.
    pub remote_id: Option<String>,
    /// Initiator SPI.
    pub spi_i: u64,
    /// Responder SPI.
    pub spi_r: u64,
    /// Negotiated algorithms.
    pub proposal: Option<IkeProposal>,
    /// We are behind a NAT (the peer saw another address than ours).
    pub nat_local: bool,
    /// The peer is behind a NAT, or pretends to be to force UDP encapsulation.
    pub nat_remote: bool,
    /// How long it has been established.
    pub established_for: Option<Duration>,
    /// Time until it is rekeyed.
    pub rekey_in: Option<Duration>,
    /// Its child SAs.
    pub children: Vec<ChildSaInfo>,
}

/// One child SA as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInfo {
    /// Our inbound SPI.
    pub spi_in: u32,
    /// The peer's inbound SPI.
    pub spi_out: u32,
    /// Negotiated algorithms.
    pub proposal: EspProposal,
    /// Our side's selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Traffic each way.
    pub counters: TrafficCounters,
    /// How long it has been installed.
    pub installed_for: Duration,
    /// Time until it is rekeyed (none once replaced or being deleted).
    pub rekey_in: Option<Duration>,
    /// True while it carries outbound traffic.
    pub outbound_active: bool,
}

impl IkeSaInfo {
    /// The algorithms as strongSwan writes them (`aes256gcm16-prfsha256-x25519`).
    pub fn algorithms(&self) -> Option<String> {
        self.proposal.map(|p| Name(p).to_string())
    }
}

impl ChildSaInfo {
    /// The algorithms as strongSwan writes them (`aes256gcm16`).
    pub fn algorithms(&self) -> String {
        Name(self.proposal).to_string()
    }
}

impl Endpoint {
    /// Every IKE SA with its children, ordered by handle.
    pub fn list_sas(&self, now: Instant) -> Vec<IkeSaInfo> {
        let mut out: Vec<IkeSaInfo> = self
            .sas
            .values()
            .map(|sa| {
                let cfg = sa.peer.and_then(|p| self.peer(p));
                let mut children: Vec<ChildSaInfo> = self
                    .core
                    .children
                    .values()
                    .filter(|c| c.ike == sa.id)
                    .map(|c| ChildSaInfo {
                        spi_in: c.esp.spi_in(),
                        spi_out: c.esp.spi_out(),
                        proposal: c.proposal,
                        local_ts: c.local_ts.clone(),
                        remote_ts: c.remote_ts.clone(),
                        counters: c.esp.counters(),
                        installed_for: now.saturating_duration_since(c.installed),
                        rekey_in: (c.replaced.is_none() && !c.deleting)
                            .then(|| c.rekey_at.saturating_duration_since(now)),
                        outbound_active: c.outbound_active,
                    })
                    .collect();
                children.sort_by_key(|c| c.spi_in);
                IkeSaInfo {
                    id: sa.id,
                    peer: sa.peer,
                    peer_name: cfg.map(|c| c.name.clone()),
                    state: sa.state,
                    initiator: sa.initiator,
                    local: sa.local,
                    remote: sa.remote,
                    local_id: cfg.map(|c| c.local_id.clone()),
                    remote_id: cfg.map(|c| c.remote_id.clone()),
                    spi_i: sa.spi_i,
                    spi_r: sa.spi_r,
                    proposal: sa.proposal,
                    nat_local: sa.nat_local,
                    nat_remote: sa.nat_remote,
                    established_for: sa.established.map(|t| now.saturating_duration_since(t)),
                    rekey_in: sa
                        .rekey_at
                        .filter(|_| sa.is_established())
                        .map(|t| t.saturating_duration_since(now)),
                    children,
                }
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}
