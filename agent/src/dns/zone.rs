//! The records a node's resolver answers with, built from its netmap (pure): A and AAAA for
//! the node itself and every peer it may see (the netmap holds only the visible-peer set),
//! PTR for their overlay addresses, and the reverse zones of the overlay ranges. A new zone
//! is built for every applied netmap and swapped in whole.

use std::collections::HashMap;
use std::net::IpAddr;

use cvlan_core::netmap::NetMap;
use hickory_proto::rr::{LowerName, Name};
use ipnet::IpNet;

/// How long a resolver may cache an answer, in seconds: short, since names follow applies.
pub const TTL: u32 = 60;

/// Why a netmap's names cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A name in the netmap is not a DNS name (too long, most likely).
    #[error("`{name}` cannot be served as a DNS name: {reason}")]
    Name {
        /// The name.
        name: String,
        /// What the DNS library said.
        reason: String,
    },
}

/// What the zone holds for one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'z> {
    /// A name of the domain with these addresses (IPv4 first).
    Host(&'z [IpAddr]),
    /// A reverse name of an overlay address that belongs to this host name.
    Pointer(&'z Name),
    /// The domain itself, or a reverse name inside an overlay: it exists, with no host record.
    Apex,
    /// Inside the domain or an overlay's reverse zone, but no such name.
    Missing,
    /// Not this resolver's to answer.
    Foreign,
}

/// The names one node's resolver answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    domain: Name,
    lower_domain: LowerName,
    hosts: HashMap<LowerName, Vec<IpAddr>>,
    pointers: HashMap<IpAddr, Name>,
    overlays: Vec<IpNet>,
}

impl Zone {
    /// The zone of `map`; `None` when the network has no `dns domain=`.
    pub fn from_netmap(map: &NetMap) -> Result<Option<Self>, ZoneError> {
        let Some(domain) = &map.network.dns_domain else {
            return Ok(None);
        };
        let domain = fqdn(domain)?;
        let mut hosts = HashMap::with_capacity(map.dns_records.len());
        let mut pointers = HashMap::new();
        for record in &map.dns_records {
            let name = fqdn(&record.name)?;
            for &address in &record.addresses {
                pointers.insert(address, name.clone());
            }
            hosts.insert(LowerName::new(&name), record.addresses.clone());
        }
        let mut overlays = vec![IpNet::V4(map.network.overlay)];
        overlays.extend(map.network.overlay6.map(IpNet::V6));
        Ok(Some(Self {
            lower_domain: LowerName::new(&domain),
            domain,
            hosts,
            pointers,
            overlays,
        }))
    }

    /// The domain, fully qualified.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// How many names and pointers the zone answers with.
    pub fn record_count(&self) -> usize {
        self.hosts.len() + self.pointers.len()
    }

    /// What the zone holds for `name`.
    pub fn find(&self, name: &LowerName) -> Found<'_> {
        if let Some(addresses) = self.hosts.get(name) {
            return Found::Host(addresses);
        }
        if *name == self.lower_domain {
            return Found::Apex;
        }
        if self.lower_domain.zone_of(name) {
            return Found::Missing;
        }
        self.find_reverse(name)
    }

    fn find_reverse(&self, name: &LowerName) -> Found<'_> {
        let Ok(net) = Name::from(name).parse_arpa_name() else {
            return Found::Foreign;
        };
        let host = net.max_prefix_len() == net.prefix_len();
        if host && let Some(target) = self.pointers.get(&net.addr()) {
            return Found::Pointer(target);
        }
        // A reverse name is ours when it lies inside an overlay: a host there is missing,
        // a shorter name (a reverse zone cut inside the overlay) exists without records.
        if self.overlays.iter().any(|o| o.contains(&net)) {
            return if host { Found::Missing } else { Found::Apex };
        }
        Found::Foreign
    }
}

