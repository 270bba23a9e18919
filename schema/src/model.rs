//! The typed model of a network.kdl file: what the operator declared, with the span of every
//! value so later checks (policy tests, shadowing, address conflicts) can point at the text.
//! No KDL types appear here; the parser builds these values and nothing else does.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::span::{Span, Spanned};
use cvlan_types::PublicKey;
use cvlan_types::proposal::{EspProposal, IkeProposal};

/// The whole desired state of one network, as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The network's name (`network "corp"`).
    pub name: Spanned<String>,
    /// The tenant the network belongs to (`tenant=`); `"default"` when absent.
    pub tenant: Spanned<String>,
    /// IPv4 overlay range; `100.64.0.0/10` when absent.
    pub overlay: Spanned<Ipv4Net>,
    /// Optional IPv6 ULA overlay range.
    pub overlay6: Option<Spanned<Ipv6Net>>,
    /// DNS domain under which node names resolve.
    pub dns_domain: Option<Spanned<String>>,
    /// Default WireGuard UDP port for nodes (51820 when absent).
    pub listen_port: Spanned<u16>,
    /// How long a registered node key stays valid.
    pub key_expiry: Option<Spanned<Duration>>,
    /// The controller, when the network is run by one.
    pub controller: Option<Controller>,
    /// Relays, in file order.
    pub relays: Vec<Relay>,
    /// Groups of users, in file order.
    pub groups: Vec<Group>,
    /// Nodes, in file order.
    pub nodes: Vec<Node>,
    /// IPsec vrouters, in file order.
    pub vrouters: Vec<Vrouter>,
    /// Policy rules from every `policy` block, in file order (first match wins).
    pub rules: Vec<Rule>,
    /// `policy-test` blocks, in file order.
    pub tests: Vec<PolicyTest>,
    /// Span of the `network` node.
    pub span: Span,
}

impl Default for Network {
    /// An empty network with the defaults of network-kdl.md: overlay `100.64.0.0/10`, tenant
    /// `default`, listen port 51820, no name and nothing in it.
    fn default() -> Self {
        let overlay: Ipv4Net = crate::DEFAULT_OVERLAY.parse().unwrap_or_default();
        Network {
            name: Spanned::default(),
            tenant: Spanned::new(crate::DEFAULT_TENANT.to_owned(), Span::default()),
            overlay: Spanned::new(overlay, Span::default()),
            overlay6: None,
            dns_domain: None,
            listen_port: Spanned::new(crate::DEFAULT_LISTEN_PORT, Span::default()),
            key_expiry: None,
            controller: None,
            relays: Vec::new(),
            groups: Vec::new(),
            nodes: Vec::new(),
            vrouters: Vec::new(),
            rules: Vec::new(),
            tests: Vec::new(),
            span: Span::default(),
        }
    }
}

impl Network {
    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name.value == name)
    }

    /// The vrouter with this name.
    pub fn vrouter(&self, name: &str) -> Option<&Vrouter> {
        self.vrouters.iter().find(|v| v.name.value == name)
    }

    /// The relay with this name.
    pub fn relay(&self, name: &str) -> Option<&Relay> {
        self.relays.iter().find(|r| r.name.value == name)
    }

    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name.value == name)
    }

    /// The IPsec peer with this name, with the vrouter that terminates it.
    pub fn ipsec_peer(&self, name: &str) -> Option<(&Vrouter, &IpsecPeer)> {
        self.vrouters.iter().find_map(|v| {
            v.peers
                .iter()
                .find(|p| p.name.value == name)
                .map(|p| (v, p))
        })
    }
}

/// A `host:port` address; the host may be a DNS name or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// DNS name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP or UDP port.
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `controller "NAME" address= public-key=`.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    /// Controller name.
    pub name: Spanned<String>,
    /// Where nodes connect (control and admin, Noise over TCP).
    pub address: Spanned<HostPort>,
    /// The controller's static x25519 key.
    pub public_key: Spanned<PublicKey>,
    /// Span of the whole node.
    pub span: Span,
}

/// `relay "NAME" region= address= public-key=`.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    /// Relay name.
    pub name: Spanned<String>,
    /// Region; relays of one region mesh with each other.
    pub region: Spanned<String>,
    /// TCP address nodes connect to.
    pub address: Spanned<HostPort>,
    /// The relay's static x25519 key.
    pub public_key: Spanned<PublicKey>,
    /// Span of the whole node.
    pub span: Span,
}

/// `group "NAME" { member "EMAIL" ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name.
    pub name: Spanned<String>,
    /// Member e-mail addresses, in file order.
    pub members: Vec<Spanned<String>>,
    /// Span of the whole node.
    pub span: Span,
}

/// A data-plane protocol a node speaks (`protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// WireGuard (the default and, for now, the only one).
    WireGuard,
}

/// `node "NAME" { ... }`: one host of the mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name.
    pub name: Spanned<String>,
    /// The owning user's e-mail address.
    pub owner: Option<Spanned<String>>,
    /// Tags, in file order.
    pub tags: Vec<Spanned<String>>,
    /// WireGuard public key; required without a controller.
    pub public_key: Option<Spanned<PublicKey>>,
    /// Pinned overlay addresses (at most one IPv4 and one IPv6).
    pub addresses: Vec<Spanned<IpAddr>>,
    /// Static endpoints.
    pub endpoints: Vec<Spanned<SocketAddr>>,
    /// Capabilities (`["wireguard"]` when absent).
    pub protocols: Vec<Spanned<Protocol>>,
    /// Prefixes this node routes for (subnet router).
    pub routes: Vec<Spanned<IpNet>>,
    /// Pinned home relay.
    pub home_relay: Option<Spanned<String>>,
    /// Span of the whole node.
    pub span: Span,
}

