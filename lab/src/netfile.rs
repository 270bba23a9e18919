//! What the lab reads from the network.kdl its hosts follow, through cvlan-schema's model:
//! what a wireguard-go peer needs (overlay, listen port, nodes) and the `secret-file=` paths
//! the lab provides. The file may not be valid yet (the lab fills in keys and endpoints with
//! [`cvlan_schema::edit`]) or any more (a test's bad edit), so it is read as far as it goes;
//! nodes without a pinned address get the one cvlan-core allocates, as every cvland computes
//! it, once the file is valid.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use cvlan_schema::Diagnostic;
use cvlan_schema::edit::EditError;
use cvlan_schema::model::{IpsecAuth, Network, SecretSource};
use ipnet::{IpNet, Ipv4Net};

/// Why network.kdl could not be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum NetworkFileError {
    /// The text is not KDL 2.0.
    #[error("network.kdl is not valid KDL: {0}")]
    Syntax(String),
    /// No `node "NAME"` (or `vrouter "NAME"`) at top level.
    #[error("network.kdl has no `{kind} \"{name}\"` (the lab runs it on a host)")]
    UnknownBlock {
        /// `node` or `vrouter`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A value the lab needs is missing or malformed.
    #[error("network.kdl: {0}")]
    Invalid(String),
}

impl From<EditError> for NetworkFileError {
    fn from(err: EditError) -> Self {
        match err {
            EditError::Syntax(diagnostics) => {
                Self::Syntax(Diagnostic::first_message(&diagnostics).to_owned())
            }
            EditError::UnknownBlock { kind, name } => Self::UnknownBlock {
                kind: kind.as_str(),
                name,
            },
        }
    }
}

/// One `node` of network.kdl as a wireguard-go peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// Its WireGuard public key, if set.
    pub public_key: Option<String>,
    /// Its overlay address: pinned, else allocated by cvlan-core once the file is valid.
    pub address: Option<Ipv4Addr>,
    /// Its static IPv4 endpoints (the lab's peers speak IPv4).
    pub endpoints: Vec<SocketAddrV4>,
    /// The IPv4 prefixes it routes.
    pub routes: Vec<Ipv4Net>,
}

/// What the lab reads from network.kdl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The IPv4 overlay.
    pub overlay: Ipv4Net,
    /// The nodes' WireGuard port.
    pub listen_port: u16,
    /// Every `node`.
    pub nodes: Vec<NodeInfo>,
}

