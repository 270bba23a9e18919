//! The daemon's source paths survive every pathological file: read on tokio worker threads
//! (whose stacks are what overflowed before), both the file source and the git source answer
//! with a checked reading that carries diagnostics, never an abort.

use std::sync::Arc;

use cvlan_agent::source::{file, git};
use cvlan_lab::pathological::cases;

/// The stack a tokio worker gets by default: the tests run on exactly that.
const WORKER_STACK: usize = 2 * 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(WORKER_STACK)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_file_source_reads_every_pathological_file_on_a_worker() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let all = cases(usize::MAX);
    runtime().block_on(async {
        for case in all {
            let dir = dir.clone();
            // tokio::spawn, not spawn_blocking: the check runs on a worker's own stack.
            let verdict = tokio::spawn(async move {
                let path = dir.path().join(format!("{}.kdl", case.name));
                std::fs::write(&path, &case.bytes).expect("write case");
                let fetched = file::read(&path).expect("a readable file gives a reading");
                std::fs::remove_file(&path).expect("remove case");
                (
                    case.name,
                    fetched.checked.is_ok(),
                    fetched.checked.diagnostics.len(),
                )
            })
            .await
            .expect("the read neither panicked nor aborted");
            let (name, ok, diagnostics) = verdict;
            assert!(ok || diagnostics > 0, "{name}: rejected with no diagnostic");
        }
    });
}

#[test]
fn the_git_source_reads_pathological_commits_on_a_worker() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = cvlan_lab::git::WorkRepo::open(&tmp.path().join("work")).expect("work repo");
    let url = format!("file://{}", work.dir().display());
    let cache = tmp.path().join("cache");
    // One commit per family at the count that overflowed a worker before, and the big singles.
    let chosen: Vec<_> = cases(usize::MAX)
        .into_iter()
        .filter(|c| c.name.ends_with("-1500") || c.name.contains("10m") || c.name.contains("utf"))
        .collect();
    assert!(chosen.len() > 100, "{}", chosen.len());
    let rt = runtime();
    for case in chosen {
        let commit = work
            .commit(&[("network.kdl", &case.bytes)])
            .expect("commit case");
        let (url, cache) = (url.clone(), cache.clone());
        let fetched = rt
            .block_on(rt.spawn(async move { git::fetch(&url, "main", "network.kdl", &cache) }))
            .expect("the fetch neither panicked nor aborted")
            .unwrap_or_else(|e| panic!("{}: the commit was not read: {e}", case.name));
        assert_eq!(fetched.revision, commit, "{}", case.name);
        assert!(
            fetched.checked.is_ok() || !fetched.checked.diagnostics.is_empty(),
            "{}: rejected with no diagnostic",
            case.name
        );
    }
}
