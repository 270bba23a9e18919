//! The checks of a topology (`check { ping … }`), run against a live lab by
//! `cvlan-lab up --headless`.

use std::net::Ipv4Addr;

use crate::error::LabError;
use crate::lab::Lab;
use crate::topology::{Check, PingTarget};

/// Pings per check; all must be answered.
const PINGS: u32 = 3;

/// The outcome of one check.
#[derive(Debug)]
pub struct CheckResult {
    /// What was checked, e.g. `ping carol → alpha (100.64.0.1)`.
    pub what: String,
    /// `Ok`, or why it failed.
    pub outcome: Result<(), LabError>,
}

/// Runs every check of the lab's topology, in order.
pub fn run_all(lab: &Lab) -> Vec<CheckResult> {
    lab.topology()
        .checks
        .iter()
        .map(|check| run(lab, check))
        .collect()
}

fn run(lab: &Lab, check: &Check) -> CheckResult {
    let Check::Ping { from, to } = check;
    let (label, target) = match to {
        PingTarget::Address(addr) => (addr.to_string(), Ok(*addr)),
        PingTarget::Host(host) => {
            let addr = overlay_address(lab, host);
            let label = match &addr {
                Ok(a) => format!("{host} ({a})"),
                Err(_) => host.clone(),
            };
            (label, addr)
        }
    };
    let outcome = target.and_then(|addr| match lab.try_host(from) {
        Some(h) => h.ping(addr, PINGS),
        None => Err(LabError::UnknownHost(from.clone())),
    });
    CheckResult {
        what: format!("ping {from} → {label}"),
        outcome,
    }
}

/// The overlay address (pinned or allocated) of the node `host` runs, from the network.kdl the
/// hosts follow.
pub fn overlay_address(lab: &Lab, host: &str) -> Result<Ipv4Addr, LabError> {
    let node = lab
        .topology()
        .host(host)
        .and_then(|h| h.mesh_node())
        .ok_or_else(|| LabError::UnknownHost(host.to_owned()))?;
    lab.network_info()?
        .node(&node.node)
        .and_then(|n| n.address)
        .ok_or_else(|| LabError::NoOverlayAddress(host.to_owned()))
}
