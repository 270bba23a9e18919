//! Handles on a running lab's machines: run commands in a host's namespace, spawn processes
//! that die with the handle, ping, and reach a host's files; flush a NAT router's mappings.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::command;
use crate::error::LabError;
use crate::hostd::{DaemonPaths, HostDaemon};
use crate::process::stop_child;
use crate::record::HostRecord;
use crate::strongswan::StrongswanPaths;
use crate::topology::Host;

/// A host of a running lab.
#[derive(Debug, Clone, Copy)]
pub struct HostHandle<'a> {
    pub(crate) host: &'a Host,
    pub(crate) record: &'a HostRecord,
    pub(crate) public_key: Option<&'a str>,
}

impl<'a> HostHandle<'a> {
    /// The host's name.
    pub fn name(&self) -> &'a str {
        &self.host.name
    }

    /// Its network namespace.
    pub fn namespace(&self) -> &'a str {
        &self.record.namespace
    }

    /// Its run directory (config, logs, state).
    pub fn dir(&self) -> &'a Path {
        &self.record.dir
    }

    /// Where its cvland or cvlan-vrouterd serves the local API (reachable from the root
    /// namespace).
    pub fn socket_path(&self) -> PathBuf {
        self.record
            .socket
            .clone()
            .unwrap_or_else(|| DaemonPaths::new(HostDaemon::Cvland, &self.record.dir).socket)
    }

    /// Its daemon's state dir (keys, cached netmap).
    pub fn state_dir(&self) -> PathBuf {
        DaemonPaths::new(HostDaemon::Cvland, &self.record.dir).state_dir
    }

    /// The vici URI of its charon (for `swanctl --uri`), when it runs strongSwan.
    pub fn vici_uri(&self) -> Option<String> {
        self.record
            .vici
            .as_ref()
            .map(|v| format!("unix://{}", v.display()))
    }

    /// Runs `swanctl ARGS --uri VICI` against its charon and returns the output, whatever
    /// its exit status.
    pub fn swanctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output, LabError> {
        let uri = self
            .vici_uri()
            .ok_or_else(|| LabError::UnknownHost(format!("{} (no strongSwan)", self.name())))?;
        Command::new("swanctl")
            .args(args)
            .args(["--uri", &uri])
            .stdin(Stdio::null())
            .output()
            .map_err(LabError::io("cannot run swanctl for", self.dir()))
    }

    /// Its charon's log file, when it runs strongSwan.
    pub fn strongswan_log(&self) -> PathBuf {
        StrongswanPaths::new(&self.record.dir).log
    }

    /// Its address on `switch`.
    pub fn address(&self, switch: &str) -> Option<Ipv4Addr> {
        self.host.address_on(switch)
    }

    /// The WireGuard public key the lab wrote into network.kdl for it.
    pub fn public_key(&self) -> Option<&'a str> {
        self.public_key
    }

    /// The wireguard-go interface, when the host runs one.
    pub fn wireguard_interface(&self) -> Option<&'a str> {
        self.record.wireguard_interface.as_deref()
    }

    /// Runs `argv` in the host's namespace and returns its output, whatever its exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Output, LabError> {
        exec_in(self.namespace(), self.dir(), argv)
    }

    /// Starts `argv` in the host's namespace with stdin, stdout and stderr piped; it is
    /// stopped (SIGTERM, then SIGKILL) when the returned handle is dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<LabChild, LabError> {
        let child = netns_command(self.namespace(), self.dir(), argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(LabError::io("cannot spawn in", self.dir()))?;
        Ok(LabChild { child })
    }

    /// Waits until something in the host's namespace listens on TCP `port` (a server just
    /// spawned there is ready for a client), polling `ss` for at most `timeout`.
    pub fn wait_listening(&self, port: u16, timeout: Duration) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        let filter = format!("sport = :{port}");
        loop {
            let out = self.exec(&["ss", "-Hltn", &filter])?;
            if out.status.success() && !out.stdout.trim_ascii().is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::NotListening {
                    host: self.host.name.clone(),
                    port,
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `count` pings to `target` (0.2 s apart) and succeeds when all are answered
    /// within a few seconds' deadline.
    pub fn ping(&self, target: Ipv4Addr, count: u32) -> Result<(), LabError> {
        let count = count.max(1);
        let deadline = (3 + count / 5).to_string();
        let count_s = count.to_string();
        let target_s = target.to_string();
        let out = self.exec(&[
            "ping", "-n", "-q", "-c", &count_s, "-i", "0.2", "-w", &deadline, &target_s,
        ])?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let detail = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .map_or_else(
                || String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                str::to_owned,
            );
        Err(LabError::Ping {
            from: self.host.name.clone(),
            to: target,
            detail,
        })
    }
}

/// A NAT router of a running lab.
#[derive(Debug, Clone, Copy)]
pub struct NatHandle<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) run_dir: &'a Path,
}

impl NatHandle<'_> {
    /// The router's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Its network namespace.
    pub fn namespace(&self) -> &str {
        self.namespace
    }

    /// Wipes the router's connection tracking table, so every mapping is made anew (as a
    /// NAT rebinding does).
    pub fn flush_conntrack(&self) -> Result<(), LabError> {
        command::run_in(self.namespace, "conntrack", &["-F"])?;
        Ok(())
    }

    /// Runs `argv` in the router's namespace and returns its output.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Output, LabError> {
        exec_in(self.namespace, self.run_dir, argv)
    }
}

/// A process started in a lab namespace; stopped when dropped. Dereferences to the
/// [`Child`] for its pipes and pid.
#[derive(Debug)]
pub struct LabChild {
    child: Child,
}

impl LabChild {
    /// Stops it now (SIGTERM, then SIGKILL after `grace`).
    pub fn stop(&mut self, grace: Duration) {
        stop_child(&mut self.child, grace);
    }
}

impl Deref for LabChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for LabChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(1));
    }
}

fn netns_command<S: AsRef<OsStr>>(ns: &str, dir: &Path, argv: &[S]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv);
    if dir.is_dir() {
        cmd.current_dir(dir);
    }
    cmd
}

fn exec_in<S: AsRef<OsStr>>(ns: &str, dir: &Path, argv: &[S]) -> Result<Output, LabError> {
    netns_command(ns, dir, argv)
        .stdin(Stdio::null())
        .output()
        .map_err(LabError::io("cannot run a command in", dir))
}
