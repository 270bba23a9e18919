//! File-system helpers the agent's state files share (keys, the netmap cache): one error type
//! that names what was being done and where, and making a rename or link durable.

use std::path::{Path, PathBuf};

/// A file-system operation that failed: what was being done, on which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done (`read`, `write`, `create`, …).
    pub action: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// The `map_err` adapter that turns an IO error into a [`FileError`] for `action` on `path`.
pub(crate) fn failed(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError {
        action,
        path,
        source,
    }
}

/// Makes a rename or link in `dir` durable (best effort: some file systems refuse).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
