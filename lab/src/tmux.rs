//! A private tmux server for end-to-end tests of terminal programs (cvtui): start a command
//! in a detached pane of a fixed size, type keys into it, read the screen back.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own (its own socket name), killed on drop.
pub struct Tmux {
    name: String,
}

impl Tmux {
    /// True when the `tmux` binary runs here.
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts `command` (a shell command line) in a `width`×`height` pane of a new server
    /// whose name is unique to this process and `label`.
    ///
    /// # Panics
    /// When tmux cannot start the session.
    pub fn start(label: &str, command: &str, width: u16, height: u16) -> Self {
        let tmux = Self {
            name: format!("cvlan-{label}-{}", std::process::id()),
        };
        let (width, height) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &width,
            "-y",
            &height,
            command,
        ]);
        tmux
    }

    /// Runs one tmux command against this server and returns its stdout.
    ///
    /// # Panics
    /// When tmux fails: a test has nothing sensible to do then.
    pub fn run(&self, args: &[&str]) -> String {
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

    /// Types `keys` into the pane (tmux key names: `Enter`, `Escape`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend(keys);
        self.run(&args);
    }

    /// The pane's current text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Waits (polling, up to `timeout`) until the screen satisfies `done` and returns it.
    ///
    /// # Panics
    /// On timeout, showing the last screen and `what` was awaited.
    pub fn until(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
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
