//! Interop labs: cvlan-vrouterd against strongSwan 5.9 (charon with kernel-libipsec) in
//! network namespaces, built by cvlan-lab. `gw` runs vrouterd (vrouter "gw", protecting
//! 10.1.0.0/24, loopback 10.1.0.1); `branch` runs strongSwan standing in for vrouter "br"
//! (10.2.0.0/24, loopback 10.2.0.1), either on the same switch or behind a NAT router.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cvlan_lab::{HostHandle, Lab, LabOptions, Privileged, Topology, require_root};
use cvlan_proto::{local, v1};
use cvlan_vrouterd::harness::pair_network;
use sha2::{Digest, Sha256};

/// Where gw listens.
pub const GW_ADDR: &str = "198.51.100.10";
/// Where branch is when it is not behind the NAT.
pub const BRANCH_ADDR: &str = "198.51.100.20";
/// The probe host's address (when the setup has one).
pub const PROBE_ADDR: &str = "198.51.100.66";
/// gw's and branch's protected addresses.
pub const GW_INNER: &str = "10.1.0.1";
pub const BRANCH_INNER: &str = "10.2.0.1";

/// Who starts the IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// strongSwan, from behind a NAT router (masquerade).
    Strongswan,
    /// vrouterd, to strongSwan on the same switch.
    Vrouterd,
}

/// One interop setup.
#[derive(Debug, Clone)]
pub struct Setup {
    pub initiator: Initiator,
    /// IKE and ESP proposals of gw's peer.
    pub gw_proposals: (&'static str, &'static str),
    /// IKE and ESP proposals of strongSwan's side.
    pub br_proposals: (&'static str, &'static str),
    /// `lifetime ike= child=` of gw's peer, and of strongSwan's side.
    pub gw_lifetime: (&'static str, &'static str),
    pub br_lifetime: (&'static str, &'static str),
    /// gw's and strongSwan's DPD intervals.
    pub gw_dpd: &'static str,
    pub br_dpd: &'static str,
    /// The NAT's mapping when strongSwan is behind it.
    pub nat_mapping: &'static str,
    /// Secret-file paths of each side (equal: same PSK; different: wrong PSK).
    pub gw_secret: &'static str,
    pub br_secret: &'static str,
    /// Adds host `probe` (198.51.100.66) on gw's switch, running nothing.
    pub probe: bool,
}

impl Setup {
    /// Both sides with `ike`/`esp`, long lifetimes, DPD 2 s, one shared PSK.
    pub fn new(initiator: Initiator, ike: &'static str, esp: &'static str) -> Self {
        Self {
            initiator,
            gw_proposals: (ike, esp),
            br_proposals: (ike, esp),
            gw_lifetime: ("24h", "1h"),
            br_lifetime: ("24h", "1h"),
            gw_dpd: "2s",
            br_dpd: "2s",
            nat_mapping: "endpoint-independent",
            gw_secret: "/cvlan-lab-test/psk",
            br_secret: "/cvlan-lab-test/psk",
            probe: false,
        }
    }

