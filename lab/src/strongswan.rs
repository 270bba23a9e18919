//! Hosts that run strongSwan (charon with kernel-libipsec, userspace ESP) as the IPsec interop
//! peer, as lab-recipes.md describes: charon in the host's namespace with a private /run (it
//! hard-wires /var/run/charon.pid), its own strongswan.conf and vici socket, and a
//! swanctl.conf that is either given as a file or rendered from network.kdl, strongSwan then
//! standing in for one `vrouter` (each `ipsec-peer` a connection, mirrored exactly).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use cvlan_schema::model::{IpsecAuth, Network, Remote, SecretSource, Vrouter};

use crate::command::{self, CommandError};
use crate::process::{DaemonSpec, Readiness};

/// charon as Debian installs it.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// The plugins charon loads, kernel-libipsec before kernel-netlink (else SA installation
/// fails with "Function not implemented").
const PLUGINS: &str = "random nonce openssl pem pkcs1 x509 pubkey curve25519 gmp aes sha1 sha2 \
                       hmac gcm kdf kernel-libipsec kernel-netlink socket-default vici updown";

/// Why a strongSwan host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StrongswanError {
    /// network.kdl has no such vrouter for strongSwan to stand in for.
    #[error("network.kdl declares no `vrouter \"{0}\"` for strongSwan to play")]
    NoVrouter(String),
    /// network.kdl is invalid.
    #[error("network.kdl is invalid, so strongSwan's configuration cannot be rendered:\n{0}")]
    Network(String),
    /// A peer's secret could not be read.
    #[error("ipsec-peer `{peer}`: cannot read its secret: {reason}")]
    Secret {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// A peer uses certificates, which the lab does not issue.
    #[error("ipsec-peer `{0}` uses `auth \"cert\"`; the lab renders PSK peers only")]
    Cert(String),
    /// A file could not be written or read.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// swanctl failed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Where a strongSwan host keeps its files, all under the host's run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrongswanPaths {
    /// Bind-mounted over /run in charon's mount namespace (charon.pid lands here).
    pub run: PathBuf,
    /// strongswan.conf.
    pub conf: PathBuf,
    /// swanctl.conf.
    pub swanctl: PathBuf,
    /// The vici socket.
    pub vici: PathBuf,
    /// charon's log (IKE at level 2).
    pub log: PathBuf,
}

impl StrongswanPaths {
    /// The layout inside `host_dir`.
    pub fn new(host_dir: &Path) -> Self {
        Self {
            run: host_dir.join("run"),
            conf: host_dir.join("strongswan.conf"),
            swanctl: host_dir.join("swanctl.conf"),
            vici: host_dir.join("charon.vici"),
            log: host_dir.join("charon.log"),
        }
    }

    /// The vici URI for swanctl's `--uri`.
    pub fn uri(&self) -> String {
        format!("unix://{}", self.vici.display())
    }
}

/// strongswan.conf for one instance; `natt_port` is the NAT-T port it listens on.
/// Retransmissions are faster than charon's defaults (1 s, then ×1.4, 3 tries: a dead peer
/// is given up after about 10 s instead of 165 s), so DPD and failures show within a test.
pub fn render_strongswan_conf(paths: &StrongswanPaths, natt_port: u16) -> String {
    format!(
        "# Written by cvlan-lab.\n\
         charon {{\n  load_modular = no\n  load = {PLUGINS}\n  port_nat_t = {natt_port}\n  \
         retransmit_timeout = 1.0\n  retransmit_base = 1.4\n  retransmit_tries = 3\n  \
         plugins {{\n    kernel-libipsec {{ allow_peer_ts = yes }}\n    kernel-netlink {{ fwmark = !0x42 }}\n    \
         socket-default {{ fwmark = 0x42 }}\n    vici {{ socket = unix://{} }}\n  }}\n  \
         filelog {{\n    lab {{\n      path = {}\n      time_format = %T\n      default = 1\n      \
         ike = 2\n      knl = 1\n      flush_line = yes\n    }}\n  }}\n}}\n",
        paths.vici.display(),
        paths.log.display()
    )
}

