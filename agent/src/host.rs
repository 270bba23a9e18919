//! cvland.kdl and vrouterd.kdl: the host file, read and checked by cvlan-schema into its one
//! type ([`HostConfig`]), for the role the daemon plays.

use std::path::{Path, PathBuf};

use cvlan_schema::report::render_human;
use cvlan_schema::{HostConfig, HostRole};

/// What a daemon runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// cvland: a node of the mesh.
    Node,
    /// cvlan-vrouterd: a vrouter.
    Vrouter,
}

/// A checked host file for this daemon's role.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The file it was read from.
    pub file: PathBuf,
    /// The node or vrouter this host is.
    pub name: String,
    /// Everything the file says (defaults filled in).
    pub config: HostConfig,
    /// Warnings found in the file (it is valid), rendered for the log.
    pub warnings: Option<String>,
}

/// Why the host file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
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
    /// The file names a vrouter, and this daemon runs nodes.
    #[error("{} names vrouter `{name}`: run cvlan-vrouterd on vrouter hosts, cvland on nodes", path.display())]
    Vrouter {
        /// The file.
        path: PathBuf,
        /// The vrouter's name.
        name: String,
    },
    /// The file names a node, and this daemon runs vrouters.
    #[error("{} names node `{name}`: cvlan-vrouterd runs a `vrouter \"NAME\"` (cvland runs nodes)", path.display())]
    Node {
        /// The file.
        path: PathBuf,
        /// The node's name.
        name: String,
    },
}

impl Host {
    /// Reads and checks the host file at `path` for a daemon playing `role`.
    pub fn load(path: &Path, role: Role) -> Result<Self, HostError> {
        let checked = cvlan_schema::load_host(path).map_err(|e| match e {
            cvlan_schema::LoadError::Read { path, source } => HostError::Read { path, source },
        })?;
        let Some(config) = checked.host else {
            return Err(HostError::Invalid {
                path: path.to_owned(),
                report: render_human(&checked.sources, &checked.diagnostics),
            });
        };
        let warnings = (!checked.diagnostics.is_empty())
            .then(|| render_human(&checked.sources, &checked.diagnostics));
        let path = path.to_owned();
        let name = match (&config.role.value, role) {
            (HostRole::Node(name), Role::Node) | (HostRole::Vrouter(name), Role::Vrouter) => {
                name.clone()
            }
            (HostRole::Vrouter(name), Role::Node) => {
                let name = name.clone();
                return Err(HostError::Vrouter { path, name });
            }
            (HostRole::Node(name), Role::Vrouter) => {
                let name = name.clone();
                return Err(HostError::Node { path, name });
            }
        };
        Ok(Self {
            file: path,
            name,
            config,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use cvlan_schema::StateSource;
    use std::time::Duration;

    fn load(text: &str) -> Result<Host, HostError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cvland.kdl");
        std::fs::write(&path, text).unwrap();
        Host::load(&path, Role::Node)
    }

    #[test]
    fn reads_a_file_source_and_defaults() {
        let c = load("node \"alpha\"\nsource \"file\" path=\"/etc/n.kdl\"\nlisten-port 51999\n")
            .unwrap();
        assert_eq!(c.name, "alpha");
        let c = c.config;
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/cloudvlan"));
        assert_eq!(c.socket, PathBuf::from("/run/cloudvlan/cvland.sock"));
        assert_eq!(c.tun, "cvl0");
        assert_eq!(
            c.source.value,
            StateSource::File {
                path: "/etc/n.kdl".into()
            }
        );
        assert_eq!(c.listen_port, Some(51999));
        assert!(c.icmp_prohibited);
        let quiet =
            load("node \"alpha\"\nsource \"file\" path=\"/n.kdl\"\nicmp-prohibited #false\n");
        assert!(!quiet.unwrap().config.icmp_prohibited);
    }

    #[test]
    fn reads_a_git_source() {
        let c = load(
            "node \"alpha\"\nsource \"git\" url=\"git://10.0.0.1/net.git\" branch=\"prod\" path=\"net/network.kdl\" interval=\"5s\"\n",
        )
        .unwrap();
        assert_eq!(
            c.config.source.value,
            StateSource::Git {
                url: "git://10.0.0.1/net.git".into(),
                branch: "prod".into(),
                path: "net/network.kdl".into(),
                interval: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn invalid_files_vrouters_and_incomplete_controller_sources_are_clear_errors() {
        let err = load("node \"alpha\"\nstate-dir \"relative\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cvlan::invalid-value"), "{text}");
        assert!(text.contains("not an absolute path"), "{text}");
        let err = load("vrouter \"gw\"\n").unwrap_err();
        assert!(matches!(err, HostError::Vrouter { name, .. } if name == "gw"));
        let err = load("node \"a\"\nsource \"controller\"\n").unwrap_err();
        assert!(err.to_string().contains("cvlan::missing-property"), "{err}");
        let err = Host::load(Path::new("/nonexistent/cvland.kdl"), Role::Node).unwrap_err();
        assert!(matches!(err, HostError::Read { .. }));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vrouterd.kdl");
        std::fs::write(&path, "node \"alpha\"\n").unwrap();
        let err = Host::load(&path, Role::Vrouter).unwrap_err();
        assert!(matches!(err, HostError::Node { name, .. } if name == "alpha"));
    }
}
