//! The host's keys: the node key (WireGuard) and the machine key (the host's identity towards
//! a controller, kept when the node key rotates). Each is created on first use in the state
//! dir (directory 0700, file 0600) and read on every later start. A private key is never
//! logged and never leaves this module except as the [`PrivateKey`] its user needs; only its
//! public half is shown anywhere.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cvlan_types::{PrivateKey, PrivateKeyError};

use crate::files::{FileError, failed, sync_dir};

/// The node key's file name inside the state dir.
pub const NODE_KEY_FILE: &str = "node.key";

/// The machine key's file name inside the state dir.
pub const MACHINE_KEY_FILE: &str = "machine.key";

/// Which of the host's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The WireGuard key peers configure for this host.
    Node,
    /// The key this host registers with a controller under.
    Machine,
}

impl KeyKind {
    /// The key's file name inside the state dir.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Node => NODE_KEY_FILE,
            Self::Machine => MACHINE_KEY_FILE,
        }
    }
}

/// The state dir's mode: only the daemon's user may enter it.
pub const STATE_DIR_MODE: u32 = 0o700;

/// The key file's mode: only the daemon's user may read it.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Why the node key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Creating or securing the state dir, or reading or writing the key, failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The key file exists but holds no key (its content is not shown).
    #[error("{} does not hold a private key ({reason}); move it away to make a new key", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// Why (no key material in it).
        reason: PrivateKeyError,
    },
    /// Others than the owner may read the key file.
    #[error("{} may be read by others (mode {mode:o}); run `chmod 600` on it", path.display())]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The node key in `state_dir`, created (with the directory) when it does not exist yet.
pub fn node_key(state_dir: &Path) -> Result<PrivateKey, KeyError> {
    load_or_create(state_dir, KeyKind::Node)
}

/// The `kind` key in `state_dir`, created (with the directory) when it does not exist yet.
pub fn load_or_create(state_dir: &Path, kind: KeyKind) -> Result<PrivateKey, KeyError> {
    std::fs::create_dir_all(state_dir).map_err(failed("create", state_dir))?;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(STATE_DIR_MODE))
        .map_err(failed("secure", state_dir))?;
    load_or_create_file(&state_dir.join(kind.file_name()))
}

/// The key in the file at `path`, created (mode 0600) when it does not exist yet. A missing
/// directory is created with mode 0700; an existing one is left as it is (it may be shared,
/// as a controller's `key-file` directory may be).
pub fn load_or_create_file(path: &Path) -> Result<PrivateKey, KeyError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(file_name) = path.file_name() else {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(failed("create", path)(source).into());
    };
    match read(path) {
        Err(KeyError::Io(FileError { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(STATE_DIR_MODE)
            .create(dir)
            .map_err(failed("create", dir))?;
    }
    let key = PrivateKey::generate();
    // Written aside with its final mode, then linked into place: a crash leaves either no key
    // or a whole one, and a concurrent start (`cvland pubkey` while cvland starts) keeps
    // whichever key was linked first.
    let staging = dir.join(format!(
        ".{}.{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&staging);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(&staging)
        .map_err(failed("create", &staging))?;
    let written = file
        .write_all(key.to_base64().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    let linked = written.and_then(|()| std::fs::hard_link(&staging, path));
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            sync_dir(dir);
            tracing::info!(public_key = %key.public_key(), file = %path.display(), "created a key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(failed("write", path)(e).into()),
    }
}

/// Reads the key at `path`, refusing a file others may read.
fn read(path: &Path) -> Result<PrivateKey, KeyError> {
    let metadata = std::fs::metadata(path).map_err(failed("read", path))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(failed("read", path))?);
    PrivateKey::from_base64(&text).map_err(|reason| KeyError::Malformed {
        path: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_with_private_modes_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let first = node_key(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(NODE_KEY_FILE)), 0o600);
        let again = node_key(&dir).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        let machine = load_or_create(&dir, KeyKind::Machine).unwrap();
        assert_ne!(
            machine.public_key(),
            first.public_key(),
            "two keys, not one"
        );
        assert_eq!(mode(&dir.join(MACHINE_KEY_FILE)), 0o600);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [MACHINE_KEY_FILE, NODE_KEY_FILE],
            "no staging file left behind"
        );
    }

    #[test]
    fn a_key_file_anywhere_is_created_once_in_a_new_private_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("new/dir/controller.key");
        let first = load_or_create_file(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("new/dir")), 0o700);
        let again = load_or_create_file(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("new/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["controller.key"], "no staging file left behind");
    }

    #[test]
    fn an_exposed_or_malformed_key_is_refused_without_showing_it() {
        let tmp = tempfile::tempdir().unwrap();
        let key = node_key(tmp.path()).unwrap();
        let path = tmp.path().join(NODE_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = node_key(tmp.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains(key.to_base64().as_str()));
        std::fs::write(&path, "not a key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = node_key(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
        assert!(!err.to_string().contains("not a key"));
    }
}