/// swanctl.conf in which strongSwan plays vrouter `name` of `network`: one connection per
/// `ipsec-peer`, with its addresses, identities, selectors, proposals, lifetimes and DPD;
/// peers with a fixed `remote` are initiated at load and set up again after DPD or a delete,
/// as cvlan-vrouterd does. PSKs are read now and written hex-encoded.
pub fn render_swanctl_for(network: &Network, name: &str) -> Result<String, StrongswanError> {
    let vrouter = network
        .vrouters
        .iter()
        .find(|v| v.name.value == name)
        .ok_or_else(|| StrongswanError::NoVrouter(name.to_owned()))?;
    let mut out = String::from("# Written by cvlan-lab from network.kdl.\nconnections {\n");
    let mut secrets = String::from("secrets {\n");
    for peer in &vrouter.peers {
        let peer_name = &peer.name.value;
        let IpsecAuth::Psk(source) = &peer.auth.value else {
            return Err(StrongswanError::Cert(peer_name.clone()));
        };
        let psk = read_secret(source).map_err(|reason| StrongswanError::Secret {
            peer: peer_name.clone(),
            reason,
        })?;
        let initiate = matches!(peer.remote.value, Remote::Address(_));
        let join = |items: Vec<String>| items.join(", ");
        let ike = join(
            peer.ike_proposals
                .iter()
                .map(|p| p.value.to_string())
                .collect(),
        );
        let esp = join(
            peer.esp_proposals
                .iter()
                .map(|p| p.value.to_string())
                .collect(),
        );
        let local_ts = join(peer.local_ts.iter().map(|n| n.value.to_string()).collect());
        let remote_ts = join(peer.remote_ts.iter().map(|n| n.value.to_string()).collect());
        let remote = match peer.remote.value {
            Remote::Any => "%any".to_owned(),
            Remote::Address(a) => a.to_string(),
        };
        let _ = writeln!(out, "  {peer_name} {{");
        let _ = writeln!(out, "    version = 2");
        let _ = writeln!(out, "    local_addrs = {}", local_addrs(vrouter));
        let _ = writeln!(out, "    remote_addrs = {remote}");
        let _ = writeln!(out, "    encap = yes\n    mobike = no");
        let _ = writeln!(out, "    proposals = {ike}");
        let _ = writeln!(
            out,
            "    rekey_time = {}s",
            peer.ike_lifetime.value.as_secs()
        );
        if let Some(dpd) = &peer.dpd {
            let _ = writeln!(out, "    dpd_delay = {}s", dpd.value.as_secs().max(1));
        }
        let _ = writeln!(
            out,
            "    local {{\n      auth = psk\n      id = \"{}\"\n    }}",
            peer.local_id.value
        );
        let _ = writeln!(
            out,
            "    remote {{\n      auth = psk\n      id = \"{}\"\n    }}",
            peer.remote_id.value
        );
        let _ = writeln!(out, "    children {{\n      {peer_name} {{");
        let _ = writeln!(
            out,
            "        local_ts = {local_ts}\n        remote_ts = {remote_ts}"
        );
        let _ = writeln!(out, "        esp_proposals = {esp}");
        let _ = writeln!(
            out,
            "        rekey_time = {}s",
            peer.child_lifetime.value.as_secs()
        );
        if initiate {
            let _ = writeln!(
                out,
                "        start_action = start\n        dpd_action = restart\n        close_action = start"
            );
        }
        let _ = writeln!(out, "      }}\n    }}\n  }}");
        let _ = writeln!(
            secrets,
            "  ike-{peer_name} {{\n    id-1 = \"{}\"\n    id-2 = \"{}\"\n    secret = 0x{}\n  }}",
            peer.local_id.value,
            peer.remote_id.value,
            hex(&psk)
        );
    }
    out.push_str("}\n");
    secrets.push_str("}\n");
    out.push_str(&secrets);
    Ok(out)
}

fn local_addrs(vrouter: &Vrouter) -> String {
    match vrouter.listen.as_ref().map(|l| l.value.ip()) {
        Some(ip) if !ip.is_unspecified() => ip.to_string(),
        _ => "%any".to_owned(),
    }
}

/// The NAT-T port vrouter `name` listens on (4500 when it names none).
pub fn natt_port(network: &Network, name: &str) -> u16 {
    network
        .vrouters
        .iter()
        .find(|v| v.name.value == name)
        .and_then(|v| v.listen.as_ref())
        .map_or(4500, |l| l.value.port())
}

