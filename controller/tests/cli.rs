//! The real `cvlan-controller` binary in a temporary directory: `pubkey`, `apikey create`, `man`,
//! the seed, readiness for systemd, and refusals of bad files.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use cvlan_controller::store::Scope;
use cvlan_controller::store::Store as _;
use cvlan_controller::store::sqlite::SqliteStore;

const NETWORK: &str = r#"network "corp" tenant="acme" { overlay "100.64.0.0/10" }
controller "ctl1" address="127.0.0.1:7443" public-key="Y2xvdWR2bGFuLWNvbnRyb2xsZXIta2V5LTMyYnl0ZXM="
node "web-1" { tags "server" }
policy { allow "web" from="*" to="tag:server" ports="443/tcp" }
"#;

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("controller.kdl");
        std::fs::write(
            &config,
            format!(
                "listen \"127.0.0.1:7443\"\nkey-file \"keys/controller.key\"\ndatabase \"sqlite\" path=\"{}\"\n{extra}",
                dir.path().join("controller.db").display()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn pubkey_creates_a_private_key_file_and_prints_the_same_key_twice() {
    let setup = Setup::new("");
    let first = stdout(&setup.run(&["pubkey"]));
    let key = first.trim_end();
    assert_eq!(key.len(), 44, "{first:?}");
    assert!(key.parse::<cvlan_types::PublicKey>().is_ok());
    let file = setup.path("keys/controller.key");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !std::fs::read_to_string(&file).unwrap().contains(key),
        "the file holds the private key"
    );
    assert_eq!(stdout(&setup.run(&["pubkey"])), first);
}

#[test]
fn apikey_create_prints_a_key_once_that_authenticates() {
    let setup = Setup::new("");
    let out = stdout(&setup.run(&["apikey", "create", "--scope", "admin", "--json"]));
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let object = value.as_object().unwrap();
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "key"]);
    let (id, key) = (
        value["id"].as_str().unwrap(),
        value["key"].as_str().unwrap(),
    );
    assert!(key.starts_with("cvlan-api-") && key.contains(id));
    let store = SqliteStore::open(&setup.path("controller.db")).unwrap();
    let found = store.authenticate(key, SystemTime::now()).unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.scope), (id, Scope::Admin));
    let listed = store.api_keys().unwrap();
    assert_eq!(listed.len(), 1);

    let human = stdout(&setup.run(&["apikey", "create", "--scope", "read"]));
    assert!(human.contains("shown this once"), "{human}");
    let key = human
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .unwrap()
        .trim();
    let found = store.authenticate(key, SystemTime::now()).unwrap().unwrap();
    assert_eq!(found.scope, Scope::Read);
}

#[test]
fn a_bad_controller_file_exits_1_with_a_diagnostic() {
    let setup = Setup::new("lisen \"0.0.0.0:1\"\n");
    let out = setup.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cvlan::unknown-node"), "{err}");
    assert!(err.contains("did you mean `listen`?"), "{err}");
    assert!(!setup.path("controller.db").exists(), "nothing created");
}

#[test]
fn postgres_is_refused_at_start() {
    let setup = Setup::new("");
    std::fs::write(
        &setup.config,
        "listen \"127.0.0.1:7443\"\nkey-file \"k\"\ndatabase \"postgres\" url-env=\"CVLAN_DATABASE_URL\"\n",
    )
    .unwrap();
    let out = setup.run(&["apikey", "create", "--scope", "admin"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL is not supported yet"), "{err}");
}

#[test]
fn an_invalid_network_file_is_not_seeded() {
    let setup = Setup::new("network-file \"network.kdl\"\n");
    std::fs::write(
        setup.path("network.kdl"),
        NETWORK.replace("443/tcp", "443/tpc"),
    )
    .unwrap();
    let out = setup.run(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cvlan::invalid-ports"), "{err}");
    let store = SqliteStore::open(&setup.path("controller.db")).unwrap();
    assert!(store.revisions().unwrap().is_empty());
}

/// Waits until `check` holds, for up to 10 s.
fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn revisions(db: &Path) -> Vec<(i64, String)> {
    let Ok(store) = SqliteStore::open(db) else {
        return vec![];
    };
    store
        .revisions()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.id, r.author))
        .collect()
}

#[test]
fn the_network_file_becomes_revision_1_and_sigterm_stops_the_controller() {
    let setup = Setup::new("network-file \"network.kdl\"\n");
    std::fs::write(setup.path("network.kdl"), NETWORK).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .arg("--config")
        .arg(&setup.config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let db = setup.path("controller.db");
    let seeded = wait_for(|| revisions(&db) == [(1, "network-file".to_owned())]);
    signal(&child, "-TERM");
    let exited = wait_for(|| child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(seeded, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(exited, "SIGTERM did not stop the controller");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = SqliteStore::open(&db).unwrap();
    let latest = store.latest_revision().unwrap().unwrap();
    assert_eq!(latest.text, NETWORK);
    assert_eq!(
        (latest.tenant.as_str(), latest.network.as_str()),
        ("acme", "corp")
    );
    let audit = store.audit_since(SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.action, "revision.commit");
    assert_eq!(audit[0].entry.actor.name, "network-file");

    // A second start with a database that has revisions leaves them as they are.
    std::fs::write(setup.path("network.kdl"), "not kdl {").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .arg("--config")
        .arg(&setup.config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = wait_for(|| setup.path("keys/controller.key").exists());
    std::thread::sleep(Duration::from_millis(300));
    let still_running = child.try_wait().unwrap().is_none();
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert!(
        up && still_running,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(revisions(&db), [(1, "network-file".to_owned())]);
}

/// Sends `signal` (e.g. `-TERM`) to `child` with kill(1), keeping the test free of unsafe code.
fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Under systemd (`Type=notify`, examples/systemd/cvlan-controller.service) the controller says
/// READY=1 once its port takes connections, and STOPPING=1 on SIGTERM: the real binary, with
/// `NOTIFY_SOCKET` naming a datagram socket of the test's (in the child's environment only).
#[test]
fn the_controller_tells_systemd_when_it_is_ready_and_when_it_stops() {
    use std::os::unix::net::UnixDatagram;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = Setup::new("");
    let config = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace("127.0.0.1:7443", &format!("127.0.0.1:{port}"));
    std::fs::write(&setup.config, config).unwrap();
    let notify_path = setup.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .arg("--config")
        .arg(&setup.config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let ready = notify
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    // READY=1 means serving: the port takes a connection right away.
    let connects = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    signal(&child, "-TERM");
    let stopping = notify
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let exited = wait_for(|| child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(ready.ok().as_deref(), Some("READY=1"), "{log}");
    assert!(
        connects,
        "READY=1 came before the port took connections\n{log}"
    );
    assert_eq!(stopping.ok().as_deref(), Some("STOPPING=1"), "{log}");
    assert!(exited && out.status.success(), "{log}");
}

#[test]
fn man_prints_the_section_8_page_without_reading_a_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .args(["man", "--config", "/nonexistent/controller.kdl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = stdout(&out);
    assert!(page.contains(".TH cvlan-controller 8 "), "{page}");
    assert!(page.contains("apikey"), "the subcommands: {page}");
}
