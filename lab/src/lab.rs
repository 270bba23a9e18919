//! A running lab: built from a topology (network, host directories, keys, network.kdl,
//! daemons), handed out as host and NAT handles, and torn down on drop, on panic, or when
//! asked; or left running on purpose (`cvlan-lab up`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cvlan_schema::edit::{self, Block};

use crate::bins;
use crate::error::LabError;
use crate::host::{HostHandle, NatHandle};
use crate::hostd::{self, DaemonPaths, HostDaemon};
use crate::naming::LabId;
use crate::netfile::{self, NetworkFileError, NetworkInfo};
use crate::netplan::{self, Step};
use crate::process::{self, DaemonSpec, Proc, Readiness};
use crate::psk;
use crate::realize;
use crate::record::{self, HostRecord, LabRecord, ProcessRecord};
use crate::strongswan::{self, StrongswanError, StrongswanPaths};
use crate::topology::{Service, StrongswanConfig, Topology};
use crate::wireguard;

/// The file name of the network.kdl the hosts follow, in the lab's run directory.
pub const NETWORK_FILE: &str = "network.kdl";

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Where run directories go (default: `CVLAN_LAB_DIR` or /run/cvlan-lab).
    pub run_root: PathBuf,
    /// Where the project's binaries are (default: `CVLAN_BIN_DIR` or next to this program).
    pub bin_dir: Option<PathBuf>,
    /// How long a daemon may take to become ready.
    pub ready_timeout: Duration,
    /// Set from a signal handler to abandon the start (the lab is then torn down).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            run_root: record::run_root(),
            bin_dir: None,
            ready_timeout: Duration::from_secs(15),
            interrupt: None,
        }
    }
}

/// A running lab. Dropping it (also while a panic unwinds) stops its processes and removes
/// its namespaces and run directory.
#[derive(Debug)]
pub struct Lab {
    topology: Topology,
    id: LabId,
    record: LabRecord,
    public_keys: BTreeMap<String, String>,
    procs: Vec<Proc>,
    live: bool,
}

impl Lab {
    /// Loads the topology at `path` and starts it.
    pub fn start_file(path: &Path, options: LabOptions) -> Result<Lab, LabError> {
        let topology = Topology::load(path)?;
        let mut lab = Self::start(&topology, options)?;
        lab.record.topology = Some(path.canonicalize().unwrap_or_else(|_| path.to_owned()));
        lab.save()?;
        Ok(lab)
    }

    /// Builds and starts `topology`: namespaces, links and NAT routers; host directories;
    /// keys and the network.kdl the hosts follow; then every daemon, waiting until each is
    /// ready. On error everything made so far is removed.
    pub fn start(topology: &Topology, options: LabOptions) -> Result<Lab, LabError> {
        let bins = Binaries::find(topology, &options)?;
        let (id, run_dir) = allocate(&options.run_root)?;
        let mut lab = Lab {
            topology: topology.clone(),
            record: LabRecord {
                id: id.to_string(),
                name: topology.name.clone(),
                topology: None,
                run_dir,
                owner_pid: std::process::id(),
                owner_start: process::start_time(std::process::id()).unwrap_or(0),
                detached: false,
                created: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                namespaces: Vec::new(),
                hosts: BTreeMap::new(),
                nats: BTreeMap::new(),
                processes: Vec::new(),
            },
            id,
            public_keys: BTreeMap::new(),
            procs: Vec::new(),
            live: true,
        };
        lab.save()?;
        lab.build_network(&options)?;
        lab.prepare_hosts(&bins)?;
        lab.start_daemons(&bins, &options)?;
        Ok(lab)
    }

    /// The lab's id.
    pub fn id(&self) -> &LabId {
        &self.id
    }

    /// The topology it was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Its record (namespaces, hosts, processes, directories).
    pub fn record(&self) -> &LabRecord {
        &self.record
    }

    /// Its run directory.
    pub fn run_dir(&self) -> &Path {
        &self.record.run_dir
    }

