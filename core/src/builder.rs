//! Building [`Network`] values in Rust, without a file: for generators ([`crate::synth`]),
//! property tests and any caller that assembles a network programmatically. Every item gets a
//! distinct synthetic span (in source 0) so diagnostics about built networks still point at
//! distinct places.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cvlan_schema::model::{
    Action, Group, HostPort, IpsecAuth, IpsecPeer, Network, Node, PolicyTest, PortItem, PortRange,
    Proto, Relay, Remote, Rule, Selector, TestCase, TestEndpoint, TestPort, Transport, Verdict,
    Vrouter,
};
use cvlan_schema::{PublicKey, SourceId, Span, Spanned};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Builds a [`Network`] item by item.
#[derive(Debug, Clone)]
pub struct NetworkBuilder {
    network: Network,
    next_offset: usize,
}

/// A node under construction; add it with [`NetworkBuilder::node`].
#[derive(Debug, Clone)]
pub struct NodeSpec {
    name: String,
    owner: Option<String>,
    tags: Vec<String>,
    key: Option<PublicKey>,
    addresses: Vec<IpAddr>,
    endpoints: Vec<SocketAddr>,
    routes: Vec<IpNet>,
    home_relay: Option<String>,
}

/// A vrouter under construction; add it with [`NetworkBuilder::vrouter`].
#[derive(Debug, Clone)]
pub struct VrouterSpec {
    name: String,
    address: Option<IpAddr>,
    key: Option<PublicKey>,
    peers: Vec<(String, Vec<IpNet>)>,
}

/// A policy rule under construction; add it with [`NetworkBuilder::rule`].
#[derive(Debug, Clone)]
pub struct RuleSpec {
    action: Action,
    name: String,
    from: Vec<Selector>,
    to: Vec<Selector>,
    proto: Option<Proto>,
    ports: Vec<PortItem>,
}

impl NetworkBuilder {
    /// A network named `name` with the defaults of network-kdl.md (overlay `100.64.0.0/10`,
    /// tenant `default`, listen port 51820) and nothing in it.
    pub fn new(name: &str) -> Self {
        let mut b = Self {
            network: Network::default(),
            next_offset: 0,
        };
        b.network.span = b.span();
        b.network.name = b.spanned(name.to_string());
        b
    }

    fn span(&mut self) -> Span {
        self.next_offset += 1;
        Span::new(SourceId(0), self.next_offset, 1)
    }

    fn spanned<T>(&mut self, value: T) -> Spanned<T> {
        let span = self.span();
        Spanned::new(value, span)
    }

    /// Sets the IPv4 overlay.
    pub fn overlay(mut self, net: Ipv4Net) -> Self {
        self.network.overlay = self.spanned(net);
        self
    }

    /// Sets the IPv6 overlay.
    pub fn overlay6(mut self, net: Ipv6Net) -> Self {
        self.network.overlay6 = Some(self.spanned(net));
        self
    }

    /// Sets the DNS domain.
    pub fn dns_domain(mut self, domain: &str) -> Self {
        self.network.dns_domain = Some(self.spanned(domain.to_string()));
        self
    }

    /// Adds a relay.
    pub fn relay(mut self, name: &str, region: &str, address: HostPort, key: PublicKey) -> Self {
        let relay = Relay {
            name: self.spanned(name.to_string()),
            region: self.spanned(region.to_string()),
            address: self.spanned(address),
            public_key: self.spanned(key),
            span: self.span(),
        };
        self.network.relays.push(relay);
        self
    }

    /// Adds a group with these members.
    pub fn group<'a>(mut self, name: &str, members: impl IntoIterator<Item = &'a str>) -> Self {
        let members = members
            .into_iter()
            .map(|m| self.spanned(m.to_string()))
            .collect();
        let group = Group {
            name: self.spanned(name.to_string()),
            members,
            span: self.span(),
        };
        self.network.groups.push(group);
        self
    }

    /// Adds a node.
    pub fn node(mut self, spec: NodeSpec) -> Self {
        let node = Node {
            name: self.spanned(spec.name),
            owner: spec.owner.map(|o| self.spanned(o)),
            tags: spec.tags.into_iter().map(|t| self.spanned(t)).collect(),
            public_key: spec.key.map(|k| self.spanned(k)),
            addresses: spec
                .addresses
                .into_iter()
                .map(|a| self.spanned(a))
                .collect(),
            endpoints: spec
                .endpoints
                .into_iter()
                .map(|e| self.spanned(e))
                .collect(),
            protocols: Vec::new(),
            routes: spec.routes.into_iter().map(|r| self.spanned(r)).collect(),
            home_relay: spec.home_relay.map(|r| self.spanned(r)),
            span: self.span(),
        };
        self.network.nodes.push(node);
        self
    }

    /// Adds a vrouter with its IPsec peers (each with its remote traffic selectors).
    pub fn vrouter(mut self, spec: VrouterSpec) -> Self {
        let peers = spec
            .peers
            .into_iter()
            .map(|(name, remote_ts)| IpsecPeer {
                name: self.spanned(name.clone()),
                remote: self.spanned(Remote::Any),
                local_id: self.spanned(format!("{}.local", spec.name)),
                remote_id: self.spanned(format!("{name}.remote")),
                auth: self.spanned(IpsecAuth::Cert),
                local_ts: vec![self.spanned(IpNet::V4(self.network.overlay.value))],
                remote_ts: remote_ts.into_iter().map(|t| self.spanned(t)).collect(),
                ike_proposals: Vec::new(),
                esp_proposals: Vec::new(),
                ike_lifetime: self.spanned(Duration::from_secs(24 * 3600)),
                child_lifetime: self.spanned(Duration::from_secs(3600)),
                dpd: None,
                span: self.span(),
            })
            .collect();
        let vrouter = Vrouter {
            name: self.spanned(spec.name),
            address: spec.address.map(|a| self.spanned(a)),
            public_key: spec.key.map(|k| self.spanned(k)),
            listen: None,
            peers,
            span: self.span(),
        };
        self.network.vrouters.push(vrouter);
        self
    }

    /// Appends a policy rule (rules keep the order they are added in).
    pub fn rule(mut self, spec: RuleSpec) -> Self {
        let rule = Rule {
            action: spec.action,
            name: self.spanned(spec.name),
            from: spec.from.into_iter().map(|s| self.spanned(s)).collect(),
            to: spec.to.into_iter().map(|s| self.spanned(s)).collect(),
            proto: spec.proto.map(|p| self.spanned(p)),
            ports: spec.ports.into_iter().map(|p| self.spanned(p)).collect(),
            span: self.span(),
        };
        self.network.rules.push(rule);
        self
    }

    /// Adds a `policy-test` block with these `(expect, from, to, port)` cases.
    pub fn test(
        mut self,
        name: &str,
        cases: impl IntoIterator<Item = (Verdict, TestEndpoint, TestEndpoint, TestPort)>,
    ) -> Self {
        let cases = cases
            .into_iter()
            .map(|(expect, from, to, port)| TestCase {
                expect,
                from: self.spanned(from),
                to: self.spanned(to),
                port: self.spanned(port),
                span: self.span(),
            })
            .collect();
        let test = PolicyTest {
            name: self.spanned(name.to_string()),
            cases,
            span: self.span(),
        };
        self.network.tests.push(test);
        self
    }

    /// The network built so far.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network.
    pub fn build(self) -> Network {
        self.network
    }
}

