//! The controller commands of the real cvlanctl binary against a real controller (its
//! library, serving on loopback over the Noise transport with a SQLite file): the JSON shapes
//! and exit codes of control-plane.md's outside contract, and API keys that are wrong,
//! revoked or short of the scope refused with exit 2 and one line saying which.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::SystemTime;

use common::{code, json, stderr};
use cvlan_controller::serve::{hub::Hub, serve};
use cvlan_controller::store::sqlite::SqliteStore;
use cvlan_controller::store::{Actor, AsyncStore, Scope, Store as _};
use cvlan_types::PrivateKey;

const NETWORK: &str = r#"network "corp" { overlay "100.64.0.0/10" }
controller "ctl" address="127.0.0.1:7443" public-key="Y2xvdWR2bGFuLWNvbnRyb2xsZXIta2V5LTMyYnl0ZXM="
node "web-1" { tags "server" }
node "laptop" { tags "eng" }
policy { allow "web" from="tag:eng" to="tag:server" ports="443/tcp" }
policy-test "eng reaches the web" {
    accept from="laptop" to="web-1" port="443/tcp"
}
"#;

/// A controller serving on loopback until dropped, with one API key per scope and a revoked one.
struct Running {
    dir: tempfile::TempDir,
    addr: String,
    key: String,
    admin: String,
    read: String,
    revoked: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("controller.db")).expect("store");
        let by = Actor::local("test");
        let now = SystemTime::now();
        let issue = |scope| {
            let (_, key) = store.create_api_key(scope, &by, now).expect("api key");
            key.reveal().to_owned()
        };
        let (admin, read) = (issue(Scope::Admin), issue(Scope::Read));
        let (revoked_info, revoked) = store.create_api_key(Scope::Admin, &by, now).expect("key");
        store
            .revoke_api_key(&revoked_info.key.id, &by, now)
            .expect("revoke");
        let revoked = revoked.reveal().to_owned();
        let private = PrivateKey::generate();
        let key = private.public_key().to_base64();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let store = AsyncStore::new(Arc::new(store));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let hub = Hub::start(store.clone()).await;
                let shutdown = async move {
                    let _ = stopped.await;
                };
                serve(listener, private, store, hub, shutdown)
                    .await
                    .expect("serves");
            });
        });
        Self {
            dir,
            addr,
            key,
            admin,
            read,
            revoked,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `cvlanctl --controller … --controller-key … ARGS` with `api_key` in CVLAN_API_KEY.
    fn ctl(&self, api_key: &str, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
            .args(["--controller", &self.addr, "--controller-key", &self.key])
            .args(args)
            .env("CVLAN_API_KEY", api_key)
            .env_remove("CVLAN_CONTROLLER")
            .env_remove("CVLAN_CONTROLLER_KEY")
            .output()
            .expect("cvlanctl runs")
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn apply_revisions_nodes_and_keys_print_the_contract_shapes() {
    let ctl = Running::start();
    let file = ctl.file("network.kdl", NETWORK);

    let applied = ctl.ctl(
        &ctl.admin,
        &["apply", "--file", &file, "--message", "first", "--json"],
    );
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let doc = json(&applied);
    assert_eq!(
        keys(&doc),
        ["changed", "diagnostics", "ok", "revision", "tests"]
    );
    assert_eq!((&doc["ok"], &doc["changed"]), (&true.into(), &true.into()));
    assert_eq!(doc["revision"], "1");
    assert_eq!(doc["tests"]["passed"], 1);

    // The same file again changes nothing; a failing policy-test is refused (exit 1).
    let again = json(&ctl.ctl(&ctl.admin, &["apply", "--file", &file, "--json"]));
    assert_eq!(
        (&again["changed"], &again["revision"]),
        (&false.into(), &"1".into())
    );
    let broken = ctl.file("broken.kdl", &NETWORK.replace("    accept", "    reject"));
    let refused = ctl.ctl(&ctl.admin, &["apply", "--file", &broken, "--json"]);
    assert_eq!(code(&refused), 1);
    let doc = json(&refused);
    assert_eq!(
        (&doc["ok"], &doc["tests"]["failed"]),
        (&false.into(), &1.into())
    );
    let invalid = ctl.file("invalid.kdl", "network \"corp\" {\n");
    let refused = ctl.ctl(&ctl.admin, &["apply", "--file", &invalid, "--json"]);
    assert_eq!(code(&refused), 1);
    assert!(json(&refused)["diagnostics"][0]["code"].is_string());

    let revisions = json(&ctl.ctl(&ctl.read, &["revisions", "--json"]));
    let first = &revisions["revisions"][0];
    assert_eq!(keys(first), ["author", "hash", "id", "message", "time"]);
    assert_eq!(
        (&first["id"], &first["message"]),
        (&"1".into(), &"first".into())
    );
    assert_eq!(revisions["revisions"].as_array().map(Vec::len), Some(1));

    // Declared nodes are listed before they register, offline and without a key.
    let nodes = json(&ctl.ctl(&ctl.read, &["nodes", "--json"]));
    let web = &nodes["nodes"][1];
    assert_eq!(
        keys(web),
        [
            "addresses",
            "endpoints",
            "key_expiry",
            "last_seen",
            "name",
            "online",
            "public_key",
            "tags"
        ]
    );
    assert_eq!(
        (&web["name"], &web["online"]),
        (&"web-1".into(), &false.into())
    );

    let created = json(&ctl.ctl(
        &ctl.admin,
        &[
            "authkey",
            "create",
            "--tag",
            "server",
            "--expires",
            "24h",
            "--json",
        ],
    ));
    assert_eq!(
        keys(&created),
        [
            "ephemeral",
            "expires",
            "id",
            "key",
            "reusable",
            "status",
            "tags",
            "uses"
        ]
    );
    let secret = created["key"].as_str().expect("the key, once").to_owned();
    let listed = ctl.ctl(&ctl.read, &["authkey", "list", "--json"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(text.contains(created["id"].as_str().expect("id")) && !text.contains(&secret));
    let id = created["id"].as_str().expect("id");
    let revoked = json(&ctl.ctl(&ctl.admin, &["authkey", "revoke", id, "--json"]));
    assert_eq!(revoked["status"], "revoked");

    let api = json(&ctl.ctl(
        &ctl.admin,
        &["apikey", "create", "--scope", "read", "--json"],
    ));
    assert!(api["id"].is_string() && api["key"].is_string(), "{api}");
    let csv = ctl.ctl(&ctl.read, &["audit", "--since", "1h", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(
        csv.starts_with("time,actor,action,target,before,after\n"),
        "{csv}"
    );
    assert!(
        csv.contains("revision.commit") && csv.contains("authkey.revoke"),
        "{csv}"
    );
    assert!(!csv.contains(&secret));

    // plan --controller: the plan against the running revision.
    let edited = ctl.file(
        "edited.kdl",
        &NETWORK.replace(
            "node \"laptop\" { tags \"eng\" }\n",
            "node \"laptop\" { tags \"eng\" }\nnode \"db-1\"\n",
        ),
    );
    let env_plan = std::process::Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
        .args([
            "--controller-key",
            &ctl.key,
            "plan",
            "--file",
            &edited,
            "--controller",
            &ctl.addr,
            "--json",
        ])
        .env("CVLAN_API_KEY", &ctl.read)
        .output()
        .expect("cvlanctl runs");
    assert_eq!(code(&env_plan), 0, "{}", stderr(&env_plan));
    let plan = json(&env_plan);
    assert!(
        plan["members"].as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["name"] == "db-1" && m["change"] == "join")),
        "{plan}"
    );
}

#[test]
fn wrong_revoked_and_underscoped_api_keys_are_exit_2_with_one_line() {
    let ctl = Running::start();
    let file = ctl.file("network.kdl", NETWORK);
    let one_line = |out: &Output, says: &str| {
        assert_eq!(code(out), 2, "{}", stderr(out));
        let err = stderr(out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
    };
    one_line(
        &ctl.ctl(&ctl.read, &["apply", "--file", &file]),
        "has scope read; this needs write",
    );
    one_line(&ctl.ctl(&ctl.revoked, &["nodes"]), "unknown or revoked");
    one_line(
        &ctl.ctl("cvlan-api-0000000000000000-00", &["nodes"]),
        "unknown or revoked",
    );
    one_line(&ctl.ctl(&ctl.read, &["apikey", "list"]), "this needs admin");
    let no_controller = std::process::Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
        .args(["nodes"])
        .env_remove("CVLAN_CONTROLLER")
        .output()
        .expect("cvlanctl runs");
    one_line(&no_controller, "no controller");
    let wrong_key = std::process::Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
        .args([
            "--controller",
            &ctl.addr,
            "--controller-key",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            "nodes",
        ])
        .env("CVLAN_API_KEY", &ctl.admin)
        .output()
        .expect("cvlanctl runs");
    one_line(&wrong_key, "cannot reach the controller");
    assert!(Path::new(&file).exists());
}
