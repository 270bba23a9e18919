//! Pre-shared keys: read from the file or environment variable network.kdl names, held only
//! as a zeroized [`Psk`], and compared by a digest so a changed secret is noticed on reload
//! without keeping a second copy around. No secret ever reaches a log, an event or the API.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cvlan_ipsec::Psk;
use cvlan_schema::model::SecretSource;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest secret accepted (a PSK is a passphrase, not a file).
const MAX_SECRET_BYTES: u64 = 4096;

/// Why a secret could not be read. The messages name where it was looked for, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read the secret file {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The environment variable is not set (or not UTF-8).
    #[error("the environment variable {0} holding the secret is not set")]
    Env(String),
    /// The secret is empty (after removing a trailing newline).
    #[error("the secret from {0} is empty")]
    Empty(String),
    /// The file is larger than any sensible pre-shared key.
    #[error("the secret file {} is larger than {MAX_SECRET_BYTES} bytes", .0.display())]
    TooLarge(PathBuf),
}

/// A secret as the daemon holds it: the key for the IKE endpoint and a digest to compare.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The key itself (zeroized on drop, redacted in `Debug`).
    pub psk: Psk,
    /// SHA-256 of the key: equal digests mean an unchanged secret.
    pub digest: [u8; 32],
}

/// Reads the secret `source` names. One trailing newline (`\n` or `\r\n`) is removed, as an
/// editor or `echo` leaves it.
pub fn read_secret(source: &SecretSource) -> Result<Secret, SecretError> {
    let (bytes, origin) = match source {
        SecretSource::File(path) => (read_file(path)?, path.display().to_string()),
        SecretSource::Env(name) => {
            let value = std::env::var(name).map_err(|_| SecretError::Env(name.clone()))?;
            (Zeroizing::new(value.into_bytes()), format!("${name}"))
        }
    };
    let mut bytes = bytes;
    let newline = if bytes.ends_with(b"\r\n") {
        2
    } else {
        usize::from(bytes.ends_with(b"\n"))
    };
    let keep = bytes.len() - newline;
    bytes.truncate(keep);
    if bytes.is_empty() {
        return Err(SecretError::Empty(origin));
    }
    let digest: [u8; 32] = Sha256::digest(&bytes[..]).into();
    Ok(Secret {
        psk: Psk::new(bytes.to_vec()),
        digest,
    })
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let err = |reason: String| SecretError::File {
        path: path.to_owned(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if !metadata.is_file() {
        return Err(err("not a regular file".into()));
    }
    if metadata.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge(path.to_owned()));
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            "the secret file is readable by group or others; make it 0600"
        );
    }
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_secret_loses_its_trailing_newline_and_compares_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let a = read_secret(&SecretSource::File(path.clone())).unwrap();
        std::fs::write(&path, "s3cret").unwrap();
        let b = read_secret(&SecretSource::File(path.clone())).unwrap();
        assert_eq!(a.digest, b.digest, "the newline is not part of the secret");
        std::fs::write(&path, "other\r\n").unwrap();
        let c = read_secret(&SecretSource::File(path)).unwrap();
        assert_ne!(a.digest, c.digest);
        assert!(!format!("{a:?}").contains("s3cret"), "Debug never shows it");
    }

    #[test]
    fn missing_empty_and_huge_secrets_are_errors_that_do_not_show_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_secret(&SecretSource::File(missing.clone())).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(matches!(
            read_secret(&SecretSource::File(empty)),
            Err(SecretError::Empty(_))
        ));
        let huge = dir.path().join("huge");
        std::fs::write(&huge, vec![b'x'; 5000]).unwrap();
        assert!(matches!(
            read_secret(&SecretSource::File(huge)),
            Err(SecretError::TooLarge(_))
        ));
        let e = read_secret(&SecretSource::Env("CVLAN_TEST_NO_SUCH_VARIABLE".into())).unwrap_err();
        assert_eq!(e, SecretError::Env("CVLAN_TEST_NO_SUCH_VARIABLE".into()));
    }
}
