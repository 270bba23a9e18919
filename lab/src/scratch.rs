//! Small pieces for tests that run one daemon by hand rather than a whole lab: a network
//! namespace that is removed when dropped, a datagram socket standing in for systemd's
//! `NOTIFY_SOCKET`, and one life of a daemon under it ([`notify_life`]).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
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

/// What a daemon told systemd in one life: started, reloaded by SIGHUP, stopped by SIGTERM.
#[derive(Debug)]
pub struct NotifyLife {
    /// The first message (`READY=1`).
    pub ready: String,
    /// Whether the daemon's socket existed when that message arrived.
    pub serving: bool,
    /// The two messages after SIGHUP (`RELOADING=1`, then `READY=1`).
    pub reload: (String, String),
    /// The message after SIGTERM (`STOPPING=1`).
    pub stopping: String,
    /// How the daemon exited.
    pub status: ExitStatus,
    /// Its stderr.
    pub log: String,
}

impl NotifyLife {
    /// Why this life is not what `Type=notify` expects of a daemon (READY=1 once serving,
    /// RELOADING=1 then READY=1 around a reload that re-reads the source, STOPPING=1, a clean
    /// exit), or `Ok`.
    ///
    /// # Errors
    /// The first difference, with the daemon's log.
    pub fn check(&self) -> Result<(), String> {
        let log = &self.log;
        let checks = [
            (
                self.ready == "READY=1",
                format!("first message {:?}", self.ready),
            ),
            (
                self.serving,
                "READY=1 came before the API socket was up".to_owned(),
            ),
            (
                (self.reload.0.as_str(), self.reload.1.as_str()) == ("RELOADING=1", "READY=1"),
                format!("around SIGHUP: {:?}", self.reload),
            ),
            (
                log.contains("SIGHUP: reading the source again"),
                "no re-read on SIGHUP".to_owned(),
            ),
            (
                self.stopping == "STOPPING=1",
                format!("on SIGTERM: {:?}", self.stopping),
            ),
            (self.status.success(), format!("exit: {:?}", self.status)),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(format!("{why}\n{log}")),
            None => Ok(()),
        }
    }
}

/// Runs `daemon` (its program, arguments and environment) in `ns` with `NOTIFY_SOCKET` at
/// `dir/notify.sock` and stderr in `dir/log`; once it says it is ready, notes whether `socket`
/// exists, sends SIGHUP, then SIGTERM, and records what it said and how it exited. Each
/// message is waited for at most 20 s.
///
/// # Errors
/// When the notify socket, the log or the process cannot be set up.
pub fn notify_life(
    ns: &ScratchNetns,
    daemon: &Command,
    dir: &Path,
    socket: &Path,
) -> std::io::Result<NotifyLife> {
    let notify_path = dir.join("notify.sock");
    let notify = NotifyListener::bind(&notify_path, Duration::from_secs(20))?;
    let log_path = dir.join("log");
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns.name()])
        .arg(daemon.get_program())
        .args(daemon.get_args())
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(std::fs::File::create(&log_path)?);
    for (key, value) in daemon.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    let mut child = command.spawn()?;
    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    };
    let ready = notify.next();
    let serving = socket.exists();
    let hup = kill("-HUP");
    let reload = (notify.next(), notify.next());
    let term = kill("-TERM");
    let stopping = notify.next();
    if !(hup && term) {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let log = std::fs::read_to_string(&log_path)?;
    Ok(NotifyLife {
        ready,
        serving,
        reload,
        stopping,
        status,
        log,
    })
}