    /// The vrouter pair ([`pair_network`]) with this setup's peers: gw listens on
    /// [`GW_ADDR`], strongSwan's `br` on any address, each side with its own remote, secret,
    /// proposals, lifetimes and DPD.
    fn network(&self) -> String {
        let (gw_remote, br_remote) = match self.initiator {
            Initiator::Strongswan => ("%any".to_owned(), GW_ADDR.to_owned()),
            Initiator::Vrouterd => (BRANCH_ADDR.to_owned(), "%any".to_owned()),
        };
        let pair = pair_network(Path::new(self.gw_secret), Path::new(self.br_secret));
        let (gw, br) = pair.split_at(pair.find("vrouter \"br\"").expect("br's block"));
        let tunables = |(ike, esp): (&str, &str), (ike_life, child_life): (&str, &str), dpd| {
            [
                (
                    r#"proposals ike="aes256-sha256-ecp256" esp="aes256-sha256""#,
                    format!(r#"proposals ike="{ike}" esp="{esp}""#),
                ),
                (
                    r#"lifetime ike="24h" child="1h""#,
                    format!(r#"lifetime ike="{ike_life}" child="{child_life}""#),
                ),
                (r#"dpd "2s""#, format!(r#"dpd "{dpd}""#)),
            ]
        };
        let gw = edited(
            gw,
            [
                (
                    r#"listen "10.0.0.1:4500""#,
                    format!(r#"listen "{GW_ADDR}:4500""#),
                ),
                (r#"remote "10.0.0.2""#, format!(r#"remote "{gw_remote}""#)),
            ]
            .into_iter()
            .chain(tunables(self.gw_proposals, self.gw_lifetime, self.gw_dpd)),
        );
        let br = edited(
            br,
            [
                ("    listen \"10.0.0.2:4500\"\n", String::new()),
                (r#"remote "%any""#, format!(r#"remote "{br_remote}""#)),
            ]
            .into_iter()
            .chain(tunables(self.br_proposals, self.br_lifetime, self.br_dpd)),
        );
        format!("{gw}{br}")
    }

    fn topology(&self) -> String {
        let branch_link = match self.initiator {
            Initiator::Strongswan => r#"link "home" address="192.168.17.10""#.to_owned(),
            Initiator::Vrouterd => format!(r#"link "wan" address="{BRANCH_ADDR}""#),
        };
        let probe = if self.probe {
            format!(r#"host "probe" {{ link "wan" address="{PROBE_ADDR}"; }}"#)
        } else {
            String::new()
        };
        format!(
            r#"lab "interop"
network "network.kdl"
switch "wan" subnet="198.51.100.0/24"
switch "home" subnet="192.168.17.0/24"
nat "nat" {{
    mapping "{}"
    wan "wan" address="198.51.100.1"
    lan "home" address="192.168.17.1"
}}
host "gw" {{
    link "wan" address="{GW_ADDR}"
    loopback "{GW_INNER}/32"
    vrouterd
}}
host "branch" {{
    {branch_link}
    loopback "{BRANCH_INNER}/32"
    strongswan vrouter="br"
}}
{probe}
"#,
            self.nat_mapping
        )
    }

    /// Builds the lab (None: skipped loudly, no root).
    pub fn start(&self) -> Option<Interop> {
        let _root: Privileged = require_root()?;
        assert!(
            Path::new(cvlan_lab::strongswan::CHARON).exists() || !ci(),
            "strongSwan (charon) is not installed and CI=true forbids skipping"
        );
        if !Path::new(cvlan_lab::strongswan::CHARON).exists() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n=== SKIP: strongSwan is not installed ({}) ===\n",
                    cvlan_lab::strongswan::CHARON
                );
            }
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("network.kdl"), self.network()).expect("network.kdl");
        let path = dir.path().join("topology.kdl");
        let topology = Topology::parse(&path, &self.topology()).expect("valid topology");
        let serial = cvlan_lab::one_at_a_time();
        let lab = Lab::start(&topology, LabOptions::default()).expect("lab starts");
        Some(Interop {
            lab,
            _dir: dir,
            setup: self.clone(),
            _serial: serial,
        })
    }
}

/// `text` with each `(old, new)` applied once; every `old` must be there.
fn edited<'a>(text: &str, edits: impl IntoIterator<Item = (&'a str, String)>) -> String {
    edits.into_iter().fold(text.to_owned(), |text, (old, new)| {
        assert!(
            text.contains(old),
            "the vrouter pair has no {old:?}:\n{text}"
        );
        text.replacen(old, &new, 1)
    })
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A running interop lab.
pub struct Interop {
    pub lab: Lab,
    pub setup: Setup,
    _dir: tempfile::TempDir,
    /// Held until the lab is gone (fields drop in order): one lab at a time.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Interop {
    pub fn gw(&self) -> HostHandle<'_> {
        self.lab.host("gw")
    }

    pub fn branch(&self) -> HostHandle<'_> {
        self.lab.host("branch")
    }

    /// Runs `f` with a local API client of gw's vrouterd.
    pub fn api<T>(
        &self,
        f: impl AsyncFnOnce(local::LocalApiServiceClient<tonic::transport::Channel>) -> T,
    ) -> T {
        let socket = self.gw().socket_path();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let client = local::connect(&socket).await.expect("connects");
                f(client).await
            })
    }

    /// gw's SAs.
    pub fn sas(&self) -> v1::SasResponse {
        self.api(async |mut c| {
            c.sas(v1::SasRequest::default())
                .await
                .expect("Sas")
                .into_inner()
        })
    }

    /// gw's buffered events of `kind` (prefix match).
    pub fn events(&self, kind: &str) -> Vec<v1::WatchEventsResponse> {
        let kind = kind.to_owned();
        self.api(async move |mut c| {
            local::buffered_events(&mut c, &kind)
                .await
                .expect("WatchEvents")
        })
    }

