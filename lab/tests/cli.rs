//! The `cvlan-lab` binary: `up` leaves a lab running that `list`, `exec` and `down` work on;
//! `up --headless` runs the topology's checks and tears down; SIGTERM during `up` tears down;
//! stale labs are found and removed; bad input gives the documented exit codes.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cvlan_lab::record::{self, LabRecord};
use cvlan_lab::require_root;

const NETWORK: &str = r#"network "cli" {
    overlay "100.64.0.0/10"
}
node "left" { address "100.64.1.1"; }
node "right" { address "100.64.1.2"; }
"#;

const TOPOLOGY: &str = r#"
lab "cli-test"
network "network.kdl"
switch "lan" subnet="10.88.0.0/24"
host "left" { link "lan" address="10.88.0.1"; wireguard-go endpoint="lan"; }
host "right" { link "lan" address="10.88.0.2"; wireguard-go endpoint="lan"; }
check {
    ping "left" "10.88.0.2"
    ping "left" "right"
    ping "right" "left"
}
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cvlan-lab"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory with the test topology (with `extra` appended) and its network.kdl.
fn lab_dir(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.kdl"), NETWORK).unwrap();
    let file = dir.path().join("lab.kdl");
    std::fs::write(&file, format!("{TOPOLOGY}{extra}")).unwrap();
    (dir, file)
}

fn namespaces_of(id: &str) -> Vec<String> {
    record::namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&format!("cvlab-{id}")))
        .collect()
}

/// The id printed by `up` on its first line: "lab ID (NAME) is up; …".
fn id_from(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn up_list_exec_down() {
    let Some(_root) = require_root() else { return };
    let (_dir, file) = lab_dir("");
    let out = run(&["up", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let id = id_from(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("cvlan-lab exec {id} left --")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("cvlan-lab down {id}")), "{stdout}");
    assert_eq!(namespaces_of(&id).len(), 3);

    let list = run(&["list", "--json"]);
    let labs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let me = labs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id.as_str())
        .unwrap();
    assert_eq!(me["state"], "detached");
    assert_eq!(me["name"], "cli-test");

    // The daemons outlived `up`: the overlay works through them.
    let ping = run(&[
        "exec",
        &id,
        "left",
        "--",
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-w",
        "5",
        "100.64.1.2",
    ]);
    assert!(ping.status.success(), "{}", text(&ping));
    assert_eq!(
        run(&["exec", &id, "right", "--", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(
        run(&["exec", &id, "nobody", "--", "true"]).status.code(),
        Some(2)
    );

    let down = run(&["down", &id]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(namespaces_of(&id).is_empty());
    assert_eq!(run(&["down", &id]).status.code(), Some(2));
}

#[test]
fn headless_runs_the_checks_and_tears_down() {
    let Some(_root) = require_root() else { return };
    let (_dir, file) = lab_dir("");
    let out = run(&["up", "--headless", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let id = id_from(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok    ping left → right (100.64.1.2)"),
        "{stdout}"
    );
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    assert!(namespaces_of(&id).is_empty());

    // A check that cannot pass makes the answer "no".
    let (_dir, file) = lab_dir("check { ping \"left\" \"10.88.0.99\"; }\n");
    let out = run(&["up", "--headless", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  ping left → 10.88.0.99"));
    assert!(namespaces_of(&id_from(&out)).is_empty());
}

#[test]
fn sigterm_during_up_tears_the_lab_down() {
    let Some(_root) = require_root() else { return };
    // A daemon that never becomes ready keeps `up` waiting.
    let (_dir, file) = lab_dir(
        r#"host "slow" {
    link "lan" address="10.88.0.3"
    process "never" { command "sleep" "600"; ready socket="never.sock"; }
}
"#,
    );
    let up = bin()
        .args(["up", "--ready-timeout", "60", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let root = record::run_root();
    let deadline = Instant::now() + Duration::from_secs(30);
    let lab: LabRecord = loop {
        let found = record::list(&root)
            .into_iter()
            .find(|l| l.owner_pid == up.id() && l.processes.iter().any(|p| p.name == "never"));
        if let Some(lab) = found {
            break lab;
        }
        assert!(
            Instant::now() < deadline,
            "up never started the slow daemon"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    cvlan_lab::process::signal(up.id(), nix::sys::signal::Signal::SIGTERM);
    let out = up.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(namespaces_of(&lab.id).is_empty());
    assert!(!lab.run_dir.exists());
}

#[test]
fn stale_labs_are_listed_and_removed() {
    let Some(_root) = require_root() else { return };
    let (_dir, file) = lab_dir("");
    let out = run(&["up", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let id = id_from(&out);
    // Make it look like a lab whose owner crashed: not detached, owner gone.
    let root = record::run_root();
    let mut rec = record::find(&root, &id).unwrap();
    let mut dead = Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    rec.detached = false;
    rec.owner_pid = dead.id();
    rec.save().unwrap();
    let list = String::from_utf8(run(&["list"]).stdout).unwrap();
    let line = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(line.contains("stale"), "{line}");

    let down = run(&["down", "--stale"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(String::from_utf8_lossy(&down.stdout).contains(&format!("removed lab {id}")));
    assert!(namespaces_of(&id).is_empty());
}

#[test]
fn bad_input_gives_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.kdl");
    std::fs::write(
        &bad,
        "host \"a\" { link \"nowhere\" address=\"10.0.0.1\"; }\n",
    )
    .unwrap();
    let out = run(&["up", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cvlan-lab::unknown-switch"));

    let out = run(&["up", dir.path().join("missing.kdl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));

    // A cvland host needs the cvland binary: a clear error, nothing built.
    let topo = dir.path().join("cvland.kdl");
    std::fs::write(dir.path().join("network.kdl"), NETWORK).unwrap();
    std::fs::write(
        &topo,
        "network \"network.kdl\"\nswitch \"s\" subnet=\"10.0.0.0/24\"\nhost \"left\" { link \"s\" address=\"10.0.0.1\"; cvland; }\n",
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["up", topo.to_str().unwrap()])
        .env("CVLAN_BIN_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cvland not found"),
        "{}",
        text(&out)
    );
}