    /// The host called `name`, if any.
    pub fn try_host(&self, name: &str) -> Option<HostHandle<'_>> {
        let host = self.topology.host(name)?;
        let record = self.record.hosts.get(name)?;
        Some(HostHandle {
            host,
            record,
            public_key: self.public_keys.get(name).map(String::as_str),
        })
    }

    /// The host called `name`.
    ///
    /// # Panics
    /// When the topology has no such host (a mistake in the test using the lab).
    pub fn host(&self, name: &str) -> HostHandle<'_> {
        self.try_host(name)
            .unwrap_or_else(|| panic!("lab {} has no host `{name}`", self.id))
    }

    /// The NAT router called `name`, if any.
    pub fn try_nat(&self, name: &str) -> Option<NatHandle<'_>> {
        let (name, namespace) = self.record.nats.get_key_value(name)?;
        Some(NatHandle {
            name,
            namespace,
            run_dir: &self.record.run_dir,
        })
    }

    /// The NAT router called `name`.
    ///
    /// # Panics
    /// When the topology has no such router.
    pub fn nat(&self, name: &str) -> NatHandle<'_> {
        self.try_nat(name)
            .unwrap_or_else(|| panic!("lab {} has no NAT router `{name}`", self.id))
    }

    /// The network.kdl the hosts follow (keys and endpoints filled in by the lab).
    pub fn network_file(&self) -> PathBuf {
        self.record.run_dir.join(NETWORK_FILE)
    }

    /// Replaces the network.kdl the hosts follow with `edit(current text)`; the new file
    /// appears atomically (written aside, then renamed over the old one).
    pub fn rewrite_network(&self, edit: impl FnOnce(&str) -> String) -> Result<(), LabError> {
        let path = self.network_file();
        let text = std::fs::read_to_string(&path).map_err(LabError::io("cannot read", &path))?;
        write_atomically(&path, &edit(&text))
    }

    /// What network.kdl says now (overlay, listen port, nodes).
    pub fn network_info(&self) -> Result<NetworkInfo, LabError> {
        let path = self.network_file();
        let text = std::fs::read_to_string(&path).map_err(|_| LabError::NoNetwork)?;
        netfile::read_network(&text).map_err(|source| LabError::NetworkFile { path, source })
    }

    /// Leaves the lab running after this value is gone (for `cvlan-lab up`); it is then
    /// removed with `cvlan-lab down`. Returns its record.
    pub fn detach(mut self) -> Result<LabRecord, LabError> {
        self.record.detached = true;
        self.save()?;
        for p in self.procs.drain(..) {
            p.release();
        }
        self.live = false;
        Ok(self.record.clone())
    }

    /// Tears the lab down now, reporting what could not be removed.
    pub fn teardown(mut self) -> Result<(), Vec<String>> {
        let failures = self.teardown_inner();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    fn teardown_inner(&mut self) -> Vec<String> {
        if !self.live {
            return Vec::new();
        }
        self.live = false;
        for p in self.procs.iter_mut().rev() {
            p.stop(process::STOP_GRACE);
        }
        self.procs.clear();
        self.record.teardown()
    }

    fn save(&self) -> Result<(), LabError> {
        self.record.save().map_err(LabError::io(
            "cannot write the lab record in",
            &self.record.run_dir,
        ))
    }

    fn check_interrupt(options: &LabOptions) -> Result<(), LabError> {
        match &options.interrupt {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(LabError::Interrupted),
            _ => Ok(()),
        }
    }

    fn build_network(&mut self, options: &LabOptions) -> Result<(), LabError> {
        for nat in &self.topology.nats {
            self.record
                .nats
                .insert(nat.name.clone(), self.id.namespace(&nat.name));
        }
        for step in netplan::plan(&self.topology, &self.id) {
            Self::check_interrupt(options)?;
            if let Step::Namespace(ns) = &step {
                // Recorded before it exists, so a crash right after leaves nothing unrecorded.
                self.record.namespaces.push(ns.clone());
                self.save()?;
            }
            realize::run(&step)?;
        }
        Ok(())
    }

    /// Host directories, daemon configs, keys, secrets and the network.kdl the hosts follow;
    /// then the strongSwan configurations, which are rendered from that final file.
    fn prepare_hosts(&mut self, bins: &Binaries) -> Result<(), LabError> {
        let network_file = self.network_file();
        let mut network_text = match &self.topology.network {
            Some(path) => {
                std::fs::read_to_string(path).map_err(LabError::io("cannot read", path))?
            }
            None => String::new(),
        };
        let template = self.topology.network.clone().unwrap_or_default();
        let nf_err = |source: NetworkFileError| LabError::NetworkFile {
            path: template.clone(),
            source,
        };
        for (index, host) in self.topology.hosts.iter().enumerate() {
            let dir = self.record.run_dir.join(&host.name);
            std::fs::create_dir_all(&dir).map_err(LabError::io("cannot create", &dir))?;
            let mut rec = HostRecord {
                namespace: self.id.namespace(&host.name),
                dir: dir.clone(),
                socket: None,
                wireguard_interface: None,
                vici: None,
            };
            for service in &host.services {
                let (kind, name, endpoint, key) = match service {
                    Service::Cvland(node) => {
                        let key = prepare_daemon(
                            HostDaemon::Cvland,
                            bins.cvland.as_deref(),
                            &node.node,
                            &mut rec,
                            &network_file,
                        )?;
                        (Block::Node, &node.node, node.endpoint.as_ref(), key)
                    }
                    Service::Vrouterd(name) => {
                        let key = prepare_daemon(
                            HostDaemon::Vrouterd,
                            bins.vrouterd.as_deref(),
                            name,
                            &mut rec,
                            &network_file,
                        )?;
                        (Block::Vrouter, name, None, key)
                    }
                    Service::WireguardGo(node) => {
                        rec.wireguard_interface = Some(self.id.wireguard_interface(index));
                        let key = wireguard::generate_key(&dir)?;
                        (Block::Node, &node.node, node.endpoint.as_ref(), key)
                    }
                    Service::Strongswan(config) => {
                        rec.vici = Some(StrongswanPaths::new(&dir).vici);
                        let StrongswanConfig::Vrouter(name) = config else {
                            continue;
                        };
                        // network.kdl wants a key for every vrouter; strongSwan's stand-in
                        // gets one it never uses.
                        (Block::Vrouter, name, None, wireguard::generate_key(&dir)?)
                    }
                    Service::Process(_) => continue,
                };
                network_text = edit::set_value(&network_text, kind, name, "public-key", &key)
                    .map_err(|e| nf_err(e.into()))?;
                if let Some(switch) = endpoint {
                    let port = netfile::read_network(&network_text)
                        .map_err(nf_err)?
                        .listen_port;
                    let addr = host.address_on(switch).map(|a| format!("{a}:{port}"));
                    if let Some(addr) = addr {
                        network_text =
                            edit::set_value(&network_text, kind, name, "endpoint", &addr)
                                .map_err(|e| nf_err(e.into()))?;
                    }
                }
                self.public_keys.insert(host.name.clone(), key);
            }
            self.record.hosts.insert(host.name.clone(), rec);
        }
        if self.topology.network.is_some() {
            network_text = psk::provide(&network_text, &self.record.run_dir, &template)?;
            write_atomically(&network_file, &network_text)?;
        }
        self.prepare_strongswan()?;
        self.save()
    }

    /// Writes strongswan.conf and swanctl.conf of every strongSwan host.
    fn prepare_strongswan(&self) -> Result<(), LabError> {
        let mut network = None;
        for host in &self.topology.hosts {
            for service in &host.services {
                let Service::Strongswan(config) = service else {
                    continue;
                };
                let paths = StrongswanPaths::new(&self.record.run_dir.join(&host.name));
                let (text, port) = match config {
                    StrongswanConfig::File(file) => (
                        std::fs::read_to_string(file).map_err(LabError::io("cannot read", file))?,
                        4500,
                    ),
                    StrongswanConfig::Vrouter(name) => {
                        if network.is_none() {
                            network = Some(self.checked_network()?);
                        }
                        let Some(net) = network.as_ref() else {
                            continue;
                        };
                        (
                            strongswan::render_swanctl_for(net, name)?,
                            strongswan::natt_port(net, name),
                        )
                    }
                };
                strongswan::write_files(&paths, port, &text)?;
            }
        }
        Ok(())
    }

    /// The lab's network.kdl, checked.
    fn checked_network(&self) -> Result<cvlan_schema::model::Network, LabError> {
        let path = self.network_file();
        let checked = cvlan_schema::load_network(&path)
            .map_err(|e| LabError::Strongswan(StrongswanError::Network(e.to_string())))?;
        checked.network.ok_or_else(|| {
            LabError::Strongswan(StrongswanError::Network(
                cvlan_schema::report::render_human(&checked.sources, &checked.diagnostics),
            ))
        })
    }

    /// Starts every daemon. strongSwan comes first, with its connections loaded, so the
    /// daemons that initiate to it find it configured; its own initiations retransmit until
    /// the other daemons answer.
    fn start_daemons(&mut self, bins: &Binaries, options: &LabOptions) -> Result<(), LabError> {
        for host in self.topology.hosts.clone() {
            let Some(rec) = self.record.hosts.get(&host.name).cloned() else {
                continue;
            };
            for service in &host.services {
                if !matches!(service, Service::Strongswan(_)) {
                    continue;
                }
                Self::check_interrupt(options)?;
                let paths = StrongswanPaths::new(&rec.dir);
                let spec = strongswan::daemon(&paths);
                self.launch_ready(&host.name, &rec, &spec, options)?;
                strongswan::load(&paths)?;
            }
        }
        let mut waiting: Vec<(usize, Readiness)> = Vec::new();
        let network_file = self.network_file();
        for host in self.topology.hosts.clone() {
            let Some(rec) = self.record.hosts.get(&host.name).cloned() else {
                continue;
            };
            for service in &host.services {
                Self::check_interrupt(options)?;
                let spec = match service {
                    Service::Cvland(node) => {
                        let Some(bin) = &bins.cvland else { continue };
                        let paths = DaemonPaths::new(HostDaemon::Cvland, &rec.dir);
                        hostd::daemon(HostDaemon::Cvland, bin, &node.node, &paths, &network_file)
                    }
                    Service::Vrouterd(name) => {
                        let Some(bin) = &bins.vrouterd else { continue };
                        let paths = DaemonPaths::new(HostDaemon::Vrouterd, &rec.dir);
                        hostd::daemon(HostDaemon::Vrouterd, bin, name, &paths, &network_file)
                    }
                    Service::Strongswan(_) => continue,
                    Service::WireguardGo(node) => {
                        let ifname = rec.wireguard_interface.clone().unwrap_or_default();
                        let spec = wireguard::daemon(&ifname);
                        self.launch_ready(&host.name, &rec, &spec, options)?;
                        let info = self.network_info()?;
                        wireguard::configure(&rec.namespace, &ifname, &rec.dir, &node.node, &info)?;
                        continue;
                    }
                    Service::Process(p) => process_spec(p, &rec.dir),
                };
                let at = self.launch(&host.name, &rec, &spec)?;
                waiting.push((at, spec.ready));
            }
        }
        for (at, ready) in waiting {
            self.procs[at].wait_ready(&ready, options.ready_timeout, options.interrupt.as_ref())?;
        }
        Ok(())
    }

    /// Starts `spec` on a host, as [`Lab::launch`], and waits until it is ready.
    fn launch_ready(
        &mut self,
        host: &str,
        rec: &HostRecord,
        spec: &DaemonSpec,
        options: &LabOptions,
    ) -> Result<(), LabError> {
        let at = self.launch(host, rec, spec)?;
        self.procs[at].wait_ready(
            &spec.ready,
            options.ready_timeout,
            options.interrupt.as_ref(),
        )?;
        Ok(())
    }

    /// Starts `spec` on a host and records it; returns its index in `procs`.
    fn launch(
        &mut self,
        host: &str,
        rec: &HostRecord,
        spec: &DaemonSpec,
    ) -> Result<usize, LabError> {
        let proc = Proc::start(&rec.namespace, &rec.dir, spec)?;
        self.record.processes.push(ProcessRecord {
            host: host.to_owned(),
            name: proc.name().to_owned(),
            pid: proc.pid(),
            start_time: proc.start_time(),
        });
        self.procs.push(proc);
        self.save()?;
        Ok(self.procs.len() - 1)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let failures = self.teardown_inner();
        #[allow(clippy::print_stderr)]
        for f in failures {
            eprintln!("cvlan-lab: teardown of lab {}: {f}", self.id);
        }
    }
}

