//! The desired peer set handed to the engine, and the summary of applying it.

use std::net::SocketAddr;

use cvlan_types::PublicKey;
use ipnet::IpNet;
use zeroize::Zeroizing;

/// One peer as the daemon wants it (from the netmap).
#[derive(Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's WireGuard public key; identifies the peer.
    pub public_key: PublicKey,
    /// Prefixes the peer may send from and that are routed to it.
    pub allowed_ips: Vec<IpNet>,
    /// A known endpoint; authenticated packets from elsewhere still move it (roaming).
    pub endpoint: Option<SocketAddr>,
    /// Send a keepalive when nothing was sent for this many seconds (NAT mappings).
    pub persistent_keepalive: Option<u16>,
    /// Optional pre-shared key mixed into the handshake.
    pub preshared_key: Option<Zeroizing<[u8; 32]>>,
}

impl PeerConfig {
    /// A peer with the given key and allowed IPs, no endpoint, keepalive or PSK.
    pub fn new(public_key: PublicKey, allowed_ips: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            public_key,
            allowed_ips: allowed_ips.into_iter().collect(),
            endpoint: None,
            persistent_keepalive: None,
            preshared_key: None,
        }
    }

    /// Sets the static endpoint.
    pub fn with_endpoint(mut self, endpoint: SocketAddr) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Sets the persistent keepalive interval in seconds.
    pub fn with_keepalive(mut self, seconds: u16) -> Self {
        self.persistent_keepalive = Some(seconds);
        self
    }
}

impl std::fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("public_key", &self.public_key)
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field(
                "preshared_key",
                &self.preshared_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What [`crate::Engine::set_peers`] changed; empty when the desired set was already running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSetChanges {
    /// Peers created (new keys).
    pub added: Vec<PublicKey>,
    /// Peers dropped (keys no longer desired).
    pub removed: Vec<PublicKey>,
    /// Peers whose allowed IPs, endpoint or keepalive changed in place (session kept).
    pub updated: Vec<PublicKey>,
    /// Peers recreated because their pre-shared key changed (new session).
    pub rekeyed: Vec<PublicKey>,
}

impl PeerSetChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.updated.is_empty()
            && self.rekeyed.is_empty()
    }
}

impl std::fmt::Display for PeerSetChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no changes");
        }
        write!(
            f,
            "{} added, {} removed, {} updated, {} rekeyed",
            self.added.len(),
            self.removed.len(),
            self.updated.len(),
            self.rekeyed.len()
        )
    }
}
