//! End to end: the real `cvtui` binary in a tmux pane against a daemon on a real Unix socket
//! (`send-keys` in, `capture-pane` out). It starts before the daemon exists, says so, finds
//! the daemon when it appears, shows its peers, narrows them with a filter, and `q` exits 0.
//!
//! The daemon here is the in-test LocalApi; the same test against a cvland in a cvlan-lab
//! namespace waits for cvland to land.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Running, Shared};
use common::*;

/// A tmux server of our own (its own socket name), killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.name, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(command: &str) -> Self {
        let tmux = Self {
            name: format!("cvtui-e2e-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "cvtui",
            "-x",
            "100",
            "-y",
            "30",
            command,
        ]);
        tmux
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "cvtui"];
        args.extend(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "cvtui"])
    }

    /// Waits (polling, up to 20 s) until the screen satisfies `done`.
    fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.name, "kill-server"])
            .output();
    }
}

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
    let tmux = Tmux::start(&command);

    // No daemon yet: a clear message that names the socket.
    tmux.until("the not-connected message", |s| {
        s.contains("Not connected") && s.contains("does not exist")
    });

    // The daemon appears: cvtui connects by itself.
    let shared = Shared::new(full(named_peers(3600, 0), 3600), false);
    let daemon = Running::start(&socket, Arc::clone(&shared)).await;
    tmux.until("the overview", |s| {
        s.contains("gw-fra1") && s.contains("REJECTED")
    });

    tmux.keys(&["2"]);
    let peers = tmux.until("the peers", |s| {
        s.contains("laptop-alice") && s.contains("Peers 6/6")
    });
    assert!(peers.contains("db-1") && peers.contains("web-1"), "{peers}");

    tmux.keys(&["/", "laptop", "Enter"]);
    let filtered = tmux.until("the filtered table", |s| s.contains("Peers 2/6"));
    assert!(
        filtered.contains("laptop-alice") && filtered.contains("laptop-bob"),
        "{filtered}"
    );
    assert!(!filtered.contains("db-1"), "{filtered}");

    tmux.keys(&["?"]);
    tmux.until("the help", |s| s.contains("ping the selected peer"));
    // Escape and q sent together read as Alt-q; send q once the help has closed.
    tmux.keys(&["Escape"]);
    tmux.until("the help to close", |s| {
        !s.contains("ping the selected peer")
    });
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&exit_file), "0\n", "q exits cleanly");
    daemon.stop().await;
}