impl NodeSpec {
    /// A node named `name` with nothing else set.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            owner: None,
            tags: Vec::new(),
            key: None,
            addresses: Vec::new(),
            endpoints: Vec::new(),
            routes: Vec::new(),
            home_relay: None,
        }
    }

    /// Sets the owner.
    pub fn owner(mut self, email: &str) -> Self {
        self.owner = Some(email.to_string());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_string());
        self
    }

    /// Sets the public key.
    pub fn key(mut self, key: PublicKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Pins an overlay address.
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.addresses.push(addr);
        self
    }

    /// Adds a static endpoint.
    pub fn endpoint(mut self, endpoint: SocketAddr) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Adds a routed prefix (subnet router).
    pub fn route(mut self, net: IpNet) -> Self {
        self.routes.push(net);
        self
    }

    /// Pins the home relay.
    pub fn home_relay(mut self, relay: &str) -> Self {
        self.home_relay = Some(relay.to_string());
        self
    }
}

impl VrouterSpec {
    /// A vrouter named `name` without peers.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            address: None,
            key: None,
            peers: Vec::new(),
        }
    }

    /// Pins its overlay address.
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.address = Some(addr);
        self
    }

    /// Sets its public key.
    pub fn key(mut self, key: PublicKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Adds an IPsec peer (dial-in, certificate auth) with these remote traffic selectors.
    pub fn ipsec_peer(mut self, name: &str, remote_ts: impl IntoIterator<Item = IpNet>) -> Self {
        self.peers
            .push((name.to_string(), remote_ts.into_iter().collect()));
        self
    }
}

impl RuleSpec {
    /// An `allow` rule named `name` with no selectors yet.
    pub fn allow(name: &str) -> Self {
        Self::new(Action::Allow, name)
    }

    /// A `deny` rule named `name` with no selectors yet.
    pub fn deny(name: &str) -> Self {
        Self::new(Action::Deny, name)
    }

    fn new(action: Action, name: &str) -> Self {
        Self {
            action,
            name: name.to_string(),
            from: Vec::new(),
            to: Vec::new(),
            proto: None,
            ports: Vec::new(),
        }
    }

    /// Adds a `from=` selector.
    pub fn from(mut self, selector: Selector) -> Self {
        self.from.push(selector);
        self
    }

    /// Adds a `to=` selector.
    pub fn to(mut self, selector: Selector) -> Self {
        self.to.push(selector);
        self
    }

    /// Sets `proto=`.
    pub fn proto(mut self, proto: Proto) -> Self {
        self.proto = Some(proto);
        self
    }

    /// Adds a port item covering `first..=last` on `transport`.
    pub fn ports(mut self, transport: Transport, first: u16, last: u16) -> Self {
        self.ports.push(PortItem {
            transport,
            range: PortRange { first, last },
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_order_and_get_distinct_spans() {
        let net = NetworkBuilder::new("corp")
            .node(NodeSpec::new("a").tag("eng"))
            .node(NodeSpec::new("b"))
            .rule(RuleSpec::allow("r1").from(Selector::Any).to(Selector::Any))
            .rule(RuleSpec::deny("r2").from(Selector::Any).to(Selector::Any))
            .build();
        assert_eq!(net.name.value, "corp");
        assert_eq!(net.nodes[0].name.value, "a");
        assert_eq!(net.nodes[0].tags[0].value, "eng");
        assert_eq!(net.rules[1].name.value, "r2");
        assert_ne!(net.rules[0].span, net.rules[1].span);
        assert_ne!(net.nodes[0].span, net.nodes[1].span);
    }
}
