//! The file source: network.kdl on this host, its includes read relative to it. The
//! directories holding the file and its includes are watched (editors and the lab replace the
//! file by rename, which a watch on the file itself would lose); a burst of events is
//! debounced into one reading. Only events naming the file or an include count: the other
//! files of those directories (the daemon's own log, sockets, an editor's swap file) change
//! all the time, and each reading of a 100,000-node file costs a second of CPU. Where no watch
//! can be set, the file is polled instead.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{Fetched, Reading, Source, SourceError, revision_of};

/// Quiet time after a file event before the file is read (an editor's save is several events).
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// The longest a steady stream of events can delay a reading.
const MAX_DEBOUNCE: Duration = Duration::from_secs(1);
/// How often the file is read when it cannot be watched.
const POLL: Duration = Duration::from_secs(2);

/// A network.kdl on this host, watched.
pub struct FileSource {
    path: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    /// The names of the file and its includes: the events that count.
    names: Arc<RwLock<BTreeSet<OsString>>>,
    events: mpsc::Receiver<()>,
}

impl FileSource {
    /// Follows the network file at `path`.
    pub fn new(path: PathBuf) -> Self {
        let (tx, events) = mpsc::channel(1);
        let names: Arc<RwLock<BTreeSet<OsString>>> = Arc::default();
        let ours = names.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let concerns_us = |e: &notify::Event| {
                let names = ours.read().unwrap_or_else(PoisonError::into_inner);
                // No path: the watch overflowed or must rescan; read to be safe.
                e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| p.file_name().is_some_and(|n| names.contains(n)))
            };
            if event.is_ok_and(|e| !e.kind.is_access() && concerns_us(&e)) {
                // A full channel already holds a wake-up: nothing is lost by dropping this one.
                let _ = tx.try_send(());
            }
        })
        .map_err(|e| tracing::warn!(error = %e, "cannot watch files; polling instead"))
        .ok();
        Self {
            path,
            watcher,
            watched: BTreeSet::new(),
            names,
            events,
        }
    }

    /// Watches the directories of `files` (and no others).
    fn watch(&mut self, files: impl IntoIterator<Item = PathBuf>) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let files: Vec<PathBuf> = files.into_iter().collect();
        *self.names.write().unwrap_or_else(PoisonError::into_inner) = files
            .iter()
            .filter_map(|f| f.file_name().map(OsString::from))
            .collect();
        let wanted: BTreeSet<PathBuf> = files
            .into_iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .map(|d| {
                if d.as_os_str().is_empty() {
                    ".".into()
                } else {
                    d
                }
            })
            .collect();
        for dir in self.watched.difference(&wanted) {
            let _ = watcher.unwatch(dir);
        }
        let mut watched = BTreeSet::new();
        for dir in wanted {
            if self.watched.contains(&dir) {
                watched.insert(dir);
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch; polling");
                }
            }
        }
        self.watched = watched;
    }
}

impl Source for FileSource {
    const CHANGE: &'static str = "file changed";

    async fn changed(&mut self) {
        if self.watched.is_empty() {
            tokio::time::sleep(POLL).await;
            return;
        }
        if self.events.recv().await.is_none() {
            // The watcher (which holds the sender) is gone: poll.
            tokio::time::sleep(POLL).await;
            return;
        }
        let deadline = tokio::time::Instant::now() + MAX_DEBOUNCE;
        while let Ok(Some(())) = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + DEBOUNCE),
            self.events.recv(),
        )
        .await
        {}
    }

    async fn fetch(&mut self) -> Result<Fetched, SourceError> {
        let path = self.path.clone();
        let fetched = tokio::task::spawn_blocking(move || read(&path)).await?;
        // Watch the file's directory even when it is missing: its creation is a change.
        let mut files = vec![self.path.clone()];
        if let Ok(f) = &fetched {
            files.extend(
                f.checked
                    .sources
                    .iter()
                    .map(|(_, s)| PathBuf::from(&s.name)),
            );
        }
        self.watch(files);
        fetched.map(|reading| Fetched::Files(Box::new(reading)))
    }
}

/// Reads and checks the file and its includes.
pub fn read(path: &Path) -> Result<Reading, SourceError> {
    let checked = cvlan_schema::load_network(path)?;
    Ok(Reading {
        revision: revision_of(&checked.sources),
        checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_follows_the_file_and_its_includes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("network.kdl");
        std::fs::write(
            &root,
            "network \"n\" { overlay \"100.64.0.0/10\" }\ninclude \"more.kdl\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("more.kdl"),
            "node \"a\" { public-key \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" }\n",
        )
        .unwrap();
        let first = read(&root).unwrap();
        assert!(first.checked.is_ok(), "{:?}", first.checked.diagnostics);
        assert_eq!(first.revision.len(), 64);
        assert_eq!(read(&root).unwrap().revision, first.revision);
        std::fs::write(
            dir.path().join("more.kdl"),
            "node \"b\" { public-key \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\" }\n",
        )
        .unwrap();
        assert_ne!(read(&root).unwrap().revision, first.revision);
        let missing = read(&dir.path().join("nope.kdl")).unwrap_err().to_string();
        assert!(missing.contains("nope.kdl"), "{missing}");
    }

    #[tokio::test]
    async fn a_rename_over_the_file_wakes_the_source_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("network.kdl");
        std::fs::write(&root, "network \"n\" { overlay \"100.64.0.0/10\" }\n").unwrap();
        let mut source = FileSource::new(root.clone());
        let first = source.fetch().await.unwrap();
        let aside = dir.path().join("network.kdl.tmp");
        std::fs::write(&aside, "network \"m\" { overlay \"100.64.0.0/10\" }\n").unwrap();
        std::fs::rename(&aside, &root).unwrap();
        tokio::time::timeout(Duration::from_secs(5), source.changed())
            .await
            .expect("a rename over the file is seen");
        let second = source.fetch().await.unwrap();
        assert_ne!(first.revision(), second.revision());
        // The burst was consumed by the debounce: nothing further is pending.
        assert!(
            tokio::time::timeout(Duration::from_millis(400), source.changed())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn other_files_of_the_directory_do_not_wake_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("network.kdl");
        std::fs::write(&root, "network \"n\" { overlay \"100.64.0.0/10\" }\n").unwrap();
        let mut source = FileSource::new(root.clone());
        source.fetch().await.unwrap();
        // A log beside the file, written to, created and removed: as cvland's own log is.
        let log = dir.path().join("cvland.log");
        for i in 0..20 {
            std::fs::write(&log, format!("line {i}\n")).unwrap();
        }
        std::fs::remove_file(&log).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(600), source.changed())
                .await
                .is_err(),
            "an unrelated file woke the source"
        );
        std::fs::write(&root, "network \"m\" { overlay \"100.64.0.0/10\" }\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), source.changed())
            .await
            .expect("the file's own change is seen");
    }
}