/// The project binaries a topology needs.
struct Binaries {
    cvland: Option<PathBuf>,
    vrouterd: Option<PathBuf>,
}

impl Binaries {
    fn find(topology: &Topology, options: &LabOptions) -> Result<Self, LabError> {
        let find = |daemon: HostDaemon, used: fn(&Service) -> bool| {
            topology
                .hosts
                .iter()
                .any(|h| h.services.iter().any(used))
                .then(|| bins::find(daemon.binary(), options.bin_dir.as_deref()))
                .transpose()
        };
        Ok(Self {
            cvland: find(HostDaemon::Cvland, |s| matches!(s, Service::Cvland(_)))?,
            vrouterd: find(HostDaemon::Vrouterd, |s| matches!(s, Service::Vrouterd(_)))?,
        })
    }
}

/// Writes a host daemon's host file and state dir, records its socket, and returns the public
/// key it creates (nothing when its binary is not needed).
fn prepare_daemon(
    daemon: HostDaemon,
    bin: Option<&Path>,
    name: &str,
    rec: &mut HostRecord,
    network_file: &Path,
) -> Result<String, LabError> {
    let bin = bin.ok_or_else(|| bins::MissingBinary {
        name: daemon.binary().to_owned(),
        searched: String::new(),
    })?;
    let paths = DaemonPaths::new(daemon, &rec.dir);
    std::fs::create_dir_all(&paths.state_dir)
        .map_err(LabError::io("cannot create", &paths.state_dir))?;
    let spec = hostd::daemon(daemon, bin, name, &paths, network_file);
    if let Some((path, text)) = &spec.config {
        std::fs::write(path, text).map_err(LabError::io("cannot write", path))?;
    }
    rec.socket = Some(paths.socket.clone());
    Ok(hostd::public_key(&rec.namespace, bin, &paths)?)
}

