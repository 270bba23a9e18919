//! Processes the lab runs inside host namespaces: a generic description of a daemon (program,
//! arguments, the config file it is given, how to tell it is ready), starting it with its
//! output in a log file, waiting for readiness, and stopping it (SIGTERM, then SIGKILL).

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a stopped process gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A daemon as the lab runs it; every kind of daemon (cvland, wireguard-go, relayd, any
/// program) is described this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSpec {
    /// Name, unique on its host; the log is `<name>.log` in the host's directory.
    pub name: String,
    /// The program (a path, or a name looked up in PATH).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// A config file to write before starting: path and contents.
    pub config: Option<(PathBuf, String)>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// When it counts as up.
    pub ready: Readiness,
}

/// When a started daemon counts as up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// A Unix socket at this path accepts connections.
    Socket(PathBuf),
    /// It has not exited shortly after starting.
    Running,
}

/// Why a process could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Starting it failed.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// The daemon's name.
        name: String,
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited before it was ready.
    #[error("{name} exited ({status}) before it was ready; its log {log} ends with:\n{tail}")]
    Exited {
        /// The daemon's name.
        name: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its log file.
        log: String,
        /// The last lines of its log.
        tail: String,
    },
    /// It was not ready in time.
    #[error("{name} was not ready within {timeout:?} (waiting for {what}); see {log}")]
    Timeout {
        /// The daemon's name.
        name: String,
        /// The wait.
        timeout: Duration,
        /// What was awaited.
        what: String,
        /// Its log file.
        log: String,
    },
    /// The wait was interrupted (Ctrl-C or SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

/// A process running in a namespace; stopped when dropped unless released.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    pid: u32,
    start_time: u64,
    log: PathBuf,
}

impl Proc {
    /// Starts `spec` in namespace `ns` with `dir` as working directory and log directory.
    pub fn start(ns: &str, dir: &Path, spec: &DaemonSpec) -> Result<Proc, ProcessError> {
        let spawn_err = |source| ProcessError::Spawn {
            name: spec.name.clone(),
            program: spec.program.display().to_string(),
            source,
        };
        if let Some((path, text)) = &spec.config {
            std::fs::write(path, text).map_err(spawn_err)?;
        }
        let log = dir.join(format!("{}.log", spec.name));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(&spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a terminal's Ctrl-C reaches the lab, which stops it.
            .process_group(0);
        let child = cmd.spawn().map_err(spawn_err)?;
        let pid = child.id();
        Ok(Proc {
            name: spec.name.clone(),
            child: Some(child),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            log,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process's start time in clock ticks since boot (guards against pid reuse).
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// The daemon's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until `ready` holds, the process exits, `timeout` passes or `interrupt` is set.
    pub fn wait_ready(
        &mut self,
        ready: &Readiness,
        timeout: Duration,
        interrupt: Option<&Arc<AtomicBool>>,
    ) -> Result<(), ProcessError> {
        let deadline = Instant::now() + timeout;
        let settle = Instant::now() + Duration::from_millis(150);
        loop {
            if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                return Err(ProcessError::Interrupted);
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(ProcessError::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log.display().to_string(),
                    tail: log_tail(&self.log, 15),
                });
            }
            let ok = match ready {
                Readiness::Socket(path) => UnixStream::connect(path).is_ok(),
                Readiness::Running => Instant::now() >= settle,
            };
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let what = match ready {
                    Readiness::Socket(p) => format!("socket {}", p.display()),
                    Readiness::Running => "it to keep running".into(),
                };
                return Err(ProcessError::Timeout {
                    name: self.name.clone(),
                    timeout,
                    what,
                    log: self.log.display().to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL after `grace`. Returns when it is gone.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, grace);
        }
    }

    /// Lets the process run on after this handle is gone (for a lab left running).
    pub fn release(mut self) {
        self.child = None;
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

/// Stops `child`: SIGTERM, then SIGKILL after `grace`; reaps it.
pub fn stop_child(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(None)) {
        signal(child.id(), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// Sends `sig` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// True when `pid` exists (and, if `start` is non-zero, started at that time).
pub fn alive(pid: u32, start: u64) -> bool {
    match start_time(pid) {
        Some(t) => start == 0 || t == start,
        None => false,
    }
}

/// The start time of `pid` (field 22 of /proc/PID/stat), if it exists and is not a zombie.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    // After the state (field 3) come fields 4..; the start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_identifies_this_process() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert!(alive(me, t));
        assert!(!alive(me, t + 1));
        assert!(start_time(u32::MAX).is_none());
    }
}
