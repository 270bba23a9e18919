//! What the endpoint is told: per-peer settings (a network.kdl `ipsec-peer`, as cvlan-vrouterd
//! builds it), the
//! pre-shared key newtype that never prints, and endpoint-wide tunables.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use cvlan_types::Remote;
use cvlan_types::ports::{IKE_PORT, NATT_PORT};
use zeroize::Zeroizing;

use crate::esp::TrafficLimits;
use crate::transforms::{EspProposal, IkeProposal};
use crate::ts::TrafficSelector;
use crate::wire::Identification;

/// A pre-shared key. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    /// Wraps secret bytes (read by the caller from a file or the environment).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// Handle of a configured peer inside an [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// One IPsec peer: who it is, how it authenticates, what may flow, which algorithms.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Peer name (for listings and events).
    pub name: String,
    /// Where the peer is; `Any` peers are only answered.
    pub remote: Remote,
    /// The peer's IKE port when we initiate (500).
    pub remote_port: u16,
    /// Our identity string (FQDN, e-mail address or IP address).
    pub local_id: String,
    /// The identity the peer must present.
    pub remote_id: String,
    /// The pre-shared key.
    pub psk: Psk,
    /// Our side's subnets.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's subnets.
    pub remote_ts: Vec<TrafficSelector>,
    /// IKE proposals in preference order.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals in preference order.
    pub esp_proposals: Vec<EspProposal>,
    /// IKE SA rekey time (the hard lifetime is 10 % longer).
    pub ike_lifetime: Duration,
    /// Child SA rekey time (the hard lifetime is 10 % longer).
    pub child_lifetime: Duration,
    /// Send a liveness check after this long without inbound traffic.
    pub dpd: Option<Duration>,
    /// Byte and packet limits of each child SA.
    pub child_limits: TrafficLimits,
}

impl PeerConfig {
    pub(crate) fn local_identity(&self) -> Identification {
        Identification::from_id_string(&self.local_id)
    }

    pub(crate) fn remote_identity(&self) -> Identification {
        Identification::from_id_string(&self.remote_id)
    }

    /// True if a datagram from `addr` may belong to this peer.
    pub(crate) fn accepts_from(&self, addr: IpAddr) -> bool {
        self.remote.accepts(addr)
    }
}

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our address as the peers should see it (unspecified if unknown: then we report
    /// ourselves as behind NAT, which only adds keepalives).
    pub local_ip: IpAddr,
    /// The plain IKE port (500).
    pub ike_port: u16,
    /// The NAT-T port carrying IKE with the non-ESP marker and ESP in UDP (4500).
    pub natt_port: u16,
    /// Half-open IKE SAs beyond which IKE_SA_INIT requests must carry a cookie.
    pub cookie_threshold: usize,
    /// How long a responder keeps a half-open IKE SA.
    pub half_open_timeout: Duration,
    /// First retransmission timeout; doubles each try.
    pub retransmit_base: Duration,
    /// Retransmissions before a request is given up and the IKE SA dies.
    pub retransmit_tries: u32,
    /// Interval of NAT keepalives when we are behind a NAT.
    pub keepalive_interval: Duration,
    /// How long a rekeyed child SA stays inbound-only before we delete it ourselves.
    pub rekeyed_child_grace: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            local_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ike_port: IKE_PORT,
            natt_port: NATT_PORT,
            cookie_threshold: 32,
            half_open_timeout: Duration::from_secs(30),
            retransmit_base: Duration::from_secs(2),
            retransmit_tries: 5,
            keepalive_interval: Duration::from_secs(20),
            rekeyed_child_grace: Duration::from_secs(30),
        }
    }
}