/// A secret as vrouterd reads it: the file's bytes (or the variable's) without one trailing
/// newline.
fn read_secret(source: &SecretSource) -> Result<Vec<u8>, String> {
    let mut bytes = match source {
        SecretSource::File(path) => {
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        SecretSource::Env(name) => std::env::var(name)
            .map_err(|_| format!("${name} is not set"))?
            .into_bytes(),
    };
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len().saturating_sub(2));
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len().saturating_sub(1));
    }
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// charon in the host's namespace with a private /run, ready when its vici socket accepts.
///
/// The host's files may themselves live under /run (the lab's default run root): then the
/// top directory holding them is bound into the private /run first, so every path stays as
/// it is outside.
pub fn daemon(paths: &StrongswanPaths) -> DaemonSpec {
    let run = paths.run.display().to_string();
    let keep = paths
        .run
        .strip_prefix("/run")
        .ok()
        .and_then(|rest| rest.components().next())
        .map(|top| {
            let top = top.as_os_str().to_string_lossy();
            format!("mkdir -p '{run}/{top}' && mount --bind '/run/{top}' '{run}/{top}' && ")
        })
        .unwrap_or_default();
    DaemonSpec {
        name: "charon".into(),
        program: "unshare".into(),
        args: vec![
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "sh".into(),
            "-c".into(),
            format!("{keep}mount --rbind '{run}' /run && exec {CHARON}"),
        ],
        config: None,
        env: vec![("STRONGSWAN_CONF".into(), paths.conf.display().to_string())],
        ready: Readiness::Socket(paths.vici.clone()),
    }
}

/// Writes the files of a strongSwan host: its run dir, strongswan.conf, and swanctl.conf
/// (`swanctl` text).
pub fn write_files(
    paths: &StrongswanPaths,
    natt_port: u16,
    swanctl: &str,
) -> Result<(), StrongswanError> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| StrongswanError::Io { what, path, source }
    };
    std::fs::create_dir_all(&paths.run).map_err(io("cannot create", &paths.run))?;
    std::fs::write(&paths.conf, render_strongswan_conf(paths, natt_port))
        .map_err(io("cannot write", &paths.conf))?;
    std::fs::write(&paths.swanctl, swanctl).map_err(io("cannot write", &paths.swanctl))?;
    Ok(())
}

/// Loads swanctl.conf into the running charon (connections with `start_action = start`
/// initiate now).
pub fn load(paths: &StrongswanPaths) -> Result<Output, StrongswanError> {
    let file = paths.swanctl.display().to_string();
    Ok(command::run(
        "swanctl",
        &["--load-all", "--uri", &paths.uri(), "--file", &file],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vrouter_block_becomes_mirrored_connections_with_hex_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let psk = dir.path().join("psk");
        std::fs::write(&psk, "s3cret\n").unwrap();
        let text = include_str!("../../tests/labs/vrouter-pair/network.kdl")
            .replace("/vrouter-pair/gw.psk", &psk.display().to_string())
            .replace(
                r#"lifetime ike="24h" child="1h""#,
                r#"lifetime ike="2h" child="30s""#,
            );
        let checked = cvlan_schema::parse_network("network.kdl", &text);
        let network = checked.network.expect("valid");
        let conf = render_swanctl_for(&network, "gw").unwrap();
        for line in [
            "  br {",
            "    local_addrs = 10.0.0.1",
            "    remote_addrs = 10.0.0.2",
            "    proposals = aes256-sha256-ecp256",
            "    rekey_time = 7200s",
            "    dpd_delay = 2s",
            "      id = \"gw.example\"",
            "      id = \"br.example\"",
            "        local_ts = 10.1.0.0/24",
            "        remote_ts = 10.2.0.0/24",
            "        esp_proposals = aes256-sha256",
            "        rekey_time = 30s",
            "        start_action = start",
            "    secret = 0x733363726574",
        ] {
            assert!(
                conf.contains(&format!("{line}\n")),
                "missing {line:?} in\n{conf}"
            );
        }
        assert_eq!(natt_port(&network, "gw"), 4500);
        assert!(matches!(
            render_swanctl_for(&network, "nope"),
            Err(StrongswanError::NoVrouter(_))
        ));
        let paths = StrongswanPaths::new(dir.path());
        let conf = render_strongswan_conf(&paths, 4500);
        assert!(conf.contains("kernel-libipsec kernel-netlink"));
        assert!(conf.contains(&format!("socket = unix://{}", paths.vici.display())));
        let spec = daemon(&paths);
        assert!(
            spec.args
                .last()
                .unwrap()
                .ends_with("exec /usr/lib/ipsec/charon")
        );
        assert_eq!(spec.ready, Readiness::Socket(paths.vici.clone()));
    }
}
