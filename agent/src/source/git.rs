//! The git source: fetches one branch every interval with gix into a bare repository in the
//! state dir (no checkout, no pull), reads network.kdl at the branch head from the commit's
//! tree and its includes from the same tree. The revision is the commit id. Any URL gix
//! fetches from works: `file://`, a local path, `git://` (e.g. a `git daemon`), `ssh://`,
//! and smart `http://` / `https://` (reqwest with rustls on ring; the system's trusted roots).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Fetched, Reading, Source, SourceError};

/// A branch of a git repository, fetched every interval.
pub struct GitSource {
    url: String,
    branch: String,
    path: String,
    interval: Duration,
    repo_dir: PathBuf,
}

impl GitSource {
    /// Follows `path` on `branch` of `url`, keeping the fetched objects in `repo_dir`.
    pub fn new(
        url: String,
        branch: String,
        path: String,
        interval: Duration,
        repo_dir: PathBuf,
    ) -> Self {
        Self {
            url,
            branch,
            path,
            interval,
            repo_dir,
        }
    }
}

impl Source for GitSource {
    const CHANGE: &'static str = "branch fetched";

    async fn changed(&mut self) {
        tokio::time::sleep(self.interval).await;
    }

    async fn fetch(&mut self) -> Result<Fetched, SourceError> {
        let (url, branch, path, dir) = (
            self.url.clone(),
            self.branch.clone(),
            self.path.clone(),
            self.repo_dir.clone(),
        );
        let reading =
            tokio::task::spawn_blocking(move || fetch(&url, &branch, &path, &dir)).await??;
        Ok(Fetched::Files(Box::new(reading)))
    }
}

/// Why the branch could not be fetched or its file read. gix's errors are kept as text with
/// their causes ("Transport handshake failed: … UnknownIssuer").
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The local repository could not be opened or created.
    #[error("cannot {action} {}: {reason}", dir.display())]
    Repository {
        /// "open" or "create".
        action: &'static str,
        /// The repository directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The URL or branch cannot be fetched from.
    #[error("bad {what}: {reason}")]
    Setup {
        /// The URL or the branch, quoted.
        what: String,
        /// Why.
        reason: String,
    },
    /// The remote could not be reached or fetched from.
    #[error("{doing} {url} failed: {reason}")]
    Remote {
        /// What was being done ("connecting to", "listing the refs of", "fetching").
        doing: &'static str,
        /// The repository URL.
        url: String,
        /// Why, with causes.
        reason: String,
    },
    /// The remote has no such branch.
    #[error("{url} has no branch `{branch}`")]
    NoBranch {
        /// The repository URL.
        url: String,
        /// The branch.
        branch: String,
    },
    /// The commit or a file in it could not be read.
    #[error("{0}")]
    Content(String),
}

/// Fetches `branch` of `url` into the bare repository at `repo_dir` (created when missing)
/// and reads `path` with its includes at the branch head.
pub fn fetch(url: &str, branch: &str, path: &str, repo_dir: &Path) -> Result<Reading, GitError> {
    use_ring_for_tls();
    let repo = open_or_init(repo_dir)?;
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    let remote = repo
        .remote_at(url)
        .map_err(|e| GitError::Setup {
            what: format!("git URL {url}"),
            reason: e.to_string(),
        })?
        .with_refspecs([refspec.as_str()], gix::remote::Direction::Fetch)
        .map_err(|e| GitError::Setup {
            what: format!("branch `{branch}`"),
            reason: e.to_string(),
        })?;
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| remote_failed("connecting to", url, &e))?;
    let interrupt = AtomicBool::new(false);
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| remote_failed("listing the refs of", url, &e))?
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| remote_failed("fetching", url, &e))?;
    let wanted = format!("refs/heads/{branch}");
    let head = outcome
        .ref_map
        .mappings
        .iter()
        .find(|m| m.remote.as_name().is_some_and(|n| n == wanted.as_str()))
        .and_then(|m| m.remote.peeled_id())
        .map(ToOwned::to_owned)
        .ok_or_else(|| GitError::NoBranch {
            url: url.to_owned(),
            branch: branch.to_owned(),
        })?;
    let tree = repo
        .find_object(head)
        .and_then(|o| o.peel_to_commit())
        .and_then(|c| c.tree())
        .map_err(|e| GitError::Content(format!("cannot read commit {head}: {e}")))?;
    let read = |file: &str| -> Result<Vec<u8>, String> {
        let entry = tree
            .lookup_entry_by_path(file)
            .map_err(|e| format!("cannot look up {file} in {head}: {e}"))?
            .ok_or_else(|| format!("{file} is not in commit {head} of branch `{branch}`"))?;
        let object = entry
            .object()
            .map_err(|e| format!("cannot read {file} in {head}: {e}"))?;
        Ok(object.data.clone())
    };
    let bytes = read(path).map_err(GitError::Content)?;
    let dir = Path::new(path).parent().unwrap_or(Path::new(""));
    let mut include = |rel: &str| {
        let file =
            normalize(&dir.join(rel)).ok_or_else(|| format!("`{rel}` leaves the repository"))?;
        let text = cvlan_schema::utf8(read(&file)?, &file)?;
        Ok((file, text))
    };
    let checked = cvlan_schema::check_network_bytes(path, bytes, &mut include);
    Ok(Reading {
        revision: head.to_string(),
        checked,
    })
}

