//! Pre-shared keys for the lab's IPsec peers: every `secret-file=` in network.kdl that names
//! a file that does not exist gets a fresh random secret in the lab's run directory
//! (`psk/psk-N`, mode 0600) and is pointed there. Equal paths share one secret, so two ends
//! that name the same file agree, and two that name different files do not (a wrong-PSK lab).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::LabError;
use crate::netfile::{self, NetworkFileError};

/// The directory of generated secrets inside a run directory.
pub const PSK_DIR: &str = "psk";

/// Returns `text` with each missing `secret-file` replaced by a generated one under
/// `run_dir`, creating those files.
pub fn provide(text: &str, run_dir: &Path, template: &Path) -> Result<String, LabError> {
    let nf_err = |source: NetworkFileError| LabError::NetworkFile {
        path: template.to_owned(),
        source,
    };
    let mut generated: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in netfile::secret_files(text).map_err(nf_err)? {
        if Path::new(&path).exists() || generated.contains_key(&path) {
            continue;
        }
        let dir = run_dir.join(PSK_DIR);
        std::fs::create_dir_all(&dir).map_err(LabError::io("cannot create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(LabError::io("cannot restrict", &dir))?;
        let file = dir.join(format!("psk-{}", generated.len() + 1));
        write_secret(&file)?;
        generated.insert(path, file);
    }
    if generated.is_empty() {
        return Ok(text.to_owned());
    }
    cvlan_schema::edit::replace_secret_files(text, &|old| {
        generated.get(old).map(|p| p.display().to_string())
    })
    .map_err(|e| nf_err(e.into()))
}

/// 32 random hex characters, written 0600.
fn write_secret(file: &Path) -> Result<(), LabError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(LabError::io("cannot read", "/dev/urandom"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(LabError::io("cannot create", file))?;
    std::io::Write::write_all(&mut f, format!("{secret}\n").as_bytes())
        .map_err(LabError::io("cannot write", file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_secret_files_are_generated_once_per_path_and_existing_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("mine");
        std::fs::write(&existing, "keep").unwrap();
        let text = format!(
            r#"vrouter "a" {{
    ipsec-peer "x" {{ auth "psk" secret-file="/lab/shared"; }}
    ipsec-peer "y" {{ auth "psk" secret-file="/lab/other"; }}
    ipsec-peer "z" {{ auth "psk" secret-file="{}"; }}
}}
vrouter "b" {{
    ipsec-peer "x" {{ auth "psk" secret-file="/lab/shared"; }}
}}
"#,
            existing.display()
        );
        let out = provide(&text, dir.path(), Path::new("network.kdl")).unwrap();
        let files = netfile::secret_files(&out).unwrap();
        let first = dir.path().join("psk/psk-1").display().to_string();
        let second = dir.path().join("psk/psk-2").display().to_string();
        assert_eq!(
            files,
            [
                first.clone(),
                second.clone(),
                existing.display().to_string(),
                first.clone()
            ]
        );
        let a = std::fs::read_to_string(&first).unwrap();
        let b = std::fs::read_to_string(&second).unwrap();
        assert_eq!(a.trim().len(), 32);
        assert_ne!(a, b);
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
