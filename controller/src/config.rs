//! controller.kdl as the controller uses it: checked by cvlan-schema, with its diagnostics
//! rendered for the operator when it is invalid.

use std::path::{Path, PathBuf};

use cvlan_schema::ControllerFile;
use cvlan_schema::report::render_human;

/// A checked controller.kdl.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// What the file says (relative paths resolved against its directory).
    pub controller: ControllerFile,
    /// Warnings found in the file (it is valid), rendered for the log.
    pub warnings: Option<String>,
}

/// Why controller.kdl cannot be used.
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
}

impl Config {
    /// Reads and checks the controller file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let checked = cvlan_schema::load_controller_file(path).map_err(|e| match e {
            cvlan_schema::LoadError::Read { path, source } => ConfigError::Read { path, source },
        })?;
        let Some(controller) = checked.controller else {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                report: render_human(&checked.sources, &checked.diagnostics),
            });
        };
        let warnings = (!checked.diagnostics.is_empty())
            .then(|| render_human(&checked.sources, &checked.diagnostics));
        Ok(Self {
            file: path.to_owned(),
            controller,
            warnings,
        })
    }
}
