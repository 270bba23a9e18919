//! Small pieces for tests that run one daemon by hand rather than a whole lab: a network
//! namespace that is removed when dropped, and a datagram socket standing in for systemd's
//! `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A network namespace with its loopback up, removed on drop (also on panic).
#[derive(Debug)]
pub struct ScratchNetns {
    name: String,
}

impl ScratchNetns {
    /// Creates namespace `name` (make it unique: tests run in parallel) with `lo` up; `None`
    /// when `ip` cannot (not root).
    pub fn create(name: &str) -> Option<Self> {
        let ns = Self {
            name: name.to_owned(),
        };
        (ip(&["netns", "add", name]) && ip(&["-n", name, "link", "set", "lo", "up"])).then_some(ns)
    }

    /// Its name, for `ip netns exec NAME …`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The test's end of `NOTIFY_SOCKET`: what a daemon tells systemd arrives here.
#[derive(Debug)]
pub struct NotifyListener {
    socket: UnixDatagram,
}

impl NotifyListener {
    /// Binds a datagram socket at `path`; each [`NotifyListener::next`] waits at most `timeout`.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub fn bind(path: &Path, timeout: Duration) -> std::io::Result<Self> {
        let socket = UnixDatagram::bind(path)?;
        socket.set_read_timeout(Some(timeout))?;
        Ok(Self { socket })
    }

    /// The next message (`READY=1`, …), or a line saying why none came.
    pub fn next(&self) -> String {
        let mut buf = [0u8; 256];
        self.socket
            .recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_else(|e| format!("nothing: {e}"))
    }
}
