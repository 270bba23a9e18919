//! Which language a CloudVLAN file is written in: network.kdl, a host file (cvland.kdl,
//! vrouterd.kdl) or controller.kdl, so that `cvlanctl check` can take any of them.

use std::path::Path;

use crate::controller_file::{ControllerFileChecked, check_controller_bytes};
use crate::host::{HostChecked, check_host_bytes};
use crate::load::{Checked, check_network_bytes, include_reader, read_bytes};
use crate::span::SourceId;
use crate::{LoadError, syntax};

/// File names that are always host files.
pub const HOST_FILE_NAMES: &[&str] = &["cvland.kdl", "vrouterd.kdl"];

/// File names that are always controller files.
pub const CONTROLLER_FILE_NAMES: &[&str] = &["controller.kdl"];

/// Top-level nodes only a controller file has.
const CONTROLLER_ONLY: &[&str] = &["key-file", "database", "network-file"];

/// Top-level nodes only a host file has.
const HOST_ONLY: &[&str] = &[
    "state-dir",
    "socket",
    "tun",
    "source",
    "icmp-prohibited",
    "listen-port",
    "dns",
    "metrics",
];

/// Host files are a few lines; past this size a file is read as network.kdl without looking.
const HOST_FILE_MAX_BYTES: usize = 64 * 1024;

/// A checked file of either language.
#[derive(Debug, Clone)]
pub enum AnyChecked {
    /// network.kdl (or a file included by one).
    Network(Box<Checked>),
    /// cvland.kdl or vrouterd.kdl.
    Host(Box<HostChecked>),
    /// controller.kdl.
    Controller(Box<ControllerFileChecked>),
}

/// Reads the file at `path` and checks it in its language: a controller file when it is named
/// controller.kdl or its top level holds `key-file`, `database` or `network-file`; a host file
/// when it is named like one, or when its top level is a `node` or `vrouter` without a block,
/// or holds `state-dir`, `source` or another node only host files have; network.kdl
/// otherwise.
pub fn load_any(path: &Path) -> Result<AnyChecked, LoadError> {
    let bytes = read_bytes(path)?;
    let name = path.display().to_string();
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let small = bytes.len() <= HOST_FILE_MAX_BYTES;
    if CONTROLLER_FILE_NAMES.contains(&file_name)
        || (small && has_top_level(&bytes, CONTROLLER_ONLY))
    {
        return Ok(AnyChecked::Controller(Box::new(check_controller_bytes(
            &name, bytes,
        ))));
    }
    let by_name = HOST_FILE_NAMES.contains(&file_name);
    let host = by_name || (small && looks_like_host(&bytes));
    if !host {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok(AnyChecked::Network(Box::new(check_network_bytes(
            &name,
            bytes,
            &mut include_reader(dir),
        ))));
    }
    Ok(AnyChecked::Host(Box::new(check_host_bytes(&name, bytes))))
}

fn has_top_level(bytes: &[u8], names: &[&str]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    syntax::parse(SourceId(0), text)
        .is_ok_and(|nodes| nodes.iter().any(|n| names.contains(&n.name.as_str())))
}

fn looks_like_host(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let Ok(nodes) = syntax::parse(SourceId(0), text) else {
        return false;
    };
    let names = || nodes.iter().map(|n| n.name.as_str());
    names().any(|n| HOST_ONLY.contains(&n))
        || (names().all(|n| n != "network")
            && nodes
                .iter()
                .any(|n| matches!(n.name.as_str(), "node" | "vrouter") && n.children.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str, text: &str) -> &'static str {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        match load_any(&path).unwrap() {
            AnyChecked::Network(_) => "network",
            AnyChecked::Host(_) => "host",
            AnyChecked::Controller(_) => "controller",
        }
    }

    #[test]
    fn tells_host_files_from_network_files() {
        assert_eq!(kind("cvland.kdl", "network \"n\" {}\n"), "host");
        assert_eq!(
            kind(
                "alpha.kdl",
                "node \"alpha\"\nsource \"file\" path=\"/n.kdl\"\n"
            ),
            "host"
        );
        assert_eq!(kind("gw.kdl", "vrouter \"gw\"\n"), "host");
        assert_eq!(kind("x.kdl", "state-dir \"/var/lib/x\"\n"), "host");
        assert_eq!(
            kind("controller.kdl", "listen \"0.0.0.0:7443\"\n"),
            "controller"
        );
        assert_eq!(
            kind("ctl.kdl", "listen \"0.0.0.0:7443\"\nkey-file \"/k\"\n"),
            "controller"
        );
        assert_eq!(
            kind("n.kdl", "network \"n\" {}\nnode \"a\" { tags \"x\" }\n"),
            "network"
        );
        assert_eq!(kind("broken.kdl", "network \"n\" {\n"), "network");
        assert_eq!(
            kind(
                "relays.kdl",
                "relay \"r\" address=\"a:1\" public-key=\"k\"\n"
            ),
            "network"
        );
    }
}
