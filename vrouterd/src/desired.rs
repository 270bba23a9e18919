//! What this vrouter should be, derived from a checked network.kdl: its `vrouter` block (overlay
//! address, listen address) and each `ipsec-peer` as the endpoint's [`PeerConfig`] with its
//! secret read. Pure apart from reading the secrets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cvlan_core::{Entity, allocate};
use cvlan_ipsec::esp::TrafficLimits;
use cvlan_ipsec::ts::TrafficSelector;
use cvlan_ipsec::{PeerConfig, Psk};
use cvlan_schema::Spanned;
use cvlan_schema::model::{IpsecAuth, IpsecPeer, Network, Vrouter};
use cvlan_types::ports::{IKE_PORT, NATT_PORT};
use ipnet::IpNet;

use crate::secrets::{SecretError, read_secret};

/// Where IKE and NAT-T ESP are received when the vrouter block names no `listen`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), NATT_PORT);

/// One IPsec peer as the daemon runs it.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The endpoint's settings, with the secret.
    pub config: PeerConfig,
    /// SHA-256 of the secret, to notice a changed key.
    pub secret_digest: [u8; 32],
}

/// How a peer's settings differ from what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing differs.
    None,
    /// Proposals, lifetimes or DPD: the running SAs stay and pick them up at their next rekey.
    Tunables,
    /// Address, identities, secret or traffic selectors: the peer's SAs are torn down and set
    /// up again.
    Identity,
}

impl PeerSpec {
    /// The peer's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// How `newer` differs from `self`.
    pub fn change_to(&self, newer: &PeerSpec) -> Change {
        let (a, b) = (&self.config, &newer.config);
        if a.remote != b.remote
            || a.remote_port != b.remote_port
            || a.local_id != b.local_id
            || a.remote_id != b.remote_id
            || self.secret_digest != newer.secret_digest
            || a.local_ts != b.local_ts
            || a.remote_ts != b.remote_ts
        {
            Change::Identity
        } else if a.ike_proposals != b.ike_proposals
            || a.esp_proposals != b.esp_proposals
            || a.ike_lifetime != b.ike_lifetime
            || a.child_lifetime != b.child_lifetime
            || a.dpd != b.dpd
            || a.child_limits != b.child_limits
        {
            Change::Tunables
        } else {
            Change::None
        }
    }

    /// The peer's subnets (its remote traffic selectors) as prefixes, for routes and lookup.
    pub fn remote_prefixes(&self) -> Vec<IpNet> {
        self.config
            .remote_ts
            .iter()
            .filter_map(|ts| ts_prefix(ts.start, ts.end))
            .collect()
    }
}

/// The prefix spanning exactly `start..=end`, if the range is one.
pub(crate) fn ts_prefix(start: IpAddr, end: IpAddr) -> Option<IpNet> {
    let (s, e, bits) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return None,
    };
    let span = e.checked_sub(s)?.checked_add(1);
    let host_bits = match span {
        Some(n) if n.is_power_of_two() && s % n == 0 => n.trailing_zeros(),
        None if s == 0 => 128,
        _ => return None,
    };
    IpNet::new(start, (bits - host_bits) as u8).ok()
}

/// The whole desired state of the vrouter.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The network's name.
    pub network: String,
    /// Its tenant.
    pub tenant: String,
    /// The vrouter's overlay addresses with the overlay's prefix length (on the TUN).
    pub addresses: Vec<IpNet>,
    /// Where IKE (and NAT-T ESP) is received.
    pub listen: SocketAddr,
    /// The ipsec peers in file order.
    pub peers: Vec<PeerSpec>,
}

/// Why a valid network.kdl cannot run on this vrouter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// The file declares no vrouter of this name.
    #[error("network.kdl declares no `vrouter \"{0}\"` (this host's vrouterd.kdl names it)")]
    NoVrouter(String),
    /// A peer's secret could not be read.
    #[error("ipsec-peer `{peer}`: {source}")]
    Secret {
        /// The peer.
        peer: String,
        /// Why.
        source: SecretError,
    },
    /// A peer uses certificate authentication, which needs the controller's CA.
    #[error(
        "ipsec-peer `{0}`: `auth \"cert\"` needs certificates from the controller's CA, which this vrouter does not have yet; use `auth \"psk\"`"
    )]
    CertUnsupported(String),
    /// The listen port collides with the plain IKE port.
    #[error(
        "`listen` must not use port 500: it is the NAT-T port (4500); UDP 500 is bound beside it"
    )]
    ListenOn500,
}

/// The desired state of vrouter `name` in `network`, reading every peer's secret.
pub fn desired(network: &Network, name: &str) -> Result<Desired, DesiredError> {
    let (index, vrouter) = network
        .vrouters
        .iter()
        .enumerate()
        .find(|(_, v)| v.name.value == name)
        .ok_or_else(|| DesiredError::NoVrouter(name.to_owned()))?;
    let listen = vrouter.listen.as_ref().map_or(DEFAULT_LISTEN, |l| l.value);
    if listen.port() == IKE_PORT {
        return Err(DesiredError::ListenOn500);
    }
    Ok(Desired {
        network: network.name.value.clone(),
        tenant: network.tenant.value.clone(),
        addresses: addresses(network, index, vrouter),
        listen,
        peers: peers(vrouter)?,
    })
}

