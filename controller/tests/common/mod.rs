//! The real `cvlan-controller` binary for the tests: started in its own directory on its own
//! port, seeded with a four-node network, with an admin API key; and the calls the tests make.

// Each test binary uses its own subset of these helpers; they unwrap like the tests they serve.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::transport::noise;
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_types::{PrivateKey, PublicKey};
use tonic::Request;
use tonic::transport::Channel;

/// The network the controller is seeded with: four nodes, everyone may reach everyone.
pub fn network(port: u16, key: &str, extra: &str) -> String {
    format!(
        r#"network "corp" {{ overlay "100.64.0.0/10"; }}
controller "ctl" address="127.0.0.1:{port}" public-key="{key}"
node "alpha" {{ address "100.64.0.10"; }}
node "bravo" {{ address "100.64.0.11"; }}
node "carol" {{ address "100.64.0.12"; }}
node "delta" {{ address "100.64.0.13"; }}
{extra}policy {{ allow "all" from="*" to="*" }}
"#
    )
}

/// A running `cvlan-controller` in its own directory on its own port.
pub struct Controller {
    pub _dir: tempfile::TempDir,
    pub child: Child,
    pub addr: String,
    pub port: u16,
    pub key: PublicKey,
    pub api_key: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Controller {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// [`Controller::start`] with `config_lines` added to its controller.kdl.
    pub async fn start_with(config_lines: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("controller.kdl");
        std::fs::write(
            &config,
            format!(
                "listen \"127.0.0.1:{port}\"\nkey-file \"controller.key\"\n\
                 database \"sqlite\" path=\"{}\"\nnetwork-file \"network.kdl\"\n{config_lines}\n",
                dir.path().join("controller.db").display()
            ),
        )
        .unwrap();
        let key = run(&config, &["pubkey"]);
        let key = key.trim().to_owned();
        std::fs::write(dir.path().join("network.kdl"), network(port, &key, "")).unwrap();
        let created: serde_json::Value = serde_json::from_str(&run(
            &config,
            &["apikey", "create", "--scope", "admin", "--json"],
        ))
        .unwrap();
        let api_key = created["key"].as_str().unwrap().to_owned();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,cvlan_controller=debug,cvlan_proto=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let controller = Self {
            _dir: dir,
            child,
            addr: format!("127.0.0.1:{port}"),
            port,
            key: key.parse().unwrap(),
            api_key,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if controller.try_connect().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the controller did not come up:\n{}",
                controller.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        controller
    }

    pub async fn try_connect(&self) -> Result<Channel, noise::NoiseError> {
        noise::connect(&self.addr, &PrivateKey::generate(), &self.key).await
    }

    /// A gRPC channel with a fresh machine key.
    pub async fn channel(&self) -> Channel {
        self.channel_as(&PrivateKey::generate()).await
    }

    pub async fn channel_as(&self, machine: &PrivateKey) -> Channel {
        noise::connect(&self.addr, machine, &self.key)
            .await
            .unwrap()
    }

    pub fn authed<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.api_key).parse().unwrap(),
        );
        request
    }

    /// A good admin call on a new connection, timed: it must be answered.
    pub async fn good_call(&self) -> Duration {
        let started = Instant::now();
        let mut admin = AdminServiceClient::new(self.channel().await);
        let nodes = admin
            .list_nodes(self.authed(v1::ListNodesRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .nodes;
        assert!(nodes.iter().any(|n| n.name == "alpha"), "{nodes:?}");
        started.elapsed()
    }

    /// A single-use auth key, from the admin API.
    pub async fn auth_key(&self, admin: &mut AdminServiceClient<Channel>) -> String {
        admin
            .create_auth_key(self.authed(v1::CreateAuthKeyRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .secret
    }

    pub async fn apply(&self, admin: &mut AdminServiceClient<Channel>, text: String) -> u64 {
        let response = admin
            .apply(self.authed(v1::ApplyRequest {
                files: vec![v1::SourceFile {
                    name: "network.kdl".to_owned(),
                    text,
                }],
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(response.applied, "{:?}", response.diagnostics);
        response.revision.unwrap().revision
    }

    pub async fn node_status(&self, admin: &mut AdminServiceClient<Channel>, name: &str) -> i32 {
        let nodes = admin
            .list_nodes(self.authed(v1::ListNodesRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .nodes;
        nodes.iter().find(|n| n.name == name).unwrap().status
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS in KiB and the thread count, from /proc.
    pub fn memory(&self) -> (u64, u64) {
        memory_of(self.pid())
    }

    pub fn assert_alive(&mut self) {
        let exited = self.child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "the controller exited with {exited:?}:\n{}",
            self.log_text()
        );
    }

    /// Stops the controller with SIGTERM and returns the count `field` of its shutdown totals.
    pub fn stop_and_count(&mut self, field: &str) -> u64 {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "SIGTERM did not stop the controller"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The stderr reader may be a line behind the exit.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log_text();
        let totals = log
            .lines()
            .find(|l| l.contains("control port totals"))
            .unwrap_or_else(|| panic!("no totals at shutdown:\n{log}"));
        let prefix = format!("{field}=");
        totals
            .split_whitespace()
            .find_map(|w| w.strip_prefix(prefix.as_str()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {totals}"))
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Asserts the controller is alive, never panicked, and never logged any of `secrets`.
    pub fn assert_healthy(&mut self, secrets: &[&str]) {
        self.assert_alive();
        let log = self.log_text();
        assert!(!log.contains("panicked"), "{log}");
        for secret in secrets {
            assert!(!log.contains(secret), "the log repeats a secret sent to it");
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// VmRSS in KiB and the thread count of process `pid`, from /proc.
pub fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("Threads:"))
}

/// A port nobody listens on now: bound to 0, then released.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A Register request with a fresh node key.
pub fn register_request(auth_key: &str, name: &str) -> v1::RegisterRequest {
    v1::RegisterRequest {
        auth_key: auth_key.to_owned(),
        node_name: name.to_owned(),
        node_key: key_to_bytes(&PrivateKey::generate().public_key()),
        hostinfo: None,
        capabilities: vec!["wireguard".to_owned()],
    }
}

/// The revision of the next full map or delta on `stream` (keepalives skipped).
pub async fn next_revision(stream: &mut tonic::Streaming<v1::WatchNetmapResponse>) -> u64 {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an update within 5 s")
            .unwrap()
            .unwrap();
        match message.update.unwrap().body.unwrap() {
            v1::netmap_update::Body::Full(map) => return map.revision,
            v1::netmap_update::Body::Delta(delta) => return delta.revision,
            v1::netmap_update::Body::Keepalive(()) => {}
        }
    }
}
