//! Finding the project's binaries (`cvland`, `cvlanctl`, …): `CVLAN_BIN_DIR`, else the
//! directory of the running executable and its parent (so a test in target/debug/deps finds
//! target/debug).

use std::path::{Path, PathBuf};

/// The environment variable naming the directory with the project's binaries.
pub const BIN_DIR_ENV: &str = "CVLAN_BIN_DIR";

/// A project binary that is not built.
#[derive(Debug, thiserror::Error)]
#[error("{name} not found in {searched}; build it (`cargo build -p {name}`) or set {BIN_DIR_ENV}")]
pub struct MissingBinary {
    /// The binary's name.
    pub name: String,
    /// Where it was looked for.
    pub searched: String,
}

/// The directories searched for project binaries, in order.
pub fn search_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = explicit {
        return vec![dir.to_owned()];
    }
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return vec![PathBuf::from(dir)];
    }
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(Path::to_owned)
        .collect()
}

/// The path of project binary `name`.
pub fn find(name: &str, explicit: Option<&Path>) -> Result<PathBuf, MissingBinary> {
    let dirs = search_dirs(explicit);
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        // Absolute, so it still resolves when run from a host's directory.
        .map(|p| p.canonicalize().unwrap_or(p))
        .ok_or_else(|| MissingBinary {
            name: name.to_owned(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_in_an_explicit_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cvland"), "").unwrap();
        assert_eq!(
            find("cvland", Some(dir.path())).unwrap(),
            dir.path().join("cvland")
        );
        let err = find("cvlanctl", Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("cargo build -p cvlanctl"), "{err}");
    }

    #[test]
    fn by_default_searches_next_to_the_executable_and_its_parent() {
        if std::env::var_os(BIN_DIR_ENV).is_some() {
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let dirs = search_dirs(None);
        assert_eq!(dirs[0], exe.parent().unwrap());
        assert_eq!(dirs[1], exe.parent().unwrap().parent().unwrap());
    }
}
