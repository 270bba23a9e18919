//! The desired state's source: network.kdl on disk, read and checked whole (includes
//! followed), identified by the SHA-256 of its text, and watched so a change (an edit, or a
//! new file renamed over it) wakes the daemon. SIGHUP and the `Reload` call wake it too.

use std::path::{Path, PathBuf};

use cvlan_schema::Checked;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Why the file source could not be read or watched.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] cvlan_schema::LoadError),
    /// The directory could not be watched.
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: notify::Error,
    },
}

/// A network.kdl read from disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// SHA-256 of the text of every file read (root, then includes), hex.
    pub revision: String,
    /// The checked network and its diagnostics.
    pub checked: Checked,
}

/// network.kdl on disk.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

/// Keeps the file watched; dropping it stops the watch.
pub struct Watch {
    _watcher: RecommendedWatcher,
}

impl FileSource {
    /// The source at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the file now.
    pub fn load(&self) -> Result<Loaded, SourceError> {
        let checked = cvlan_schema::load_network(&self.path)?;
        let mut hash = Sha256::new();
        for (_, source) in checked.sources.iter() {
            hash.update(source.text.as_bytes());
            hash.update([0]);
        }
        let revision = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Loaded { revision, checked })
    }

    /// Watches the file's directory (so a file renamed over it is seen) and sends on `wake`
    /// whenever something happens to the file.
    pub fn watch(&self, wake: mpsc::Sender<()>) -> Result<Watch, SourceError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map(ToOwned::to_owned);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(ToOwned::to_owned) == name);
                if ours {
                    // Full: a wake-up is pending anyway.
                    let _ = wake.try_send(());
                }
            })
            .map_err(|source| SourceError::Watch {
                path: dir.clone(),
                source,
            })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| SourceError::Watch { path: dir, source })?;
        Ok(Watch { _watcher: watcher })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_file_renamed_over_the_source_wakes_the_watcher_and_changes_the_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network.kdl");
        std::fs::write(&path, "network \"a\"\n").unwrap();
        let source = FileSource::new(&path);
        let first = source.load().unwrap();
        assert!(first.checked.is_ok());
        assert_eq!(first.revision.len(), 64);
        let (tx, mut rx) = mpsc::channel(1);
        let _watch = source.watch(tx).unwrap();
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        let aside = dir.path().join("network.kdl.tmp");
        std::fs::write(&aside, "network \"b\"\n").unwrap();
        std::fs::rename(&aside, &path).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("woken")
            .unwrap();
        let second = source.load().unwrap();
        assert_ne!(first.revision, second.revision);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(source.load(), Err(SourceError::Read(_))));
    }
}
