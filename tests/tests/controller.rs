//! Three cvland hosts that join through cvlan-controller with auth keys (tests/labs/
//! controller.kdl): traffic, an apply reaching every node, the controller killed and back, a
//! node restarted on its cache, refused registrations, `node expire`, and a refused apply.
//! Real daemons, real TUN devices, real traffic; cvlanctl talks to the controller as an
//! operator's would, over the Noise transport with an API key.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cvlan_lab::{HostHandle, Lab, LabChild, LabOptions, require_root};
use cvlan_tests::{
    PingRun, bin_dir, one_at_a_time, peer_names, root, start_cvland, status, wait_for,
};
use serde_json::Value;

const CONTROLLER: &str = "198.51.100.5:7443";

fn network(controller_key: &str, extra_rule: &str) -> String {
    format!(
        r#"network "corp" {{ overlay "100.64.0.0/10"; }}
controller "ctl" address="{CONTROLLER}" public-key="{controller_key}"
node "alpha" {{ address "100.64.0.10"; endpoint "198.51.100.10:51820"; tags "server"; }}
node "bravo" {{ address "100.64.0.11"; endpoint "198.51.100.11:51820"; }}
node "carol" {{ address "100.64.0.12"; }}
policy {{
    allow "mesh" from="*" to="*"
{extra_rule}}}
policy-test "alpha reaches bravo" {{
    accept from="alpha" to="bravo" port="22/tcp"
}}
"#
    )
}

fn address(node: &str) -> Ipv4Addr {
    match node {
        "alpha" => Ipv4Addr::new(100, 64, 0, 10),
        "bravo" => Ipv4Addr::new(100, 64, 0, 11),
        _ => Ipv4Addr::new(100, 64, 0, 12),
    }
}

/// The controller host's files and its running daemon.
struct Controller {
    config: PathBuf,
    api_key_file: PathBuf,
    key: String,
    child: Option<LabChild>,
}

impl Controller {
    fn setup(lab: &Lab) -> Self {
        let host = lab.host("ctl");
        let dir = host.dir().join("controller");
        std::fs::create_dir_all(&dir).expect("controller dir");
        let config = dir.join("controller.kdl");
        std::fs::write(
            &config,
            format!(
                "listen \"{CONTROLLER}\"\nkey-file \"{}\"\ndatabase \"sqlite\" path=\"{}\"\n",
                dir.join("controller.key").display(),
                dir.join("controller.db").display()
            ),
        )
        .expect("write controller.kdl");
        let key = controller_cli(&["pubkey", "--config", &config.display().to_string()]);
        let created = controller_cli(&[
            "apikey",
            "create",
            "--config",
            &config.display().to_string(),
            "--scope",
            "admin",
            "--json",
        ]);
        let created: Value = serde_json::from_str(&created).expect("apikey JSON");
        let api_key_file = dir.join("admin.key");
        std::fs::write(&api_key_file, created["key"].as_str().expect("key")).expect("write key");
        let mut controller = Self {
            config,
            api_key_file,
            key: key.trim().to_owned(),
            child: None,
        };
        controller.start(lab);
        controller
    }