impl Node {
    /// Drops the spare capacity of its lists: a one-element `Vec` grows to four, and a
    /// 100,000-node model would carry ~45 MB of it.
    pub fn shrink_to_fit(&mut self) {
        self.tags.shrink_to_fit();
        self.addresses.shrink_to_fit();
        self.endpoints.shrink_to_fit();
        self.protocols.shrink_to_fit();
        self.routes.shrink_to_fit();
    }
}

/// `vrouter "NAME" { ... }`: an IPsec concentrator bridged into the mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct Vrouter {
    /// Vrouter name.
    pub name: Spanned<String>,
    /// Pinned overlay address.
    pub address: Option<Spanned<IpAddr>>,
    /// WireGuard public key.
    pub public_key: Option<Spanned<PublicKey>>,
    /// Where IKE and NAT-T ESP are received (`0.0.0.0:4500` when absent).
    pub listen: Option<Spanned<SocketAddr>>,
    /// IPsec peers terminated here, in file order.
    pub peers: Vec<IpsecPeer>,
    /// Span of the whole node.
    pub span: Span,
}

pub use cvlan_types::Remote;

/// Where a pre-shared key is read from; the secret itself is never in the model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// `secret-file="PATH"`.
    File(PathBuf),
    /// `secret-env="NAME"`.
    Env(String),
}

/// How an IPsec peer authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpsecAuth {
    /// Pre-shared key.
    Psk(SecretSource),
    /// Certificates issued by the controller's CA.
    Cert,
}

/// `ipsec-peer "NAME" { ... }` inside a vrouter.
#[derive(Debug, Clone, PartialEq)]
pub struct IpsecPeer {
    /// Peer name.
    pub name: Spanned<String>,
    /// Where the peer is.
    pub remote: Spanned<Remote>,
    /// Our IKE identity.
    pub local_id: Spanned<String>,
    /// The identity the peer must present.
    pub remote_id: Spanned<String>,
    /// How the peer authenticates.
    pub auth: Spanned<IpsecAuth>,
    /// Our side's traffic selectors.
    pub local_ts: Vec<Spanned<IpNet>>,
    /// The peer's traffic selectors (the subnets behind it).
    pub remote_ts: Vec<Spanned<IpNet>>,
    /// IKE proposals in preference order.
    pub ike_proposals: Vec<Spanned<IkeProposal>>,
    /// ESP proposals in preference order.
    pub esp_proposals: Vec<Spanned<EspProposal>>,
    /// IKE SA lifetime (24 h when absent).
    pub ike_lifetime: Spanned<Duration>,
    /// Child SA lifetime (1 h when absent).
    pub child_lifetime: Spanned<Duration>,
    /// Dead-peer-detection interval; none disables DPD.
    pub dpd: Option<Spanned<Duration>>,
    /// Span of the whole node.
    pub span: Span,
}

/// What a rule does with a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// One `from=` / `to=` selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `*`: every node, vrouter and ipsec peer.
    Any,
    /// `NAME` or `node:NAME`.
    Node(String),
    /// `tag:T`.
    Tag(String),
    /// `group:G`.
    Group(String),
    /// `user:EMAIL`.
    User(String),
    /// `vrouter:NAME`.
    Vrouter(String),
    /// `ipsec:PEER`: that peer's remote traffic selectors.
    Ipsec(String),
    /// `route:NODE`: the prefixes NODE routes.
    Route(String),
    /// A CIDR or a single address (as a /32 or /128).
    Prefix(IpNet),
}

/// A rule's `proto=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// Every protocol.
    Any,
}

/// Which transports a port item covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `N/tcp`.
    Tcp,
    /// `N/udp`.
    Udp,
    /// A bare `N`: TCP and UDP.
    Both,
}

/// An inclusive port range (`22` is `22..=22`, `*` is `0..=65535`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

/// One comma-separated item of `ports=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortItem {
    /// The transports it covers.
    pub transport: Transport,
    /// The ports it covers.
    pub range: PortRange,
}

/// `allow|deny "NAME" from= to= [ports=] [proto=]` inside `policy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Allow or deny.
    pub action: Action,
    /// Rule name (counted in policy hits).
    pub name: Spanned<String>,
    /// Source selectors (comma-separated in the file); any one may match.
    pub from: Vec<Spanned<Selector>>,
    /// Destination selectors; any one may match.
    pub to: Vec<Spanned<Selector>>,
    /// `proto=` as written.
    pub proto: Option<Spanned<Proto>>,
    /// `ports=` as written (empty when absent).
    pub ports: Vec<Spanned<PortItem>>,
    /// Span of the whole rule.
    pub span: Span,
}

/// A verdict: what happens to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The packet passes.
    Accept,
    /// The packet is dropped.
    Reject,
}

/// One side of a policy-test packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TestEndpoint {
    /// A node or vrouter name.
    Name(String),
    /// One address (overlay, routed prefix or remote-ts).
    Address(IpAddr),
}

/// The destination port and protocol of a policy-test packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestPort {
    /// `N/tcp`.
    Tcp(u16),
    /// `N/udp`.
    Udp(u16),
    /// `icmp`.
    Icmp,
}

/// `accept|reject from= to= port=` inside a policy-test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The expected verdict.
    pub expect: Verdict,
    /// Sender.
    pub from: Spanned<TestEndpoint>,
    /// Receiver.
    pub to: Spanned<TestEndpoint>,
    /// Destination port and protocol.
    pub port: Spanned<TestPort>,
    /// Span of the whole line.
    pub span: Span,
}

/// `policy-test "DESCRIPTION" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyTest {
    /// Free-text description.
    pub name: Spanned<String>,
    /// The packets and their expected verdicts.
    pub cases: Vec<TestCase>,
    /// Span of the whole block.
    pub span: Span,
}
