//! Hosts that run cvland: the cvland.kdl the lab renders for them, the daemon description,
//! and asking the daemon for its public key (it creates the key in its own state dir).

use std::path::{Path, PathBuf};

use crate::command::{self, CommandError};
use crate::netfile::quote;
use crate::process::{DaemonSpec, Readiness};

/// The TUN device cvland creates in its namespace.
pub const TUN: &str = "cvl0";

/// Where a cvland host keeps its files, all under the host's run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvlandPaths {
    /// The rendered config.
    pub config: PathBuf,
    /// The daemon's state dir (keys, cache).
    pub state_dir: PathBuf,
    /// The local API socket.
    pub socket: PathBuf,
}

impl CvlandPaths {
    /// The layout inside `host_dir`.
    pub fn new(host_dir: &Path) -> Self {
        Self {
            config: host_dir.join("cvland.kdl"),
            state_dir: host_dir.join("state"),
            socket: host_dir.join("cvland.sock"),
        }
    }
}

/// cvland.kdl for `node`, following `network` as a file source.
pub fn render_config(node: &str, paths: &CvlandPaths, network: &Path) -> String {
    format!(
        "// Written by cvlan-lab.\nnode {}\nstate-dir {}\nsocket {}\ntun {}\nsource \"file\" path={}\n",
        quote(node),
        quote(&paths.state_dir.display().to_string()),
        quote(&paths.socket.display().to_string()),
        quote(TUN),
        quote(&network.display().to_string()),
    )
}

/// The daemon: `cvland --config cvland.kdl`, ready when its local API socket accepts.
pub fn daemon(program: &Path, node: &str, paths: &CvlandPaths, network: &Path) -> DaemonSpec {
    DaemonSpec {
        name: "cvland".into(),
        program: program.to_owned(),
        args: vec!["--config".into(), paths.config.display().to_string()],
        config: Some((paths.config.clone(), render_config(node, paths, network))),
        env: Vec::new(),
        ready: Readiness::Socket(paths.socket.clone()),
    }
}

/// Runs `cvland pubkey --config …` in the host's namespace and returns the key it prints.
pub fn public_key(ns: &str, program: &Path, paths: &CvlandPaths) -> Result<String, CommandError> {
    let program = program.display().to_string();
    let config = paths.config.display().to_string();
    let out = command::run_in(ns, &program, &["pubkey", "--config", &config])?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_cvland_kdl() {
        let paths = CvlandPaths::new(Path::new("/run/cvlan-lab/abc123/alpha"));
        let text = render_config(
            "alpha",
            &paths,
            Path::new("/run/cvlan-lab/abc123/network.kdl"),
        );
        let doc = kdl::KdlDocument::parse_v2(&text).unwrap();
        let arg = |name: &str| {
            doc.get_arg(name)
                .and_then(|v| v.as_string())
                .unwrap()
                .to_owned()
        };
        assert_eq!(arg("node"), "alpha");
        assert_eq!(arg("state-dir"), "/run/cvlan-lab/abc123/alpha/state");
        assert_eq!(arg("socket"), "/run/cvlan-lab/abc123/alpha/cvland.sock");
        assert_eq!(arg("tun"), "cvl0");
        let source = doc.get("source").unwrap();
        assert_eq!(source.get(0).and_then(|v| v.as_string()), Some("file"));
        assert_eq!(
            source.get("path").and_then(|v| v.as_string()),
            Some("/run/cvlan-lab/abc123/network.kdl")
        );
        let spec = daemon(
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
    }
}
