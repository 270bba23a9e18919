//! The last good netmap and its revision, kept in the state dir so a restart with the source
//! unreachable or invalid comes up on what last ran. Written atomically (aside, synced, renamed
//! over, directory synced): a crash leaves the old cache or the new one, never half of one.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cvlan_core::netmap::NetMap;
use serde::{Deserialize, Serialize};

use crate::files::{FileError, failed, sync_dir};

/// The cache's file name inside the state dir.
pub const CACHE_FILE: &str = "netmap.json";

/// What the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedState {
    /// The node the map is for (a cache of another node is ignored).
    pub node: String,
    /// The revision the map was built from.
    pub revision: String,
    /// When it was applied (seconds since the Unix epoch).
    pub applied_at: u64,
    /// The netmap.
    pub netmap: NetMap,
}

impl CachedState {
    /// The cache of `netmap` for `node`, applied now.
    pub fn new(node: &str, revision: &str, netmap: NetMap) -> Self {
        Self {
            node: node.to_owned(),
            revision: revision.to_owned(),
            applied_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            netmap,
        }
    }
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The file is not a cache this daemon wrote.
    #[error("{} is not a valid netmap cache: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Writes `state` as the cache in `state_dir`.
pub fn save(state_dir: &Path, state: &CachedState) -> Result<(), CacheError> {
    let path = state_dir.join(CACHE_FILE);
    let staging = state_dir.join(format!(".{CACHE_FILE}.tmp"));
    let json = serde_json::to_vec(state).map_err(|source| CacheError::Corrupt {
        path: path.clone(),
        source,
    })?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)
        .map_err(failed("write", &staging))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(failed("write", &staging))?;
    std::fs::rename(&staging, &path).map_err(failed("replace", &path))?;
    sync_dir(state_dir);
    Ok(())
}

/// The cache in `state_dir`, if there is one.
pub fn load(state_dir: &Path) -> Result<Option<CachedState>, CacheError> {
    let path = state_dir.join(CACHE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(failed("read", &path)(source).into());
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| CacheError::Corrupt { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_core::builder::{NetworkBuilder, NodeSpec};

    fn netmap() -> NetMap {
        let net = NetworkBuilder::new("lab")
            .node(NodeSpec::new("alpha").key(cvlan_schema::PublicKey([1; 32])))
            .build();
        cvlan_core::netmap::netmap_for(&net, &cvlan_core::allocate(&net), "alpha").unwrap()
    }

    #[test]
    fn a_saved_cache_loads_back_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let first = CachedState::new("alpha", "rev1", netmap());
        save(dir.path(), &first).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(first));
        let second = CachedState::new("alpha", "rev2", netmap());
        save(dir.path(), &second).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(second));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CACHE_FILE]);
    }

    #[test]
    fn a_corrupt_cache_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CACHE_FILE), b"{\"node\": 3").unwrap();
        assert!(matches!(load(dir.path()), Err(CacheError::Corrupt { .. })));
    }
}
