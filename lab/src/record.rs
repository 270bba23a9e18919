//! The record a lab keeps of itself in its run directory (`lab.json`: namespaces, hosts,
//! processes, directories), and tearing a lab down from it, so that `cvlan-lab down` and
//! `list` work from another process and stale labs of crashed runs can be found and removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::command;
use crate::naming::LabId;
use crate::process::{self, STOP_GRACE};

/// Where labs keep their run directories unless `CVLAN_LAB_DIR` says otherwise.
pub const DEFAULT_RUN_ROOT: &str = "/run/cvlan-lab";

/// The record's file name inside a lab's run directory.
pub const RECORD_FILE: &str = "lab.json";

/// Where wireguard-go puts its UAPI sockets.
const WIREGUARD_RUN_DIR: &str = "/var/run/wireguard";

/// The run root in effect: `CVLAN_LAB_DIR`, else [`DEFAULT_RUN_ROOT`].
pub fn run_root() -> PathBuf {
    std::env::var_os("CVLAN_LAB_DIR").map_or_else(|| PathBuf::from(DEFAULT_RUN_ROOT), PathBuf::from)
}

/// What a lab records about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabRecord {
    /// The lab id.
    pub id: String,
    /// The lab's name from its topology.
    pub name: String,
    /// The topology file, if it was loaded from one.
    pub topology: Option<PathBuf>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The process that built the lab.
    pub owner_pid: u32,
    /// Its start time (guards against pid reuse).
    pub owner_start: u64,
    /// True when the lab was left running on purpose (`cvlan-lab up`).
    pub detached: bool,
    /// Seconds since the Unix epoch when the lab was created.
    pub created: u64,
    /// Every namespace, in creation order.
    pub namespaces: Vec<String>,
    /// Hosts by name.
    pub hosts: BTreeMap<String, HostRecord>,
    /// NAT routers by name: their namespaces.
    pub nats: BTreeMap<String, String>,
    /// Processes the lab started.
    pub processes: Vec<ProcessRecord>,
}

/// What the record keeps per host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Its namespace.
    pub namespace: String,
    /// Its run directory.
    pub dir: PathBuf,
    /// Its local API socket, when it runs cvland or cvlan-vrouterd.
    pub socket: Option<PathBuf>,
    /// Its wireguard-go interface, when it runs wireguard-go.
    pub wireguard_interface: Option<String>,
    /// Its charon's vici socket, when it runs strongSwan.
    #[serde(default)]
    pub vici: Option<PathBuf>,
}

/// A process the lab started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The host it runs on.
    pub host: String,
    /// The daemon's name.
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// Its start time.
    pub start_time: u64,
}

/// Whether a recorded lab is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabState {
    /// Its owner process is alive.
    Owned,
    /// It was left running by `cvlan-lab up`.
    Detached,
    /// Its owner died without tearing it down.
    Stale,
}

impl LabState {
    /// Lower-case name for tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LabState::Owned => "running",
            LabState::Detached => "detached",
            LabState::Stale => "stale",
        }
    }
}

impl LabRecord {
    /// Whether the lab is owned, detached or stale.
    pub fn state(&self) -> LabState {
        if self.detached {
            LabState::Detached
        } else if process::alive(self.owner_pid, self.owner_start) {
            LabState::Owned
        } else {
            LabState::Stale
        }
    }

    /// Writes the record atomically into its run directory.
    pub fn save(&self) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = self.run_dir.join(format!("{RECORD_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.run_dir.join(RECORD_FILE))
    }

    /// Reads the record in `run_dir`.
    pub fn load(run_dir: &Path) -> std::io::Result<LabRecord> {
        let text = std::fs::read_to_string(run_dir.join(RECORD_FILE))?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }

    /// A record for lab namespaces found without a run directory.
    fn orphan(id: &LabId, namespaces: Vec<String>, root: &Path) -> LabRecord {
        LabRecord {
            id: id.to_string(),
            name: "(no record)".into(),
            topology: None,
            run_dir: root.join(id.as_str()),
            owner_pid: 0,
            owner_start: 0,
            detached: false,
            created: 0,
            namespaces,
            hosts: BTreeMap::new(),
            nats: BTreeMap::new(),
            processes: Vec::new(),
        }
    }

    /// Stops the lab's processes and removes its namespaces, sockets and run directory.
    /// Best effort: it carries on past failures and returns what it could not remove.
    pub fn teardown(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let live: Vec<&ProcessRecord> = self
            .processes
            .iter()
            .filter(|p| process::alive(p.pid, p.start_time))
            .collect();
        for p in &live {
            process::signal(p.pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while live.iter().any(|p| process::alive(p.pid, p.start_time)) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for ns in self.namespaces.iter().rev() {
            kill_namespace_processes(ns);
            if let Err(e) = command::run("ip", &["netns", "del", ns])
                && namespace_exists(ns)
            {
                failures.push(e.to_string());
            }
        }
        for host in self.hosts.values() {
            if let Some(ifname) = &host.wireguard_interface {
                let _ = std::fs::remove_file(
                    Path::new(WIREGUARD_RUN_DIR).join(format!("{ifname}.sock")),
                );
            }
        }
        if self.run_dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.run_dir)
        {
            failures.push(format!("cannot remove {}: {e}", self.run_dir.display()));
        }
        failures
    }
}

/// SIGKILLs every process in namespace `ns` and waits for them to go.
fn kill_namespace_processes(ns: &str) {
    let pids = |ns: &str| -> Vec<u32> {
        command::run("ip", &["netns", "pids", ns])
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = pids(ns);
        if left.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in left {
            process::signal(pid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every namespace on the machine.
pub fn namespaces() -> Vec<String> {
    command::run("ip", &["netns", "list"])
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn namespace_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// Every lab found under `root`, plus lab namespaces that have no record (as stale labs).
pub fn list(root: &Path) -> Vec<LabRecord> {
    let mut labs: Vec<LabRecord> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| LabRecord::load(&e.path()).ok())
        .collect();
    let mut orphans: BTreeMap<LabId, Vec<String>> = BTreeMap::new();
    for ns in namespaces() {
        let Some(id) = LabId::of_namespace(&ns) else {
            continue;
        };
        if !labs.iter().any(|l| l.id == id.as_str()) {
            orphans.entry(id).or_default().push(ns);
        }
    }
    labs.extend(orphans.into_iter().map(|(id, mut nss)| {
        // The switch namespace (the shortest name) first: teardown removes it last.
        nss.sort_by_key(String::len);
        LabRecord::orphan(&id, nss, root)
    }));
    labs.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    labs
}

/// Finds the lab with this id (or unique id prefix) under `root`.
pub fn find(root: &Path, id: &str) -> Option<LabRecord> {
    let matches: Vec<LabRecord> = list(root)
        .into_iter()
        .filter(|l| l.id.starts_with(id))
        .collect();
    match <[LabRecord; 1]>::try_from(matches) {
        Ok([one]) => Some(one),
        Err(_) => None,
    }
}