    /// Waits (up to `secs`) until gw has an event of `kind` whose message contains `text`.
    pub fn wait_event(&self, kind: &str, text: &str, secs: u64) -> v1::WatchEventsResponse {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self
                .events(kind)
                .into_iter()
                .find(|e| e.message.contains(text))
            {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no {kind} event with {text:?} within {secs} s; gw events: {:#?}\n{}",
                    self.events(""),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (up to `secs`) until gw's SAs satisfy `check`.
    pub fn wait_sas(
        &self,
        what: &str,
        secs: u64,
        check: impl Fn(&v1::SasResponse) -> bool,
    ) -> v1::SasResponse {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let sas = self.sas();
            if check(&sas) {
                return sas;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what} did not happen within {secs} s: {sas:#?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until gw has one established IKE SA with a child and strongSwan lists it too.
    pub fn wait_up(&self) -> v1::SasResponse {
        let sas = self.wait_sas("an established IKE SA with a child", 30, |s| {
            established(s) == 1
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.swan_sas().contains("INSTALLED") {
            assert!(
                Instant::now() < deadline,
                "strongSwan has no child SA:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        sas
    }

    /// `swanctl --list-sas` on branch.
    pub fn swan_sas(&self) -> String {
        let out = self
            .branch()
            .swanctl(&["--list-sas"])
            .expect("swanctl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// strongSwan's log so far.
    pub fn swan_log(&self) -> String {
        std::fs::read_to_string(self.branch().strongswan_log()).unwrap_or_default()
    }

    /// Both daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let vrouterd =
            std::fs::read_to_string(self.gw().dir().join("vrouterd.log")).unwrap_or_default();
        let swan = self.swan_log();
        let tail = |s: &str, n: usize| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "--- vrouterd.log (tail)\n{}\n--- charon.log (tail)\n{}",
            tail(&vrouterd, 40),
            tail(&swan, 60)
        )
    }

    /// `count` pings from `from` (gw or branch) to the other side's inner address, sourced
    /// from its own; the number answered.
    pub fn ping(&self, from: &str, count: u32, interval: &str) -> u32 {
        let (src, dst) = match from {
            "gw" => (GW_INNER, BRANCH_INNER),
            _ => (BRANCH_INNER, GW_INNER),
        };
        let c = count.to_string();
        let out = self
            .lab
            .host(from)
            .exec(&[
                "ping", "-n", "-q", "-c", &c, "-i", interval, "-W", "2", "-I", src, dst,
            ])
            .expect("ping runs");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.contains("received"))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Sends 10 MB of random bytes over TCP from `from` to the other side through the tunnel
    /// and checks the SHA-256 of what arrived.
    pub fn transfer(&self, from: &str) {
        let (to_host, dst, src) = match from {
            "gw" => ("branch", BRANCH_INNER, GW_INNER),
            _ => ("gw", GW_INNER, BRANCH_INNER),
        };
        let dir = self.lab.run_dir();
        let sent = dir.join(format!("sent-{from}"));
        let got = dir.join(format!("got-{from}"));
        let data: Vec<u8> = {
            let mut bytes = vec![0u8; 10 * 1024 * 1024];
            let mut seed = Sha256::digest(from.as_bytes()).to_vec();
            for chunk in bytes.chunks_mut(32) {
                seed = Sha256::digest(&seed).to_vec();
                chunk.copy_from_slice(&seed[..chunk.len()]);
            }
            bytes
        };
        std::fs::write(&sent, &data).expect("write the data");
        let listen = format!("TCP-LISTEN:5001,bind={dst},reuseaddr");
        let out_file = format!("CREATE:{}", got.display());
        let mut server = self
            .lab
            .host(to_host)
            .spawn(&["socat", "-u", &listen, &out_file])
            .expect("socat starts");
        self.lab
            .host(to_host)
            .wait_listening(5001, Duration::from_secs(10))
            .expect("socat listens");
        let connect = format!("TCP:{dst}:5001,bind={src},connect-timeout=5");
        let input = format!("OPEN:{}", sent.display());
        let client = self
            .lab
            .host(from)
            .exec(&["timeout", "60", "socat", "-u", &input, &connect])
            .expect("socat sends");
        assert!(
            client.status.success(),
            "transfer {from} -> {to_host} failed: {}\n{}",
            String::from_utf8_lossy(&client.stderr),
            self.logs()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the receiver did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
        let received = std::fs::read(&got).expect("received file");
        assert_eq!(received.len(), data.len(), "{from}: bytes received");
        assert_eq!(
            Sha256::digest(&received),
            Sha256::digest(&data),
            "{from}: the SHA-256 of the received data differs"
        );
        let _ = std::fs::remove_file(sent);
        let _ = std::fs::remove_file(got);
    }

    /// The vrouterd host's directory.
    pub fn gw_dir(&self) -> PathBuf {
        self.gw().dir().to_owned()
    }
}

/// Established IKE SAs with at least one child.
pub fn established(sas: &v1::SasResponse) -> usize {
    sas.sas
        .iter()
        .filter(|s| s.state() == v1::IkeSaState::Established && !s.children.is_empty())
        .count()
}
