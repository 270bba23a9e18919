//! The lab topology language: the typed model of a lab (switches, NAT routers, hosts, the
//! daemons on them, checks) and loading it from a KDL file. The syntax is documented in
//! `lab/README.md`.

mod error;
mod parse;
mod reader;
mod validate;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};

pub use error::TopologyError;

/// A whole lab as declared in a topology file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// The lab's name (`lab "NAME"`, else the file's stem).
    pub name: String,
    /// The network.kdl template the lab's hosts follow, resolved against the file's directory.
    pub network: Option<PathBuf>,
    /// L2 segments.
    pub switches: Vec<Switch>,
    /// NAT routers.
    pub nats: Vec<Nat>,
    /// Hosts, in file order.
    pub hosts: Vec<Host>,
    /// What `cvlan-lab up --headless` verifies.
    pub checks: Vec<Check>,
}

/// An L2 segment (a bridge) with its IPv4 subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// Name, unique among switches.
    pub name: String,
    /// The subnet every address on this switch belongs to.
    pub subnet: Ipv4Net,
}

/// How a NAT router maps inside source ports to outside ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// One mapping per inside socket whatever the destination (`masquerade`).
    EndpointIndependent,
    /// A new random port per destination (`masquerade random,fully-random`).
    Symmetric,
}

impl Mapping {
    /// The name used in topology files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mapping::EndpointIndependent => "endpoint-independent",
            Mapping::Symmetric => "symmetric",
        }
    }
}

/// A NAT router: a namespace with a WAN and a LAN side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat {
    /// Name, unique among hosts and NATs.
    pub name: String,
    /// Port mapping behaviour.
    pub mapping: Mapping,
    /// The outside attachment.
    pub wan: Attachment,
    /// The inside attachment; hosts on this switch route through this router.
    pub lan: Attachment,
}

/// An interface on a switch with an address from the switch's subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The switch's name.
    pub switch: String,
    /// The interface's address (prefix length from the switch's subnet).
    pub address: Ipv4Addr,
}

/// A host: one network namespace with links and daemons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Name, unique among hosts and NATs.
    pub name: String,
    /// Links in order; the n-th becomes `eth<n>`.
    pub links: Vec<Attachment>,
    /// Explicit default gateway; else the LAN address of a NAT on one of the host's switches.
    pub gateway: Option<Ipv4Addr>,
    /// Extra addresses on the host's loopback (e.g. inside an IPsec traffic selector).
    pub loopback: Vec<IpNet>,
    /// What runs on the host.
    pub services: Vec<Service>,
}

impl Host {
    /// The network.kdl node this host is, if it runs a mesh daemon.
    pub fn mesh_node(&self) -> Option<&MeshNode> {
        self.services.iter().find_map(|s| match s {
            Service::Cvland(n) | Service::WireguardGo(n) => Some(n),
            _ => None,
        })
    }

    /// The network.kdl vrouter this host plays, with vrouterd or with strongSwan.
    pub fn vrouter(&self) -> Option<&str> {
        self.services.iter().find_map(|s| match s {
            Service::Vrouterd(v) => Some(v.as_str()),
            Service::Strongswan(StrongswanConfig::Vrouter(v)) => Some(v.as_str()),
            _ => None,
        })
    }

    /// The host's address on `switch`, if it has a link there.
    pub fn address_on(&self, switch: &str) -> Option<Ipv4Addr> {
        self.links
            .iter()
            .find(|l| l.switch == switch)
            .map(|l| l.address)
    }
}

/// Something the lab runs on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// The CloudVLAN host daemon as one node of the network.
    Cvland(MeshNode),
    /// A wireguard-go peer configured with `wg` from network.kdl.
    WireguardGo(MeshNode),
    /// cvlan-vrouterd as this network.kdl vrouter.
    Vrouterd(String),
    /// strongSwan's charon (kernel-libipsec) as an IPsec interop peer.
    Strongswan(StrongswanConfig),
    /// Any other program.
    Process(ProcessDecl),
}

/// A host's identity in network.kdl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshNode {
    /// The `node` name in network.kdl.
    pub node: String,
    /// When set, the lab publishes the host's address on this switch as the node's endpoint.
    pub endpoint: Option<String>,
}

/// Where a strongSwan host's swanctl.conf comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrongswanConfig {
    /// Rendered from network.kdl: strongSwan stands in for this vrouter, each of its
    /// `ipsec-peer`s a connection.
    Vrouter(String),
    /// A swanctl.conf given as a file (resolved against the topology file's directory).
    File(PathBuf),
}

/// A generic program run on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDecl {
    /// Name, unique on the host (logs go to `<name>.log`).
    pub name: String,
    /// The program and its arguments; `{dir}` expands to the host's run directory.
    pub command: Vec<String>,
    /// A Unix socket (relative to the host's run directory) that exists once it is ready.
    pub ready_socket: Option<String>,
}

/// A verification run by `cvlan-lab up --headless`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `ping FROM TO`: FROM pings TO (an address, or a host name for its overlay address).
    Ping {
        /// The host that pings.
        from: String,
        /// What it pings.
        to: PingTarget,
    },
}

/// The target of a ping check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingTarget {
    /// A literal address.
    Address(Ipv4Addr),
    /// The overlay address of the node a host is.
    Host(String),
}

impl Topology {
    /// Parses and validates `text`, read from `path` (relative paths resolve against its
    /// directory).
    pub fn parse(path: &Path, text: &str) -> Result<Topology, TopologyError> {
        parse::parse(path, text)
    }

    /// Reads and parses the topology file at `path`.
    pub fn load(path: &Path) -> Result<Topology, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::parse(path, &text)?)
    }

    /// The switch called `name`.
    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches.iter().find(|s| s.name == name)
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The NAT router whose LAN side is `switch`.
    pub fn nat_serving(&self, switch: &str) -> Option<&Nat> {
        self.nats.iter().find(|n| n.lan.switch == switch)
    }
}

/// A topology file that could not be read or is invalid.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read topology file {}: {source}", path.display())]
    #[diagnostic(code("cvlan-lab::read"))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] TopologyError),
}
