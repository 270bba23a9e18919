//! cvland.kdl: reading and checking the host file into what the daemon runs with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cvlan_schema::report::render_human;
use cvlan_schema::{HostRole, StateSource};

/// Where the desired state comes from, as the daemon follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// A network.kdl on this host, watched.
    File {
        /// The file.
        path: PathBuf,
    },
    /// A network.kdl at the head of a git branch, fetched every `interval`.
    Git {
        /// Repository URL (`file://`, a local path, `git://`, `ssh://`, `http://` or `https://`).
        url: String,
        /// The branch followed.
        branch: String,
        /// The file's path inside the repository.
        path: String,
        /// How often to fetch.
        interval: Duration,
    },
}

/// A checked cvland.kdl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The node this host is.
    pub node: String,
    /// Keys (0600), the cached netmap, the git source's repository.
    pub state_dir: PathBuf,
    /// The local API socket.
    pub socket: PathBuf,
    /// The TUN device name.
    pub tun: String,
    /// Where the desired state comes from.
    pub source: SourceConfig,
    /// This host's WireGuard port, when it overrides the network's `listen-port`.
    pub listen_port: Option<u16>,
    /// Answer denied connection attempts with ICMP "administratively prohibited"
    /// (`icmp-prohibited`, on by default).
    pub icmp_prohibited: bool,
    /// Warnings found in the file (it is valid), rendered for the log.
    pub warnings: Option<String>,
}

/// Why cvland.kdl cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is invalid; `report` is the rendered diagnostics.
    #[error("{} is invalid:\n{report}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every diagnostic, rendered by miette.
        report: String,
    },
    /// The file names a vrouter: that host runs cvlan-vrouterd.
    #[error("{} names vrouter `{name}`: run cvlan-vrouterd on vrouter hosts, cvland on nodes", path.display())]
    Vrouter {
        /// The file.
        path: PathBuf,
        /// The vrouter's name.
        name: String,
    },
}

impl DaemonConfig {
    /// Reads and checks cvland.kdl at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let checked = cvlan_schema::load_host(path).map_err(|e| match e {
            cvlan_schema::LoadError::Read { path, source } => ConfigError::Read { path, source },
        })?;
        let Some(host) = checked.host else {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                report: render_human(&checked.sources, &checked.diagnostics),
            });
        };
        let warnings = (!checked.diagnostics.is_empty())
            .then(|| render_human(&checked.sources, &checked.diagnostics));
        let node = match host.role.value {
            HostRole::Node(name) => name,
            HostRole::Vrouter(name) => {
                return Err(ConfigError::Vrouter {
                    path: path.to_owned(),
                    name,
                });
            }
        };
        let source = match host.source.value {
            StateSource::File { path } => SourceConfig::File { path },
            StateSource::Git {
                url,
                branch,
                path,
                interval,
            } => SourceConfig::Git {
                url,
                branch,
                path,
                interval,
            },
            // cvlan-schema refuses this source for nodes (`cvlan::unsupported`) until cvland
            // can follow a controller.
            StateSource::Controller { .. } => {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    report: "source \"controller\" is not supported yet".to_owned(),
                });
            }
        };
        Ok(Self {
            file: path.to_owned(),
            node,
            state_dir: host.state_dir,
            socket: host.socket,
            tun: host.tun,
            source,
            listen_port: host.listen_port,
            icmp_prohibited: host.icmp_prohibited,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<DaemonConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cvland.kdl");
        std::fs::write(&path, text).unwrap();
        DaemonConfig::load(&path)
    }

    #[test]
    fn reads_a_file_source_and_defaults() {
        let c = load("node \"alpha\"\nsource \"file\" path=\"/etc/n.kdl\"\nlisten-port 51999\n")
            .unwrap();
        assert_eq!(c.node, "alpha");
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/cloudvlan"));
        assert_eq!(c.socket, PathBuf::from("/run/cloudvlan/cvland.sock"));
        assert_eq!(c.tun, "cvl0");
        assert_eq!(
            c.source,
            SourceConfig::File {
                path: "/etc/n.kdl".into()
            }
        );
        assert_eq!(c.listen_port, Some(51999));
        assert!(c.icmp_prohibited);
        let quiet =
            load("node \"alpha\"\nsource \"file\" path=\"/n.kdl\"\nicmp-prohibited #false\n");
        assert!(!quiet.unwrap().icmp_prohibited);
    }

    #[test]
    fn reads_a_git_source() {
        let c = load(
            "node \"alpha\"\nsource \"git\" url=\"git://10.0.0.1/net.git\" branch=\"prod\" path=\"net/network.kdl\" interval=\"5s\"\n",
        )
        .unwrap();
        assert_eq!(
            c.source,
            SourceConfig::Git {
                url: "git://10.0.0.1/net.git".into(),
                branch: "prod".into(),
                path: "net/network.kdl".into(),
                interval: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn invalid_files_vrouters_and_controllers_are_clear_errors() {
        let err = load("node \"alpha\"\nstate-dir \"relative\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cvlan::invalid-value"), "{text}");
        assert!(text.contains("not an absolute path"), "{text}");
        let err = load("vrouter \"gw\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::Vrouter { name, .. } if name == "gw"));
        let err = load("node \"a\"\nsource \"controller\"\n").unwrap_err();
        assert!(err.to_string().contains("cvlan::unsupported"), "{err}");
        let err = DaemonConfig::load(Path::new("/nonexistent/cvland.kdl")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }
}
