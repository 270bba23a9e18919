//! Where a host keeps its files by default (each can be set in cvland.kdl or vrouterd.kdl).

/// Default state directory (keys, cached netmap, flow stats).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cloudvlan";
/// Default local API socket.
pub const DEFAULT_SOCKET: &str = "/run/cloudvlan/cvland.sock";
/// Default TUN device name.
pub const DEFAULT_TUN: &str = "cvl0";
/// Default network file for `source "file"` and when no source is given.
pub const DEFAULT_NETWORK_FILE: &str = "/etc/cloudvlan/network.kdl";
