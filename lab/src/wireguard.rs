//! Hosts that run wireguard-go as an interop peer: the key pair made with `wg genkey` in the
//! host's own directory, the daemon description, and configuring the interface with `wg set`
//! and `ip` from the nodes network.kdl declares.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::command::{self, CommandError};
use crate::netfile::{NetworkInfo, NodeInfo};
use crate::process::{DaemonSpec, Readiness};

/// Keepalive interval for peers with a known endpoint, so NAT mappings stay open.
const KEEPALIVE_SECS: &str = "25";

/// Why a wireguard-go host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WireguardError {
    /// A tool failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The key file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// network.kdl lacks what the peer needs.
    #[error("wireguard-go host for node `{node}`: {reason}")]
    Config {
        /// The node.
        node: String,
        /// What is missing.
        reason: String,
    },
}

/// The private key file in a host directory.
pub fn private_key_path(host_dir: &Path) -> PathBuf {
    host_dir.join("private.key")
}

/// Creates a private key with `wg genkey` in `host_dir` (mode 0600) and returns the public key.
pub fn generate_key(host_dir: &Path) -> Result<String, WireguardError> {
    let private = command::run::<&str>("wg", &["genkey"])?.stdout;
    let path = private_key_path(host_dir);
    let io = |source| WireguardError::Io {
        path: path.clone(),
        source,
    };
    std::fs::write(&path, &private).map_err(io)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let public = command::run_with_input("wg", &["pubkey"], Some(&private))?;
    Ok(String::from_utf8_lossy(&public.stdout).trim().to_owned())
}

/// `wireguard-go -f IFNAME`, ready when its UAPI socket accepts.
pub fn daemon(ifname: &str) -> DaemonSpec {
    DaemonSpec {
        name: "wireguard-go".into(),
        program: "wireguard-go".into(),
        args: vec!["-f".into(), ifname.into()],
        config: None,
        env: vec![("LOG_LEVEL".into(), "error".into())],
        ready: Readiness::Socket(PathBuf::from(format!("/var/run/wireguard/{ifname}.sock"))),
    }
}

/// Gives interface `ifname` in namespace `ns` the identity of node `me` and every other node
/// with a key and an address as a peer; then addresses it and brings it up.
pub fn configure(
    ns: &str,
    ifname: &str,
    host_dir: &Path,
    me: &str,
    net: &NetworkInfo,
) -> Result<(), WireguardError> {
    let err = |reason: String| WireguardError::Config {
        node: me.to_owned(),
        reason,
    };
    let own = net
        .node(me)
        .ok_or_else(|| err("network.kdl has no such node".into()))?;
    let address = own.address.ok_or_else(|| {
        err("its node has no address: pin one in network.kdl, or make the file valid so cvlan-core allocates one".into())
    })?;
    let mut args = vec![
        "set".to_owned(),
        ifname.to_owned(),
        "listen-port".to_owned(),
        net.listen_port.to_string(),
        "private-key".to_owned(),
        private_key_path(host_dir).display().to_string(),
    ];
    for peer in net.nodes.iter().filter(|n| n.name != me) {
        args.extend(peer_args(peer).map_err(err)?);
    }
    command::run_in(ns, "wg", &args)?;
    let cidr = format!("{address}/{}", net.overlay.prefix_len());
    command::run("ip", &["-n", ns, "addr", "add", &cidr, "dev", ifname])?;
    command::run("ip", &["-n", ns, "link", "set", ifname, "up"])?;
    Ok(())
}

/// `peer KEY allowed-ips … [endpoint … persistent-keepalive …]` for one node; nothing for a
/// node without a key (it is not part of this lab).
fn peer_args(peer: &NodeInfo) -> Result<Vec<String>, String> {
    let Some(key) = &peer.public_key else {
        return Ok(Vec::new());
    };
    let address = peer.address.ok_or_else(|| {
        format!(
            "peer `{}` has no address: pin one in network.kdl, or make the file valid so cvlan-core allocates one",
            peer.name
        )
    })?;
    let allowed: Vec<String> = std::iter::once(format!("{address}/32"))
        .chain(peer.routes.iter().map(ToString::to_string))
        .collect();
    let mut args = vec![
        "peer".to_owned(),
        key.clone(),
        "allowed-ips".to_owned(),
        allowed.join(","),
    ];
    if let Some(endpoint) = peer.endpoints.first() {
        args.extend([
            "endpoint".to_owned(),
            endpoint.to_string(),
            "persistent-keepalive".to_owned(),
            KEEPALIVE_SECS.to_owned(),
        ]);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_get_their_address_routes_and_endpoint() {
        let peer = NodeInfo {
            name: "alpha".into(),
            public_key: Some("KEY".into()),
            address: Some("100.64.0.1".parse().unwrap()),
            endpoints: vec!["10.0.0.1:51820".parse().unwrap()],
            routes: vec!["10.20.0.0/16".parse().unwrap()],
        };
        assert_eq!(
            peer_args(&peer).unwrap().join(" "),
            "peer KEY allowed-ips 100.64.0.1/32,10.20.0.0/16 endpoint 10.0.0.1:51820 persistent-keepalive 25"
        );
        let keyless = NodeInfo {
            public_key: None,
            ..peer.clone()
        };
        assert!(peer_args(&keyless).unwrap().is_empty());
        let unpinned = NodeInfo {
            address: None,
            ..peer
        };
        assert!(peer_args(&unpinned).unwrap_err().contains("has no address"));
    }
}
