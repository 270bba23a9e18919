//! Hosts that run a CloudVLAN host daemon — cvland (a node) or cvlan-vrouterd (a vrouter):
//! the host file the lab renders for them (cvland.kdl or vrouterd.kdl), the daemon
//! description, and asking the daemon for its public key (it creates the key in its own state
//! dir).

use std::path::{Path, PathBuf};

use cvlan_schema::edit::Block;
use cvlan_schema::quote;

use crate::command::{self, CommandError};
use crate::process::{DaemonSpec, Readiness};

/// The TUN device the daemon creates in its namespace.
pub const TUN: &str = "cvl0";

/// Where every lab daemon serves its Prometheus metrics: its namespace's loopback, so that
/// `curl` or a Prometheus run in the host's namespace reach it and no two hosts collide.
pub const METRICS: &str = "127.0.0.1:9464";

/// Which host daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDaemon {
    /// cvland: a node of the mesh.
    Cvland,
    /// cvlan-vrouterd: an IPsec vrouter.
    Vrouterd,
}

impl HostDaemon {
    /// The binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            HostDaemon::Cvland => "cvland",
            HostDaemon::Vrouterd => "cvlan-vrouterd",
        }
    }

    /// The network.kdl block (and host-file role) it plays: `node` or `vrouter`.
    pub fn role(self) -> Block {
        match self {
            HostDaemon::Cvland => Block::Node,
            HostDaemon::Vrouterd => Block::Vrouter,
        }
    }

    /// The stem of its host file and socket (`cvland`, `vrouterd`).
    fn stem(self) -> &'static str {
        match self {
            HostDaemon::Cvland => "cvland",
            HostDaemon::Vrouterd => "vrouterd",
        }
    }
}

/// Where a daemon host keeps its files, all under the host's run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonPaths {
    /// The rendered host file.
    pub config: PathBuf,
    /// The daemon's state dir (keys, cache).
    pub state_dir: PathBuf,
    /// The local API socket.
    pub socket: PathBuf,
}

impl DaemonPaths {
    /// The layout of `daemon` inside `host_dir`.
    pub fn new(daemon: HostDaemon, host_dir: &Path) -> Self {
        Self {
            config: host_dir.join(format!("{}.kdl", daemon.stem())),
            state_dir: host_dir.join("state"),
            socket: host_dir.join(format!("{}.sock", daemon.stem())),
        }
    }
}

/// The host file for `name`, following `network` as a file source, serving metrics on
/// [`METRICS`].
pub fn render_config(
    daemon: HostDaemon,
    name: &str,
    paths: &DaemonPaths,
    network: &Path,
) -> String {
    format!(
        "// Written by cvlan-lab.\n{} {}\nstate-dir {}\nsocket {}\ntun {}\nsource \"file\" path={}\nmetrics listen={}\n",
        daemon.role(),
        quote(name),
        quote(&paths.state_dir.display().to_string()),
        quote(&paths.socket.display().to_string()),
        quote(TUN),
        quote(&network.display().to_string()),
        quote(METRICS),
    )
}

/// The daemon: `BIN --config FILE`, ready when its local API socket accepts.
pub fn daemon(
    daemon: HostDaemon,
    program: &Path,
    name: &str,
    paths: &DaemonPaths,
    network: &Path,
) -> DaemonSpec {
    DaemonSpec {
        name: daemon.stem().into(),
        program: program.to_owned(),
        args: vec!["--config".into(), paths.config.display().to_string()],
        config: Some((
            paths.config.clone(),
            render_config(daemon, name, paths, network),
        )),
        env: Vec::new(),
        ready: Readiness::Socket(paths.socket.clone()),
    }
}

/// Runs `BIN pubkey --config …` in the host's namespace and returns the key it prints.
pub fn public_key(ns: &str, program: &Path, paths: &DaemonPaths) -> Result<String, CommandError> {
    let program = program.display().to_string();
    let config = paths.config.display().to_string();
    let out = command::run_in(ns, &program, &["pubkey", "--config", &config])?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use cvlan_schema::{HostRole, StateSource};

    use super::*;

    #[test]
    fn renders_the_documented_host_files() {
        let dir = Path::new("/run/cvlan-lab/abc123/alpha");
        let paths = DaemonPaths::new(HostDaemon::Cvland, dir);
        let text = render_config(
            HostDaemon::Cvland,
            "alpha",
            &paths,
            Path::new("/run/cvlan-lab/abc123/network.kdl"),
        );
        let checked = cvlan_schema::parse_host("cvland.kdl", &text);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let host = checked.host.unwrap();
        assert_eq!(host.role.value, HostRole::Node("alpha".into()));
        assert_eq!(
            host.state_dir,
            Path::new("/run/cvlan-lab/abc123/alpha/state")
        );
        assert_eq!(
            host.socket,
            Path::new("/run/cvlan-lab/abc123/alpha/cvland.sock")
        );
        assert_eq!(host.tun, "cvl0");
        assert_eq!(
            host.source.value,
            StateSource::File {
                path: "/run/cvlan-lab/abc123/network.kdl".into()
            }
        );
        assert_eq!(
            host.metrics_listen.map(|m| m.value.to_string()).as_deref(),
            Some(METRICS)
        );
        let spec = daemon(
            HostDaemon::Cvland,
            Path::new("/bin/cvland"),
            "alpha",
            &paths,
            Path::new("/n.kdl"),
        );
        assert_eq!(
            spec.args,
            ["--config", "/run/cvlan-lab/abc123/alpha/cvland.kdl"]
        );
        assert_eq!(spec.ready, Readiness::Socket(paths.socket.clone()));

        let paths = DaemonPaths::new(HostDaemon::Vrouterd, dir);
        let text = render_config(HostDaemon::Vrouterd, "gw", &paths, Path::new("/n.kdl"));
        assert!(text.contains("\nvrouter \"gw\"\n"), "{text}");
        let host = cvlan_schema::parse_host("vrouterd.kdl", &text)
            .host
            .unwrap();
        assert_eq!(host.role.value, HostRole::Vrouter("gw".into()));
        assert_eq!(paths.socket, dir.join("vrouterd.sock"));
        assert_eq!(paths.config, dir.join("vrouterd.kdl"));
    }
}
