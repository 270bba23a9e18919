//! The command line: one flag, the socket of the daemon to watch (and a hidden `--man`).

use std::path::PathBuf;

use clap::Parser;

/// The socket a local cvland listens on unless cvland.kdl says otherwise.
pub const DEFAULT_SOCKET: &str = cvlan_types::paths::DEFAULT_SOCKET;

/// cvtui: a live terminal dashboard of a CloudVLAN node.
#[derive(Debug, Parser)]
#[command(
    name = "cvtui",
    version,
    about = "Live terminal dashboard of a CloudVLAN node: peers, policy hits, events",
    long_about = "cvtui watches a running cvland (or cvlan-vrouterd) over its local API: \
        the node's status, its peers with live rates, policy rules with live hit counters, \
        and the event stream. Relay and IPsec SA views appear when the daemon serves them.\n\n\
        It needs no configuration: point it at the daemon's socket. When the daemon is not \
        running or restarts, cvtui says so and reconnects by itself.\n\n\
        Keys: Tab or 1-6 switch views, ? lists every key, q or Ctrl-C quits.",
    after_help = "Examples:\n  \
        cvtui\n  \
        cvtui --socket /run/cvlan-lab/ab12cd/alpha/cvland.sock"
)]
pub struct Cli {
    /// The local API socket of the daemon to watch.
    #[arg(long, env = "CVLAN_SOCKET", default_value = DEFAULT_SOCKET, value_name = "PATH")]
    pub socket: PathBuf,

    /// Print the man page, cvtui(1), as roff instead (scripts/package installs it).
    #[arg(long, hide = true)]
    pub man: bool,
}