/// A generic process: `{dir}` in its command expands to the host's run directory.
fn process_spec(p: &crate::topology::ProcessDecl, dir: &Path) -> DaemonSpec {
    let dir_s = dir.display().to_string();
    let expand = |s: &String| s.replace("{dir}", &dir_s);
    DaemonSpec {
        name: p.name.clone(),
        program: expand(&p.command[0]).into(),
        args: p.command[1..].iter().map(expand).collect(),
        config: None,
        env: Vec::new(),
        ready: p
            .ready_socket
            .as_ref()
            .map_or(Readiness::Running, |s| Readiness::Socket(dir.join(s))),
    }
}

/// A fresh lab id and its run directory, created (so no other lab can take it).
fn allocate(root: &Path) -> Result<(LabId, PathBuf), LabError> {
    std::fs::create_dir_all(root).map_err(LabError::io("cannot create", root))?;
    let existing = record::namespaces();
    loop {
        let id = LabId::random().map_err(LabError::io("cannot read", "/dev/urandom"))?;
        if existing
            .iter()
            .any(|ns| LabId::of_namespace(ns).as_ref() == Some(&id))
        {
            continue;
        }
        let dir = root.join(id.as_str());
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(LabError::io("cannot create", &dir)(e)),
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), LabError> {
    let tmp = path.with_extension("kdl.tmp");
    std::fs::write(&tmp, text).map_err(LabError::io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(LabError::io("cannot replace", path))
}