    fn start(&mut self, lab: &Lab) {
        let host = lab.host("ctl");
        let program = bin_dir().join("cvlan-controller");
        let mut child = host
            .spawn(&[
                program.as_os_str(),
                "--config".as_ref(),
                self.config.as_os_str(),
            ])
            .expect("cvlan-controller starts");
        // Its log goes to a file beside its database (a pipe nobody reads would block it).
        if let Some(mut err) = child.stderr.take() {
            let log = self.config.with_file_name("controller.log");
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("controller.log");
                let _ = std::io::copy(&mut err, &mut file);
            });
        }
        host.wait_listening(7443, Duration::from_secs(20))
            .expect("the controller listens");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop(Duration::ZERO);
        }
    }

    /// `cvlanctl --json ARGS` against the controller, from the controller's host.
    fn ctl(&self, lab: &Lab, args: &[&str]) -> (i32, Value) {
        let host = lab.host("ctl");
        let program = bin_dir().join("cvlanctl");
        let mut argv: Vec<String> = vec![
            program.display().to_string(),
            "--controller".into(),
            CONTROLLER.into(),
            "--controller-key".into(),
            self.key.clone(),
            "--api-key-file".into(),
            self.api_key_file.display().to_string(),
            "--json".into(),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let out = host.exec(&argv).expect("cvlanctl runs");
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            Value::String(format!(
                "stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        });
        (out.status.code().unwrap_or(-1), doc)
    }

    fn apply(&self, lab: &Lab, text: &str, message: &str) -> (i32, Value) {
        let file = lab.host("ctl").dir().join("controller/network.kdl");
        std::fs::write(&file, text).expect("write network.kdl");
        self.ctl(
            lab,
            &[
                "apply",
                "--file",
                &file.display().to_string(),
                "--message",
                message,
            ],
        )
    }

    fn auth_key(&self, lab: &Lab, args: &[&str]) -> String {
        let mut all = vec!["authkey", "create"];
        all.extend_from_slice(args);
        let (code, doc) = self.ctl(lab, &all);
        assert_eq!(code, 0, "authkey create: {doc}");
        assert!(doc["id"].is_string(), "{doc}");
        doc["key"].as_str().expect("the key, shown once").to_owned()
    }
}

fn controller_cli(args: &[&str]) -> String {
    let out = std::process::Command::new(bin_dir().join("cvlan-controller"))
        .args(args)
        .output()
        .expect("cvlan-controller runs");
    assert!(
        out.status.success(),
        "cvlan-controller {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `host`'s cvland.kdl following the controller, with `auth_key` in its key file.
fn cvland_config(
    host: &HostHandle<'_>,
    node: &str,
    controller_key: &str,
    auth_key: &str,
) -> String {
    let key_file = host.dir().join("auth-key");
    std::fs::write(&key_file, auth_key).expect("write auth key");
    format!(
        "node \"{node}\"\nstate-dir \"{}\"\nsocket \"{}\"\ntun \"cvl0\"\n\
         source \"controller\" address=\"{CONTROLLER}\" public-key=\"{controller_key}\" auth-key-file=\"{}\"\n",
        host.state_dir().display(),
        host.socket_path().display(),
        key_file.display()
    )
}

fn source_error(socket: &Path) -> String {
    status(socket)["source"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn revision(socket: &Path) -> String {
    status(socket)["revision"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn nodes_join_through_the_controller_and_keep_working_without_it() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let options = LabOptions {
        bin_dir: Some(bin_dir()),
        ..LabOptions::default()
    };
    let lab = Lab::start_file(&root().join("tests/labs/controller.kdl"), options)
        .expect("the controller lab starts");
    let mut controller = Controller::setup(&lab);
    let key = controller.key.clone();

    let (code, applied) = controller.apply(&lab, &network(&key, ""), "first");
    assert_eq!(code, 0, "{applied}");
    assert_eq!(applied["ok"], true);
    assert_eq!(applied["changed"], true);
    assert_eq!(applied["revision"], "1");
    assert_eq!(applied["tests"]["passed"], 1);

    // alpha joins with a single-use key; bravo tries the same key (spent) and is refused.
    let single = controller.auth_key(&lab, &[]);
    let reusable = controller.auth_key(&lab, &["--reusable"]);
    let (alpha, bravo, carol) = (lab.host("alpha"), lab.host("bravo"), lab.host("carol"));
    let sockets: Vec<PathBuf> = [&alpha, &bravo, &carol]
        .iter()
        .map(|h| h.socket_path())
        .collect();
    let config = cvland_config(&alpha, "alpha", &key, &single);
    let _alpha = start_cvland(&alpha, "cvland.kdl", &config, sockets[0].clone());
    let config = cvland_config(&bravo, "bravo", &key, &single);
    let mut bravo_daemon = Some(start_cvland(
        &bravo,
        "cvland.kdl",
        &config,
        sockets[1].clone(),
    ));
    wait_for(Duration::from_secs(10), || {
        source_error(&sockets[1]).contains("already used")
    })
    .unwrap_or_else(|| panic!("bravo is refused: {}", status(&sockets[1])));
    // Its key file fixed, bravo's next attempt registers; carol joins with the reusable key.
    std::fs::write(bravo.dir().join("auth-key"), &reusable).expect("write key");
    let config = cvland_config(&carol, "carol", &key, &reusable);
    let _carol = start_cvland(&carol, "cvland.kdl", &config, sockets[2].clone());

    let joined = wait_for(Duration::from_secs(30), || {
        sockets.iter().all(|s| peer_names(s).len() == 2)
    });
    assert!(
        joined.is_some(),
        "the nodes see each other: {:?}",
        peer_names(&sockets[0])
    );
    for (host, target) in [(&alpha, "bravo"), (&bravo, "carol"), (&carol, "alpha")] {
        wait_for(Duration::from_secs(10), || {
            host.ping(address(target), 1).is_ok()
        })
        .unwrap_or_else(|| panic!("{} reaches {target}", host.name()));
    }
    let (code, nodes) = controller.ctl(&lab, &["nodes"]);
    assert_eq!(code, 0, "{nodes}");
    let listed = nodes["nodes"].as_array().expect("nodes");
    assert_eq!(listed.len(), 3, "{nodes}");
    assert!(listed.iter().all(|n| n["online"] == true), "{nodes}");
    assert!(
        listed
            .iter()
            .all(|n| n["public_key"].as_str().is_some_and(|k| k.len() == 44))
    );
    // carol has no `endpoint` in the file: the one she reported is how her peers reach her.
    let carol_row = listed.iter().find(|n| n["name"] == "carol").expect("carol");
    assert!(
        carol_row["endpoints"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e == "198.51.100.12:51820")),
        "{nodes}\ncarol: {}\n{}",
        status(&sockets[2]),
        std::fs::read_to_string(controller.config.with_file_name("controller.log"))
            .unwrap_or_default()
    );

    // An apply reaches every node.
    let started = Instant::now();
    let rule = "    deny \"no-carol-ssh\" from=\"carol\" to=\"alpha\" ports=\"22/tcp\"\n";
    let (code, applied) = controller.apply(&lab, &network(&key, rule), "deny carol ssh");
    assert_eq!(
        (code, &applied["revision"]),
        (0, &Value::from("2")),
        "{applied}"
    );
    let reached = wait_for(Duration::from_secs(10), || {
        sockets.iter().all(|s| revision(s).starts_with("r2@"))
    })
    .unwrap_or_else(|| {
        let seen: Vec<Value> = sockets.iter().map(|s| status(s)).collect();
        panic!("revision 2 reaches every node: {seen:?}")
    });
    eprintln!(
        "apply → all three nodes: {:?} (apply call and stream)",
        started.elapsed().max(reached)
    );

    // The controller killed: running nodes lose no pings.
    controller.kill();
    let pings = PingRun::start(&alpha, address("bravo"), 20, 100);
    let count = pings.finish();
    assert_eq!(
        count.received, count.sent,
        "pings lost with the controller down"
    );

    // bravo restarted while the controller is down comes up on its cache.
    drop(bravo_daemon.take());
    wait_for(Duration::from_secs(5), || !sockets[1].exists()).expect("bravo stopped");
    let config = cvland_config(&bravo, "bravo", &key, "");
    let _bravo2 = start_cvland(&bravo, "cvland-2.kdl", &config, sockets[1].clone());
    assert!(
        revision(&sockets[1]).starts_with("r2@"),
        "{}",
        status(&sockets[1])
    );
    wait_for(Duration::from_secs(10), || {
        bravo.ping(address("alpha"), 1).is_ok()
    })
    .expect("bravo reaches alpha on its cache");

    // The controller back: nodes resync, and a new apply reaches the restarted bravo.
    controller.start(&lab);
    let (code, applied) = controller.apply(&lab, &network(&key, ""), "allow carol again");
    assert_eq!(code, 0, "{applied}");
    wait_for(Duration::from_secs(40), || {
        sockets.iter().all(|s| revision(s).starts_with("r3@"))
    })
    .unwrap_or_else(|| panic!("revision 3 reaches every node: {}", status(&sockets[1])));

    // A failing policy-test refuses the apply; nothing changes anywhere.
    let broken = network(&key, "").replace("    accept from=", "    reject from=");
    let (code, refused) = controller.apply(&lab, &broken, "broken");
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["tests"]["failed"], 1);
    let (_, revisions) = controller.ctl(&lab, &["revisions"]);
    assert_eq!(revisions["revisions"][0]["id"], "3", "{revisions}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(sockets.iter().all(|s| revision(s).starts_with("r3@")));

    // `node expire` cuts carol off: her peers drop her, and her attempt to register again
    // with an expired auth key is refused.
    let short = controller.auth_key(&lab, &["--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(carol.dir().join("auth-key"), &short).expect("write key");
    let (code, expired) = controller.ctl(&lab, &["node", "expire", "carol"]);
    assert_eq!(code, 0, "{expired}");
    assert_eq!(expired["name"], "carol");
    wait_for(Duration::from_secs(10), || {
        !peer_names(&sockets[0]).contains(&"carol".to_owned())
    })
    .expect("alpha drops carol");
    assert!(alpha.ping(address("carol"), 1).is_err(), "carol is cut off");
    wait_for(Duration::from_secs(20), || {
        source_error(&sockets[2]).contains("expired")
    })
    .unwrap_or_else(|| panic!("carol's expired key is refused: {}", status(&sockets[2])));

    // A host whose name is not in the file is refused with that reason.
    let ctl_host = lab.host("ctl");
    let dave_socket = ctl_host.dir().join("dave.sock");
    let config = cvland_config(&ctl_host, "dave", &key, &reusable).replace(
        &ctl_host.socket_path().display().to_string(),
        &dave_socket.display().to_string(),
    );
    let _dave = start_cvland(&ctl_host, "dave.kdl", &config, dave_socket.clone());
    wait_for(Duration::from_secs(10), || {
        source_error(&dave_socket).contains("not in network.kdl")
    })
    .unwrap_or_else(|| panic!("dave is refused: {}", status(&dave_socket)));
    let (_, audit) = controller.ctl(&lab, &["audit", "--since", "1h"]);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"node.expire"), "{audit}");
    let (_, keys) = controller.ctl(&lab, &["authkey", "list"]);
    assert!(
        !keys.to_string().contains(&single) && !keys.to_string().contains(&reusable),
        "auth key lists never show a key: {keys}"
    );
}
