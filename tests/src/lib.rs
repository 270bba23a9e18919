//! cvlan-tests: helpers for the end-to-end tests in `tests/`, which run the real daemons in
//! labs built by cvlan-lab (network namespaces, NAT, wireguard-go) and check real traffic.
//!
//! Everything here talks to the daemons the way an operator does: `cvlanctl --json` over the
//! local API socket, `ping` and `socat` inside host namespaces, edits of the network.kdl the
//! hosts follow. Labs are removed when dropped, also on panic.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use cvlan_lab::one_at_a_time;
use cvlan_lab::{HostHandle, Lab, LabChild, LabOptions};
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory holding the project's binaries (`cvland`, `cvlanctl`, `cvlan-mesh-node`,
/// `cvlan-lab`, `cvtui`, `cvlan-controller`), building them first when they are missing.
///
/// # Panics
/// When they can be neither found nor built.
pub fn bin_dir() -> PathBuf {
    let wanted = [
        "cvland",
        "cvlanctl",
        "cvlan-mesh-node",
        "cvlan-lab",
        "cvtui",
        "cvlan-controller",
    ];
    let found = || {
        wanted
            .iter()
            .map(|name| cvlan_lab::bins::find(name, None))
            .collect::<Result<Vec<_>, _>>()
    };
    if let Ok(paths) = found() {
        return dir_of(&paths[0]);
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "cvland",
            "-p",
            "cvlanctl",
            "-p",
            "cvlan-mesh-node",
            "-p",
            "cvlan-lab",
            "-p",
            "cvtui",
            "-p",
            "cvlan-controller",
        ])
        .current_dir(root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the daemons failed");
    let paths = found().expect("the daemons are built");
    dir_of(&paths[0])
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Waits until `check` holds, polling every 50 ms; returns how long it took, or `None` when
/// `timeout` passed first.
pub fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cvlanctl --socket SOCKET --json ARGS` and returns its exit code and JSON document.
pub fn ctl(socket: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(bin_dir().join("cvlanctl"))
        .arg("--socket")
        .arg(socket)
        .arg("--json")
        .args(args)
        .output()
        .expect("cvlanctl runs");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// What `cvlanctl --socket SOCKET ARGS` prints for a person (no `--json`); it must succeed.
///
/// # Panics
/// When cvlanctl cannot run or exits with an error.
pub fn ctl_human(socket: &Path, args: &[&str]) -> String {
    let out = Command::new(bin_dir().join("cvlanctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("cvlanctl runs");
    assert!(
        out.status.success(),
        "cvlanctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cvlanctl status --json` of a host's cvland.
pub fn status(socket: &Path) -> Value {
    let (code, doc) = ctl(socket, &["status"]);
    assert_eq!(code, 0, "cvlanctl status: {doc}");
    doc
}

/// The peer names `cvlanctl peers --json` lists.
pub fn peer_names(socket: &Path) -> Vec<String> {
    let (code, doc) = ctl(socket, &["peers"]);
    if code != 0 {
        return vec![format!("<cvlanctl failed: {doc}>")];
    }
    doc["peers"]
        .as_array()
        .map(|peers| {
            peers
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The overlay address network.kdl pins for `node`.
pub fn overlay(lab: &Lab, node: &str) -> std::net::Ipv4Addr {
    lab.network_info()
        .expect("network.kdl")
        .node(node)
        .and_then(|n| n.address)
        .unwrap_or_else(|| panic!("{node} has a pinned address"))
}

/// A continuous ping from a host, counted when it is finished.
pub struct PingRun {
    child: LabChild,
}

/// What a finished [`PingRun`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingCount {
    /// Echo requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
}

impl PingRun {
    /// Starts `count` pings at `interval_ms` from `host` to `target`.
    pub fn start(
        host: &HostHandle<'_>,
        target: std::net::Ipv4Addr,
        count: u32,
        interval_ms: u32,
    ) -> Self {
        let interval = format!("{}", f64::from(interval_ms) / 1000.0);
        let child = host
            .spawn(&[
                "ping",
                "-n",
                "-q",
                "-c",
                &count.to_string(),
                "-i",
                &interval,
                "-W",
                "1",
                &target.to_string(),
            ])
            .expect("ping starts");
        Self { child }
    }

    /// Waits for the run to end and returns its counts.
    pub fn finish(mut self) -> PingCount {
        let stdout = self.child.stdout.take().expect("piped stdout");
        let mut count = PingCount {
            sent: 0,
            received: 0,
        };
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // "50 packets transmitted, 50 received, 0% packet loss, time 4903ms"
            if let Some((sent, rest)) = line.split_once(" packets transmitted, ") {
                count.sent = sent.trim().parse().unwrap_or(0);
                count.received = rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
        }
        let _ = self.child.wait();
        count
    }
}

/// A cvland started by a test (beside or instead of the lab's own), with its own config; it
/// is stopped when dropped.
pub struct ExtraCvland {
    /// The process.
    pub child: LabChild,
    /// Its local API socket.
    pub socket: PathBuf,
}

/// Writes `config` as `name` in the host's directory, starts `cvland --config` with it in the
/// host's namespace and waits until its socket answers.
pub fn start_cvland(
    host: &HostHandle<'_>,
    name: &str,
    config: &str,
    socket: PathBuf,
) -> ExtraCvland {
    let path = host.dir().join(name);
    std::fs::write(&path, config).expect("write cvland config");
    let program = bin_dir().join("cvland");
    let mut child = host
        .spawn(&[program.as_os_str(), "--config".as_ref(), path.as_os_str()])
        .expect("cvland starts");
    let ready = wait_for(Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    if ready.is_none() {
        let _ = child.kill();
        let mut log = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut log);
        }
        panic!("cvland with {name} did not come up: {log}");
    }
    // Its stderr is a pipe nobody reads: drain it so logging never blocks the daemon.
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(
            move || {
                for _ in BufReader::new(err).lines().map_while(Result::ok) {}
            },
        );
    }
    ExtraCvland { child, socket }
}

/// Stops the lab's own cvland on `host` (SIGTERM) and waits until its socket is gone.
pub fn stop_lab_cvland(lab: &Lab, host: &str) {
    let pid = lab
        .record()
        .processes
        .iter()
        .find(|p| p.host == host && p.name == "cvland")
        .map(|p| p.pid)
        .unwrap_or_else(|| panic!("{host} runs cvland"));
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
    let socket = lab.host(host).socket_path();
    let gone = wait_for(Duration::from_secs(3), || !socket.exists());
    assert!(
        gone.is_some(),
        "cvland on {host} did not remove its socket within 3 s of SIGTERM"
    );
}

/// Where a lab's `gitsrv` host serves repositories (tests/labs/trio.kdl).
pub const GIT_SERVER: &str = "198.51.100.30";

/// A work repository `net` under the lab's run directory, served by a `git daemon` on the
/// lab's `gitsrv` host at `git://GIT_SERVER/net`; the daemon stops when the child is dropped.
pub fn serve_git(lab: &Lab) -> (cvlan_lab::git::WorkRepo, LabChild) {
    let repos = lab.run_dir().join("repos");
    let repo = cvlan_lab::git::WorkRepo::open(&repos.join("net")).expect("git init");
    let server = lab.host("gitsrv");
    let daemon = server
        .spawn(&[
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            &format!("--listen={GIT_SERVER}"),
            &format!("--base-path={}", repos.display()),
            &repos.display().to_string(),
        ])
        .expect("git daemon starts");
    server
        .wait_listening(9418, Duration::from_secs(5))
        .expect("git daemon listens");
    (repo, daemon)
}

/// A cvland.kdl for `host` following `network.kdl` on `main` of [`serve_git`]'s repository
/// every `interval` (a duration as network.kdl writes it: `2s`).
pub fn git_cvland_config(host: &HostHandle<'_>, interval: &str) -> String {
    format!(
        "node \"{}\"\nstate-dir \"{}\"\nsocket \"{}\"\ntun \"cvl0\"\nsource \"git\" url=\"git://{GIT_SERVER}/net\" branch=\"main\" path=\"network.kdl\" interval=\"{interval}\"\n",
        host.name(),
        host.state_dir().display(),
        host.socket_path().display()
    )
}

/// Starts tests/labs/trio.kdl: alpha, bravo and carol running cvland on one switch, and
/// `gitsrv` for [`serve_git`].
pub fn trio_lab() -> Lab {
    let options = LabOptions {
        bin_dir: Some(bin_dir()),
        ..LabOptions::default()
    };
    Lab::start_file(&root().join("tests/labs/trio.kdl"), options).expect("the trio lab starts")
}

/// `text` without the `node "NAME" { … }` block.
///
/// # Panics
/// When the file has no such block.
pub fn without_node(text: &str, name: &str) -> String {
    let start = text
        .find(&format!("node \"{name}\" {{"))
        .unwrap_or_else(|| panic!("{name} is in the file"));
    let end = start + text[start..].find("\n}\n").expect("block end") + 3;
    format!("{}{}", &text[..start], &text[end..])
}
