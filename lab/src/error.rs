//! The one error type of the lab library: what went wrong while building, running or
//! tearing down a lab, with the failing command, file or daemon named.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::bins::MissingBinary;
use crate::command::CommandError;
use crate::netfile::NetworkFileError;
use crate::process::ProcessError;
use crate::topology::LoadError;
use crate::wireguard::WireguardError;

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LabError {
    /// The topology file is unreadable or invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Topology(#[from] LoadError),
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    #[diagnostic(code("cvlan-lab::io"))]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A system tool failed.
    #[error(transparent)]
    #[diagnostic(code("cvlan-lab::command"))]
    Command(#[from] CommandError),
    /// A daemon did not start or become ready.
    #[error(transparent)]
    #[diagnostic(code("cvlan-lab::daemon"))]
    Process(#[from] ProcessError),
    /// A project binary is not built.
    #[error(transparent)]
    #[diagnostic(code("cvlan-lab::missing-binary"))]
    MissingBinary(#[from] MissingBinary),
    /// network.kdl could not be read or edited.
    #[error("{}: {source}", path.display())]
    #[diagnostic(code("cvlan-lab::network-file"))]
    NetworkFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: NetworkFileError,
    },
    /// A wireguard-go host could not be set up.
    #[error(transparent)]
    #[diagnostic(code("cvlan-lab::wireguard"))]
    Wireguard(#[from] WireguardError),
    /// A strongSwan host could not be set up.
    #[error(transparent)]
    #[diagnostic(code("cvlan-lab::strongswan"))]
    Strongswan(#[from] crate::strongswan::StrongswanError),
    /// The lab has no network.kdl but one was asked for.
    #[error("this lab has no network.kdl")]
    #[diagnostic(code("cvlan-lab::no-network"))]
    NoNetwork,
    /// A host's node has no overlay address (pinned or allocated) to ping.
    #[error("host `{0}` has no overlay `address`: pin one in network.kdl, or make the file valid")]
    #[diagnostic(code("cvlan-lab::no-overlay-address"))]
    NoOverlayAddress(String),
    /// No host or NAT router has this name.
    #[error("the lab has no host or NAT router called `{0}`")]
    #[diagnostic(code("cvlan-lab::unknown-host"))]
    UnknownHost(String),
    /// A ping got too few replies.
    #[error("{from} → {to}: {detail}")]
    #[diagnostic(code("cvlan-lab::ping-failed"))]
    Ping {
        /// The pinging host.
        from: String,
        /// The target.
        to: Ipv4Addr,
        /// ping's summary.
        detail: String,
    },
    /// Nothing started listening on a TCP port in time.
    #[error("{host}: nothing listens on TCP port {port} after {waited:?}")]
    #[diagnostic(code("cvlan-lab::not-listening"))]
    NotListening {
        /// The host that should listen.
        host: String,
        /// The port.
        port: u16,
        /// How long it was given.
        waited: Duration,
    },
    /// Ctrl-C or SIGTERM arrived while the lab was being built.
    #[error("interrupted")]
    #[diagnostic(code("cvlan-lab::interrupted"))]
    Interrupted,
}

impl LabError {
    /// An [`LabError::Io`] for `what` on `path`.
    pub fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { what, path, source }
    }
}
