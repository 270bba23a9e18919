//! The vrouter's WireGuard key (its identity in the mesh it will bridge into): created on the
//! host on first use in the state directory (0600) and never sent anywhere; only its public
//! half is printed (`cvlan-vrouterd pubkey`) and shown by `Status`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cvlan_mesh::{PrivateKey, PublicKey};

/// The key file's name inside the state directory.
pub const KEY_FILE: &str = "vrouter.key";

/// Why the key could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("{} does not hold a base64 X25519 private key", .0.display())]
    Malformed(PathBuf),
}

/// The private key in `state_dir`, created (0600, in a 0700 directory) when missing.
pub fn load_or_create(state_dir: &Path) -> Result<PrivateKey, KeyError> {
    let path = state_dir.join(KEY_FILE);
    let io = |what, source| KeyError::Io {
        what,
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return PrivateKey::from_base64(text.trim()).map_err(|_| KeyError::Malformed(path));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("cannot read", e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(state_dir).map_err(|e| io("cannot create the directory of", e))?;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io("cannot restrict the directory of", e))?;
    let key = PrivateKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io("cannot create", e))?;
    file.write_all(format!("{}\n", key.to_base64().as_str()).as_bytes())
        .map_err(|e| io("cannot write", e))?;
    Ok(key)
}

/// The public key of the vrouter whose state directory is `state_dir` (creating the key).
pub fn public_key(state_dir: &Path) -> Result<PublicKey, KeyError> {
    load_or_create(state_dir).map(|k| k.public_key())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn the_key_is_created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = public_key(&state).unwrap();
        let again = public_key(&state).unwrap();
        assert_eq!(first, again);
        let mode = std::fs::metadata(state.join(KEY_FILE)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(state.join(KEY_FILE), "not a key").unwrap();
        assert!(matches!(
            load_or_create(&state),
            Err(KeyError::Malformed(_))
        ));
    }
}
