//! The first revision: with `network-file` and an empty database, that file, checked as
//! `cvlanctl check` checks it (parse, addresses, policy-tests), becomes revision 1. An invalid
//! file is refused with its diagnostics and nothing is stored.

use std::path::{Path, PathBuf};

use cvlan_schema::report::{render_human, to_json};

use crate::store::NewRevision;

/// The author of a revision seeded from `network-file`.
pub const SEED_AUTHOR: &str = "network-file";

/// Why the network file cannot seed the database.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read network-file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file does not pass `cvlanctl check`; `report` is the rendered diagnostics.
    #[error("network-file {} is invalid; nothing was stored:\n{report}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every diagnostic, rendered by miette.
        report: String,
    },
}

/// The revision `path` makes, once checked: the whole text, its network and tenant, and
/// the warnings it passed with.
pub fn revision_from_file(path: &Path) -> Result<NewRevision, SeedError> {
    let bytes = std::fs::read(path).map_err(|source| SeedError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    // A revision is one text: what `cvlanctl apply` sends and `rollback` restores.
    let mut one_file = |_: &str| -> Result<(String, String), String> {
        Err(
            "the controller keeps network.kdl as one file: put the included file's nodes into it"
                .to_owned(),
        )
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let checked = cvlan_schema::check_network_bytes(&name, e.into_bytes(), &mut one_file);
            return Err(invalid(path, cvlan_core::check(checked)));
        }
    };
    let report = cvlan_core::check(cvlan_schema::check_network(&name, &text, &mut one_file));
    let Some(network) = report.network.as_ref().filter(|_| report.is_ok()) else {
        return Err(invalid(path, report));
    };
    Ok(NewRevision {
        tenant: network.tenant.value.clone(),
        network: network.name.value.clone(),
        author: SEED_AUTHOR.to_owned(),
        message: format!("seeded from {name}"),
        diagnostics: to_json(&report.sources, &report.diagnostics),
        text,
    })
}

fn invalid(path: &Path, report: cvlan_core::CheckReport) -> SeedError {
    SeedError::Invalid {
        path: path.to_owned(),
        report: render_human(&report.sources, &report.diagnostics),
    }
}