impl NetworkInfo {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Reads the overlay, listen port and nodes.
pub fn read_network(text: &str) -> Result<NetworkInfo, NetworkFileError> {
    let partial = cvlan_schema::parse_network_partial("network.kdl", text);
    let valid = partial.is_ok();
    if partial
        .diagnostics
        .iter()
        .any(|d| d.code == "cvlan::missing-network")
    {
        return Err(NetworkFileError::Invalid("no `network` node".into()));
    }
    let network = model(partial)?;
    let allocation = valid.then(|| cvlan_core::allocate(&network));
    let nodes = network
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| NodeInfo {
            name: node.name.value.clone(),
            public_key: node.public_key.as_ref().map(|k| k.value.to_base64()),
            address: node
                .addresses
                .iter()
                .find_map(|a| match a.value {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .or_else(|| {
                    let allocated = allocation.as_ref()?.addresses(cvlan_core::Entity::Node(i));
                    allocated.v4.map(|a| a.address)
                }),
            endpoints: node
                .endpoints
                .iter()
                .filter_map(|e| match e.value {
                    SocketAddr::V4(v4) => Some(v4),
                    SocketAddr::V6(_) => None,
                })
                .collect(),
            routes: node
                .routes
                .iter()
                .filter_map(|r| match r.value {
                    IpNet::V4(v4) => Some(v4),
                    IpNet::V6(_) => None,
                })
                .collect(),
        })
        .collect();
    Ok(NetworkInfo {
        overlay: network.overlay.value,
        listen_port: network.listen_port.value,
        nodes,
    })
}

/// Every `secret-file=` path of the ipsec-peers, in file order (duplicates kept).
pub fn secret_files(text: &str) -> Result<Vec<String>, NetworkFileError> {
    let network = model(cvlan_schema::parse_network_partial("network.kdl", text))?;
    Ok(network
        .vrouters
        .iter()
        .flat_map(|v| &v.peers)
        .filter_map(|p| match &p.auth.value {
            IpsecAuth::Psk(SecretSource::File(path)) => Some(path.display().to_string()),
            _ => None,
        })
        .collect())
}

/// The model of a file read as far as it goes, or why there is none.
fn model(partial: cvlan_schema::Partial) -> Result<Network, NetworkFileError> {
    partial.network.ok_or_else(|| {
        NetworkFileError::Syntax(Diagnostic::first_message(&partial.diagnostics).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use cvlan_schema::edit::{self, Block};

    use super::*;

    /// A template before the lab filled it in: one key, pinned and unpinned nodes.
    const TEMPLATE: &str = r#"network "lab" { overlay "100.64.0.0/10"; listen-port 51000; }
node "alpha" { address "100.64.0.1"; public-key "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; }
node "bravo"
node "carol" { address "100.64.0.3"; }
node "delta" {}
"#;

    #[test]
    fn reads_overlay_port_and_nodes() {
        let info = read_network(TEMPLATE).unwrap();
        assert_eq!(info.overlay, "100.64.0.0/10".parse().unwrap());
        assert_eq!(info.listen_port, 51000);
        assert_eq!(info.nodes.len(), 4);
        assert_eq!(
            info.node("alpha").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 1))
        );
        assert_eq!(
            info.node("alpha").unwrap().public_key.as_deref(),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        );
        assert_eq!(info.node("bravo").unwrap().public_key, None);
    }

    #[test]
    fn reads_what_the_lab_filled_in() {
        let key = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
        let text = edit::set_value(TEMPLATE, Block::Node, "bravo", "public-key", key).unwrap();
        let text =
            edit::set_value(&text, Block::Node, "delta", "endpoint", "10.0.0.4:51000").unwrap();
        let text = edit::set_value(&text, Block::Node, "delta", "routes", "10.20.0.0/16").unwrap();
        let info = read_network(&text).unwrap();
        assert_eq!(info.node("bravo").unwrap().public_key.as_deref(), Some(key));
        let delta = info.node("delta").unwrap();
        assert_eq!(delta.endpoints, vec!["10.0.0.4:51000".parse().unwrap()]);
        assert_eq!(delta.routes, vec!["10.20.0.0/16".parse().unwrap()]);
    }

    #[test]
    fn unpinned_nodes_get_the_address_cvlan_core_allocates() {
        let text = r#"network "lab" { overlay "100.64.0.0/10"; }
node "alpha" { public-key "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; address "100.64.0.1"; }
node "bravo" { public-key "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; }
"#;
        let info = read_network(text).unwrap();
        let checked = cvlan_schema::parse_network("n.kdl", text);
        let network = checked.network.unwrap();
        let expected = cvlan_core::allocate(&network)
            .addresses(cvlan_core::Entity::Node(1))
            .v4
            .map(|a| a.address);
        assert!(expected.is_some());
        assert_eq!(info.node("bravo").unwrap().address, expected);
        assert_eq!(
            info.node("alpha").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 1))
        );
        // Without keys the file is not valid yet: nothing is allocated.
        let info = read_network(TEMPLATE).unwrap();
        assert_eq!(info.node("delta").unwrap().address, None);
    }

    #[test]
    fn lists_secret_files_in_order() {
        let text = r#"vrouter "gw" {
    ipsec-peer "b" { auth "psk" secret-file="/etc/psk/b"; }
    ipsec-peer "c" { auth "psk" secret-env="PSK_C"; }
    ipsec-peer "d" { auth "psk" secret-file="/etc/psk/b"; }
}
"#;
        assert_eq!(secret_files(text).unwrap(), ["/etc/psk/b", "/etc/psk/b"]);
    }

    #[test]
    fn unknown_nodes_and_bad_text_are_errors() {
        let unknown = edit::set_value(TEMPLATE, Block::Node, "zulu", "public-key", "K")
            .map_err(NetworkFileError::from);
        assert!(matches!(
            unknown,
            Err(NetworkFileError::UnknownBlock { kind: "node", name }) if name == "zulu"
        ));
        let bad =
            edit::set_value("node {", Block::Node, "a", "k", "v").map_err(NetworkFileError::from);
        assert!(matches!(bad, Err(NetworkFileError::Syntax(m)) if !m.is_empty()));
        assert!(matches!(
            read_network("node {"),
            Err(NetworkFileError::Syntax(_))
        ));
        assert!(matches!(
            secret_files("vrouter {"),
            Err(NetworkFileError::Syntax(_))
        ));
        assert!(matches!(
            read_network("node \"a\""),
            Err(NetworkFileError::Invalid(_))
        ));
    }
}