fn remote_failed(doing: &'static str, url: &str, error: &dyn std::error::Error) -> GitError {
    GitError::Remote {
        doing,
        url: url.to_owned(),
        reason: with_causes(error),
    }
}

/// `error` and its causes, outermost first ("Transport handshake failed: … invalid peer
/// certificate: UnknownIssuer"), each cause once.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = e.source();
    }
    text
}

/// Makes ring the process's rustls provider (reqwest is built without one, so that ring stays
/// the only crypto backend). A provider already installed is kept.
fn use_ring_for_tls() {
    // An Err only says that a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn open_or_init(dir: &Path) -> Result<gix::Repository, GitError> {
    let failed = |action, e: &dyn std::fmt::Display| GitError::Repository {
        action,
        dir: dir.to_owned(),
        reason: e.to_string(),
    };
    if dir.join("HEAD").exists() {
        return gix::open(dir).map_err(|e| failed("open", &e));
    }
    std::fs::create_dir_all(dir).map_err(|e| failed("create", &e))?;
    gix::init_bare(dir).map_err(|e| failed("create", &e))
}

/// `a/./b/../c` as `a/c`; `None` when `..` climbs above the repository root.
fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(p) => parts.push(p.to_str()?),
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            std::path::Component::CurDir => {}
            std::path::Component::RootDir | std::path::Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A work repository with `files` committed on `main`; returns the commit id.
    fn commit(repo: &Path, files: &[(&str, &str)]) -> String {
        cvlan_lab::git::WorkRepo::open(repo)
            .and_then(|r| r.commit(files))
            .expect("git commits")
    }

    #[test]
    fn fetches_the_branch_head_and_reads_includes_from_its_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let first = commit(
            &work,
            &[
                (
                    "net/network.kdl",
                    "network \"n\" { overlay \"100.64.0.0/10\" }\ninclude \"nodes.kdl\"\n",
                ),
                (
                    "net/nodes.kdl",
                    "node \"a\" { public-key \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" }\n",
                ),
            ],
        );
        let url = format!("file://{}", work.display());
        let cache = tmp.path().join("cache");
        let got = fetch(&url, "main", "net/network.kdl", &cache).unwrap();
        assert_eq!(got.revision, first);
        assert!(got.checked.is_ok(), "{:?}", got.checked.diagnostics);
        let names: Vec<_> = got
            .checked
            .sources
            .iter()
            .map(|(_, s)| s.name.clone())
            .collect();
        assert_eq!(names, ["net/network.kdl", "net/nodes.kdl"]);
        let nodes = &got.checked.network.as_ref().unwrap().nodes;
        assert_eq!(nodes[0].name.value, "a");

        let second = commit(
            &work,
            &[(
                "net/nodes.kdl",
                "node \"b\" { public-key \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\" }\n",
            )],
        );
        let got = fetch(&url, "main", "net/network.kdl", &cache).unwrap();
        assert_eq!(got.revision, second);
        assert_eq!(got.checked.network.unwrap().nodes[0].name.value, "b");
    }

    #[test]
    fn missing_repositories_branches_and_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        commit(&work, &[("network.kdl", "network \"n\"\n")]);
        let url = format!("file://{}", work.display());
        let cache = tmp.path().join("cache");
        let err = fetch(&url, "prod", "network.kdl", &cache)
            .unwrap_err()
            .to_string();
        assert!(err.contains("prod"), "{err}");
        let err = fetch(&url, "main", "other.kdl", &cache)
            .unwrap_err()
            .to_string();
        assert!(err.contains("other.kdl is not in commit"), "{err}");
        let gone = format!("file://{}", tmp.path().join("gone").display());
        let err = fetch(&gone, "main", "network.kdl", &cache)
            .unwrap_err()
            .to_string();
        assert!(!err.is_empty());
    }

    #[test]
    fn include_paths_stay_inside_the_repository() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.kdl")).as_deref(),
            Some("a/c.kdl")
        );
        assert_eq!(normalize(Path::new("../x.kdl")), None);
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
    }
}
