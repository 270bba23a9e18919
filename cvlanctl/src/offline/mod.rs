//! Offline commands: they read network.kdl files and need no daemon.

pub mod addresses;
pub mod check;
pub mod explain;
pub mod fmt;

use std::path::Path;

use cvlan_core::CheckReport;
use cvlan_schema::report::render_human;

use crate::outcome::Failure;
use crate::output::print_err;

/// Loads and checks one network file; a file that cannot be read is a failure (exit 2).
pub fn load_checked(path: &Path) -> Result<CheckReport, Failure> {
    let checked = cvlan_schema::load_network(path).map_err(Failure::from)?;
    Ok(cvlan_core::check(checked))
}

/// Loads a network file for a command that needs a valid one: diagnostics go to stderr, and
/// `None` means the file is invalid (the command answers "no").
pub fn load_valid(path: &Path) -> Result<Option<ValidNetwork>, Failure> {
    let report = load_checked(path)?;
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        print_err(&render_human(&report.sources, &errors));
        print_err(&format!(
            "{}: invalid, see `cvlanctl check {}`\n",
            path.display(),
            path.display()
        ));
        return Ok(None);
    }
    match (report.network, report.allocation) {
        (Some(network), Some(allocation)) => Ok(Some(ValidNetwork {
            network,
            allocation,
        })),
        _ => Ok(None),
    }
}

/// A network file that passed validation, with its addresses.
pub struct ValidNetwork {
    /// The model.
    pub network: cvlan_schema::model::Network,
    /// Every node's and vrouter's addresses.
    pub allocation: cvlan_core::Allocation,
}
