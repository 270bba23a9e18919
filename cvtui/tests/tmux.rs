//! End to end: the real `cvtui` binary in a tmux pane against a daemon on a real Unix socket
//! (`send-keys` in, `capture-pane` out). It starts before the daemon exists, says so, finds
//! the daemon when it appears, shows its peers, narrows them with a filter, and `q` exits 0.
//!
//! The daemon here is the in-test LocalApiService, so the test can make it appear late and vanish;
//! tests/tests/cvtui_lab.rs runs cvtui against a real cvland in a lab.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Running, Shared};

/// How long a screen may take to show what is awaited.
const WAIT: Duration = Duration::from_secs(20);
use common::*;
use cvlan_lab::tmux::Tmux;

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(Instant::now() < deadline, "cvtui did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cvtui_in_tmux_finds_the_daemon_shows_filters_and_quits() {
    if !Tmux::available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tmux is missing (scripts/lib.sh installs it); CI must run this test"
        );
        eprintln!("SKIPPED: tmux is not installed; this end-to-end test did not run");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let socket: PathBuf = dir.path().join("run").join("cvland.sock");
    let exit_file = dir.path().join("exit");
    let command = format!(
        "{} --socket {}; echo $? > {}",
        env!("CARGO_BIN_EXE_cvtui"),
        socket.display(),
        exit_file.display()
    );
    let tmux = Tmux::start("cvtui", &command, 100, 30);

    // No daemon yet: a clear message that names the socket.
    tmux.until("the not-connected message", WAIT, |s| {
        s.contains("Not connected") && s.contains("does not exist")
    });

    // The daemon appears: cvtui connects by itself.
    let shared = Shared::new(full(named_peers(3600, 0), 3600), false);
    let daemon = Running::start(&socket, Arc::clone(&shared)).await;
    tmux.until("the overview", WAIT, |s| {
        s.contains("gw-fra1") && s.contains("REJECTED")
    });

    tmux.keys(&["2"]);
    let peers = tmux.until("the peers", WAIT, |s| {
        s.contains("laptop-alice") && s.contains("Peers 6/6")
    });
    assert!(peers.contains("db-1") && peers.contains("web-1"), "{peers}");

    tmux.keys(&["/", "laptop", "Enter"]);
    let filtered = tmux.until("the filtered table", WAIT, |s| s.contains("Peers 2/6"));
    assert!(
        filtered.contains("laptop-alice") && filtered.contains("laptop-bob"),
        "{filtered}"
    );
    assert!(!filtered.contains("db-1"), "{filtered}");

    tmux.keys(&["?"]);
    tmux.until("the help", WAIT, |s| s.contains("ping the selected peer"));
    // Escape and q sent together read as Alt-q; send q once the help has closed.
    tmux.keys(&["Escape"]);
    tmux.until("the help to close", WAIT, |s| {
        !s.contains("ping the selected peer")
    });
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&exit_file), "0\n", "q exits cleanly");
    daemon.stop().await;
}
