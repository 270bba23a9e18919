//! A small namespace lab for the real-backend tests: hosts in network namespaces on one
//! bridge, processes spawned inside them, everything removed on drop (also when a test
//! panics). Names are unique per process and lab, so tests run in parallel.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this machine can run namespace tests. Without the capability a test skips with a
/// loud message, unless CI=true, where that is a failure.
pub fn available(test: &str) -> bool {
    let missing = if !Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun is missing")
    } else if !run(&["ip", "netns", "list"]).status.success() {
        Some("`ip netns` does not work (need root and iproute2)")
    } else {
        None
    };
    let Some(why) = missing else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("\n!!! SKIPPING {test}: {why} !!!\n");
    false
}

/// Whether `tool` is on PATH (interop peers, socat); the same CI rule applies.
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = run(&["sh", "-c", &format!("command -v {tool}")])
        .status
        .success();
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {tool} is not installed; CI=true, so this is a failure");
    }
    eprintln!("\n!!! SKIPPING {test}: {tool} is not installed !!!\n");
    false
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

/// Hosts `h0..hN` on a bridge, with underlay addresses 10.77.0.(i+1)/24 and fd00:77::(i+1)/64
/// on `eth0`.
pub struct Lab {
    prefix: String,
    hosts: Vec<String>,
    children: Vec<(Child, mpsc::Receiver<String>)>,
    pub dir: tempfile::TempDir,
    /// Held until the lab is torn down: one lab at a time.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Lab {
    pub fn new(hosts: usize) -> Self {
        let prefix = format!(
            "cvm{}x{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            hosts: Vec::new(),
            children: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            prefix,
            _serial: cvlan_lab::one_at_a_time(),
        };
        let sw = lab.switch();
        lab.ok(&["ip", "netns", "add", &sw]);
        lab.ok(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
        lab.ok(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..hosts {
            let ns = format!("{}h{i}", lab.prefix);
            lab.ok(&["ip", "netns", "add", &ns]);
            lab.hosts.push(ns.clone());
            let port = format!("p{i}");
            lab.ok(&[
                "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &sw,
            ]);
            lab.ok(&["ip", "-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            let addr = format!("{}/24", lab.underlay(i));
            lab.ok(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            let addr6 = format!("{}/64", lab.underlay6(i));
            lab.ok(&[
                "ip", "-n", &ns, "addr", "add", &addr6, "dev", "eth0", "nodad",
            ]);
            lab.ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            lab.ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }

    /// The namespace name of host `i`.
    pub fn ns(&self, i: usize) -> &str {
        &self.hosts[i]
    }

    /// A name unique to this lab (for interfaces whose sockets live on the shared filesystem).
    pub fn unique(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    pub fn underlay(&self, i: usize) -> String {
        format!("10.77.0.{}", i + 1)
    }

    /// Host `i`'s IPv6 underlay address (no brackets).
    pub fn underlay6(&self, i: usize) -> String {
        format!("fd00:77::{}", i + 1)
    }

    fn ok(&self, args: &[&str]) {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a command in host `i` and returns its output.
    pub fn exec(&self, i: usize, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", self.ns(i)];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command in host `i` and asserts it succeeded.
    pub fn exec_ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.exec(i, args);
        assert!(
            out.status.success(),
            "{args:?} in {}: {}{}",
            self.ns(i),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a long-running command in host `i`; it is killed when the lab drops.
    pub fn spawn(&mut self, i: usize, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns(i)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
        let mut child = child;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push((child, rx));
        self.children.len() - 1
    }

    /// Waits until process `id` prints a line starting with `prefix`; returns it and the
    /// lines that follow it without delay (a multi-line report).
    pub fn wait_for_line(&mut self, id: usize, prefix: &str, timeout: Duration) -> Vec<String> {
        let rx = &self.children[id].1;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("process {id} did not print {prefix:?} in time"));
            if line.starts_with(prefix) {
                let mut lines = vec![line];
                while let Ok(more) = rx.recv_timeout(Duration::from_millis(200)) {
                    lines.push(more);
                }
                return lines;
            }
        }
    }

    /// Sends `signal` (e.g. "USR1") to process `id`.
    pub fn signal(&self, id: usize, signal: &str) {
        let pid = self.children[id].0.id().to_string();
        let _ = run(&["kill", &format!("-{signal}"), &pid]);
    }

    /// Sends SIGTERM to process `id` and waits for it; true if it exited successfully.
    pub fn terminate(&mut self, id: usize) -> bool {
        self.signal(id, "TERM");
        let child = &mut self.children[id].0;
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        false
    }

    /// Pings `addr` from host `i`; true if all `count` replies came back.
    pub fn ping(&self, i: usize, addr: &str, count: u32) -> bool {
        let c = count.to_string();
        self.exec(i, &["ping", "-c", &c, "-i", "0.2", "-W", "2", addr])
            .status
            .success()
    }

    /// Pings `addr` from host `i` `count` times, 0.1 s apart; returns the replies received.
    pub fn ping_count(&self, i: usize, addr: &str, count: u32) -> u32 {
        let c = count.to_string();
        let out = self.exec(i, &["ping", "-c", &c, "-i", "0.1", "-W", "1", addr]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(',')
            .find_map(|part| part.trim().strip_suffix(" received")?.parse().ok())
            .unwrap_or(0)
    }

    /// The routes host `i` has for `prefix` (`ip route show`).
    pub fn route(&self, i: usize, prefix: &str) -> String {
        self.exec_ok(i, &["ip", "route", "show", prefix])
    }

    /// Moves `size` random bytes by TCP from host `from` to `addr` (inside host `to`) with
    /// socat, and asserts the SHA-256 on arrival matches.
    pub fn tcp_transfer(&mut self, from: usize, to: usize, addr: &str, size: usize) {
        let src = self.dir.path().join(format!("src-{from}-{to}"));
        let dst = self.dir.path().join(format!("dst-{from}-{to}"));
        let data: Vec<u8> = (0..size)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8 ^ (i >> 13) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        let listen = format!("TCP-LISTEN:5001,reuseaddr,bind={addr}");
        let open = format!("OPEN:{},creat,trunc", dst.display());
        let server = self.spawn(to, &["socat", "-u", &listen, &open]);
        let connect = format!("TCP:{addr}:5001,retry=50,interval=0.1");
        let file = format!("OPEN:{}", src.display());
        self.exec_ok(from, &["timeout", "60", "socat", "-u", &file, &connect]);
        let child = &mut self.children[server].0;
        for _ in 0..200 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let got = std::fs::read(&dst).unwrap_or_default();
        assert_eq!(got.len(), size, "bytes received");
        assert_eq!(Sha256::digest(&got), Sha256::digest(&data), "checksum");
    }

    /// Path of a file in the lab's temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM first so daemons clean up (wireguard-go removes its UAPI socket), then kill.
        for id in 0..self.children.len() {
            self.signal(id, "TERM");
        }
        for (child, _) in &mut self.children {
            for _ in 0..40 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.hosts.iter().chain(std::iter::once(&self.switch())) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