fn addresses(network: &Network, index: usize, vrouter: &Vrouter) -> Vec<IpNet> {
    let allocated = allocate(network).addresses(Entity::Vrouter(index));
    let mut ips: Vec<IpAddr> = allocated.ips().collect();
    if let Some(pinned) = &vrouter.address
        && !ips.contains(&pinned.value)
    {
        ips.insert(0, pinned.value);
    }
    ips.into_iter()
        .filter_map(|ip| {
            let prefix = match ip {
                IpAddr::V4(_) => network.overlay.value.prefix_len(),
                IpAddr::V6(_) => network.overlay6.as_ref()?.value.prefix_len(),
            };
            IpNet::new(ip, prefix).ok()
        })
        .collect()
}

fn peers(vrouter: &Vrouter) -> Result<Vec<PeerSpec>, DesiredError> {
    vrouter
        .peers
        .iter()
        .map(|peer| {
            let name = peer.name.value.clone();
            let IpsecAuth::Psk(source) = &peer.auth.value else {
                return Err(DesiredError::CertUnsupported(name));
            };
            let secret = read_secret(source).map_err(|source| DesiredError::Secret {
                peer: name.clone(),
                source,
            })?;
            Ok(PeerSpec {
                config: peer_config(peer, secret.psk),
                secret_digest: secret.digest,
            })
        })
        .collect()
}

/// The endpoint's settings for a network.kdl `ipsec-peer`, with its secret already read.
fn peer_config(peer: &IpsecPeer, psk: Psk) -> PeerConfig {
    let selectors = |nets: &[Spanned<IpNet>]| {
        nets.iter()
            .map(|n| TrafficSelector::from_net(n.value))
            .collect()
    };
    PeerConfig {
        name: peer.name.value.clone(),
        remote: peer.remote.value,
        remote_port: IKE_PORT,
        local_id: peer.local_id.value.clone(),
        remote_id: peer.remote_id.value.clone(),
        psk,
        local_ts: selectors(&peer.local_ts),
        remote_ts: selectors(&peer.remote_ts),
        ike_proposals: peer.ike_proposals.iter().map(|p| p.value).collect(),
        esp_proposals: peer.esp_proposals.iter().map(|p| p.value).collect(),
        ike_lifetime: peer.ike_lifetime.value,
        child_lifetime: peer.child_lifetime.value,
        dpd: peer.dpd.as_ref().map(|d| d.value),
        child_limits: TrafficLimits::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn traffic_selector_ranges_become_prefixes_when_they_are_one() {
        let p = |a: &str, b: &str| ts_prefix(a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(p("10.1.0.0", "10.1.0.255"), Some(net("10.1.0.0/24")));
        assert_eq!(p("10.1.0.7", "10.1.0.7"), Some(net("10.1.0.7/32")));
        assert_eq!(p("0.0.0.0", "255.255.255.255"), Some(net("0.0.0.0/0")));
        assert_eq!(
            p("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            Some(net("::/0"))
        );
        assert_eq!(p("fd00::", "fd00::ffff"), Some(net("fd00::/112")));
        assert_eq!(p("10.1.0.1", "10.1.0.4"), None);
        assert_eq!(p("10.1.0.9", "10.1.0.1"), None);
    }

    fn network(text: &str) -> Network {
        let checked = cvlan_schema::parse_network("network.kdl", text);
        assert!(checked.is_ok(), "{:?}", checked.diagnostics);
        checked.network.unwrap()
    }

    fn file_with(dir: &std::path::Path, name: &str, secret: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, secret).unwrap();
        path
    }

    #[test]
    fn the_vrouter_block_becomes_peers_with_secrets_and_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let psk = file_with(dir.path(), "psk", "secret-17\n");
        // The vrouter pair with a tenant, and gw's local-ts left to its default.
        let text = crate::harness::pair_network(&psk, &psk)
            .replace(r#"network "lab""#, r#"network "corp" tenant="acme""#)
            .replace("        local-ts \"10.1.0.0/24\"\n", "");
        let network = network(&text);
        let d = desired(&network, "gw").unwrap();
        assert_eq!((d.network.as_str(), d.tenant.as_str()), ("corp", "acme"));
        assert_eq!(
            d.addresses,
            vec![IpNet::new("100.64.0.1".parse().unwrap(), 10).unwrap()]
        );
        assert_eq!(d.listen, "10.0.0.1:4500".parse().unwrap());
        assert_eq!(d.peers.len(), 1);
        let p = &d.peers[0];
        assert_eq!(p.name(), "br");
        assert_eq!(p.remote_prefixes(), vec![net("10.2.0.0/24")]);
        assert_eq!(
            p.config.local_ts.len(),
            1,
            "local-ts defaults to the overlay"
        );
        assert_eq!(
            desired(&network, "other").unwrap_err(),
            DesiredError::NoVrouter("other".into())
        );

        let mut changed = p.clone();
        assert_eq!(p.change_to(&changed), Change::None);
        changed.config.dpd = None;
        assert_eq!(p.change_to(&changed), Change::Tunables);
        changed.secret_digest[0] ^= 1;
        assert_eq!(p.change_to(&changed), Change::Identity);
    }

    #[test]
    fn an_unreadable_secret_fails_the_whole_vrouter_and_names_the_peer() {
        let net = network(
            r#"network "corp" { overlay "100.64.0.0/10"; }
vrouter "gw" {
    public-key "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    ipsec-peer "b1" {
        remote "%any"
        id local="gw" remote="b1"
        auth "psk" secret-file="/nonexistent/cvlan-test/psk"
        remote-ts "192.168.1.0/24"
    }
}"#,
        );
        let e = desired(&net, "gw").unwrap_err();
        assert!(
            matches!(&e, DesiredError::Secret { peer, .. } if peer == "b1"),
            "{e}"
        );
        assert!(e.to_string().contains("/nonexistent/cvlan-test/psk"));
    }
}
