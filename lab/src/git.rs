//! A git work repository, as the tests of cvland's git source need one: files committed on
//! `main`, commit ids back. (Serving it is up to the test: a path, `file://`, `git daemon`,
//! `git http-backend`.)

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A work tree with its repository, on branch `main`.
pub struct WorkRepo {
    dir: PathBuf,
}

impl WorkRepo {
    /// `dir` as a repository on `main`, created and initialised when it is not one yet.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let repo = Self {
            dir: dir.to_path_buf(),
        };
        if !dir.join(".git").exists() {
            repo.git(&["init", "-q", "-b", "main"])?;
        }
        Ok(repo)
    }

    /// The work tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `files` (paths relative to the work tree, and their contents), commits everything
    /// and returns the new commit id.
    pub fn commit<T: AsRef<[u8]>>(&self, files: &[(&str, T)]) -> io::Result<String> {
        for (name, text) in files {
            let path = self.dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text.as_ref())?;
        }
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "-m", "change"])?;
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs git in the work tree with a fixed identity; its trimmed output, or why it failed.
    fn git(&self, args: &[&str]) -> io::Result<String> {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=cvlan-tests",
                "-c",
                "user.email=tests@cvlan.invalid",
            ])
            .args(args)
            .current_dir(&self.dir)
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}