/// `name` as a fully qualified DNS name.
fn fqdn(name: &str) -> Result<Name, ZoneError> {
    let error = |reason: String| ZoneError::Name {
        name: name.to_owned(),
        reason,
    };
    let mut parsed = Name::from_ascii(name).map_err(|e| error(e.to_string()))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
    use cvlan_core::netmap::netmap_for;
    use cvlan_schema::model::Selector;

    /// alpha sees bravo (a rule between them), not charlie (no rule reaches charlie).
    pub(in crate::dns) fn map_of(node: &str, domain: Option<&str>) -> NetMap {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        let mut builder = NetworkBuilder::new("corp")
            .overlay6("fd7a:115c:a1e0::/48".parse().expect("a prefix"))
            .node(NodeSpec::new("alpha").address(ip("100.64.0.1")))
            .node(NodeSpec::new("bravo").address(ip("100.64.0.2")))
            .node(NodeSpec::new("charlie").address(ip("100.64.0.3")))
            .rule(
                RuleSpec::allow("a-to-b")
                    .from(Selector::Node("alpha".into()))
                    .to(Selector::Node("bravo".into())),
            );
        if let Some(domain) = domain {
            builder = builder.dns_domain(domain);
        }
        let network = builder.build();
        netmap_for(&network, &cvlan_core::allocate(&network), node).expect("node exists")
    }

    fn lower(name: &str) -> LowerName {
        LowerName::new(&Name::from_ascii(name).expect("a name"))
    }

    #[test]
    fn no_domain_no_zone() {
        assert_eq!(Zone::from_netmap(&map_of("alpha", None)), Ok(None));
    }

    #[test]
    fn self_and_visible_peers_resolve_and_invisible_ones_do_not() {
        let zone = Zone::from_netmap(&map_of("alpha", Some("corp.cvlan")))
            .expect("valid")
            .expect("a zone");
        let Found::Host(alpha) = zone.find(&lower("alpha.corp.cvlan.")) else {
            panic!("alpha resolves on itself");
        };
        assert_eq!(alpha[0], "100.64.0.1".parse::<IpAddr>().expect("ip"));
        assert!(alpha.iter().any(IpAddr::is_ipv6), "AAAA too: {alpha:?}");
        assert!(matches!(
            zone.find(&lower("BRAVO.Corp.CVLAN.")),
            Found::Host(_)
        ));
        assert_eq!(zone.find(&lower("charlie.corp.cvlan.")), Found::Missing);
        assert_eq!(zone.find(&lower("corp.cvlan.")), Found::Apex);
        assert_eq!(zone.find(&lower("example.com.")), Found::Foreign);
        assert_eq!(zone.find(&lower("cvlan.")), Found::Foreign);
        // Two names with one IPv4 and one IPv6 address each: two hosts, four pointers.
        assert_eq!(zone.record_count(), 6);
        // charlie sees nobody but itself.
        let lonely = Zone::from_netmap(&map_of("charlie", Some("corp.cvlan")))
            .expect("valid")
            .expect("a zone");
        assert_eq!(lonely.find(&lower("alpha.corp.cvlan.")), Found::Missing);
        assert!(matches!(
            lonely.find(&lower("charlie.corp.cvlan.")),
            Found::Host(_)
        ));
    }

    #[test]
    fn overlay_addresses_have_pointers_and_the_rest_of_the_overlay_is_ours() {
        let map = map_of("alpha", Some("corp.cvlan"));
        let zone = Zone::from_netmap(&map).expect("valid").expect("a zone");
        let bravo = Name::from_ascii("bravo.corp.cvlan.").expect("name");
        assert_eq!(
            zone.find(&lower("2.0.64.100.in-addr.arpa.")),
            Found::Pointer(&bravo)
        );
        let bravo6 = map
            .peers
            .iter()
            .find(|p| p.name == "bravo")
            .and_then(|p| p.addresses.iter().find(|a| a.is_ipv6()))
            .copied()
            .expect("bravo has an IPv6 address");
        assert_eq!(
            zone.find(&LowerName::new(&Name::from(bravo6))),
            Found::Pointer(&bravo)
        );
        assert_eq!(
            zone.find(&lower("3.0.64.100.in-addr.arpa.")),
            Found::Missing,
            "charlie is invisible to alpha: no pointer"
        );
        assert_eq!(zone.find(&lower("64.100.in-addr.arpa.")), Found::Apex);
        assert_eq!(zone.find(&lower("8.8.8.8.in-addr.arpa.")), Found::Foreign);
        assert_eq!(zone.find(&lower("in-addr.arpa.")), Found::Foreign);
    }
}
