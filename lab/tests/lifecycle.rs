//! Lab lifecycle: dropping a lab (also while a panic unwinds) removes its namespaces,
//! processes and run directory; two labs of one topology run side by side; a lab left
//! running is found in the records and torn down from them.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests they serve

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

use cvlan_lab::record::{self, LabState};
use cvlan_lab::{Lab, LabOptions, Topology, process, require_root};

const TOPOLOGY: &str = r#"
switch "lan" subnet="10.77.0.0/24"
host "one" {
    link "lan" address="10.77.0.1"
    process "sleeper" { command "sleep" "600"; }
}
host "two" {
    link "lan" address="10.77.0.2"
    process "listener" {
        command "socat" "UNIX-LISTEN:{dir}/echo.sock,fork" "EXEC:cat"
        ready socket="echo.sock"
    }
}
"#;

fn topology() -> Topology {
    Topology::parse(Path::new("lifecycle.kdl"), TOPOLOGY).unwrap()
}

/// Namespaces of lab `id` that still exist.
fn leftovers(id: &str) -> Vec<String> {
    let prefix = format!("cvlab-{id}");
    record::namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&prefix))
        .collect()
}

#[test]
fn drop_removes_namespaces_processes_and_run_dir() {
    let Some(_root) = require_root() else { return };
    let lab = Lab::start(&topology(), LabOptions::default()).unwrap();
    let id = lab.id().to_string();
    let run_dir = lab.run_dir().to_owned();
    assert_eq!(leftovers(&id).len(), 3, "switch namespace and two hosts");
    lab.host("one")
        .ping("10.77.0.2".parse().unwrap(), 1)
        .unwrap();
    assert!(lab.host("two").dir().join("echo.sock").exists());
    let daemons: Vec<_> = lab.record().processes.clone();
    assert_eq!(daemons.len(), 2);
    // A child the test forgets about still dies with the lab.
    let stray = lab.host("one").spawn(&["sleep", "600"]).unwrap();
    let stray_pid = stray.id();
    std::mem::forget(stray);

    drop(lab);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert!(!run_dir.exists());
    for p in daemons {
        assert!(!process::alive(p.pid, p.start_time), "{} survived", p.name);
    }
    assert!(
        process::start_time(stray_pid).is_none(),
        "the stray child survived"
    );
}

#[test]
fn a_panic_while_the_lab_runs_still_cleans_up() {
    let Some(_root) = require_root() else { return };
    let seen = Arc::new(Mutex::new(None));
    let seen2 = Arc::clone(&seen);
    let result = std::panic::catch_unwind(move || {
        let lab = Lab::start(&topology(), LabOptions::default()).unwrap();
        *seen2.lock().unwrap() = Some((lab.id().to_string(), lab.run_dir().to_owned()));
        panic!("test failure inside a lab");
    });
    assert!(result.is_err());
    let (id, run_dir) = seen.lock().unwrap().clone().unwrap();
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert!(!run_dir.exists());
}

#[test]
fn two_labs_of_one_topology_run_in_parallel() {
    let Some(_root) = require_root() else { return };
    let barrier = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let lab = Lab::start(&topology(), LabOptions::default()).unwrap();
                // Both labs exist at once, with the same addresses and interface names.
                barrier.wait();
                lab.host("one")
                    .ping("10.77.0.2".parse().unwrap(), 3)
                    .unwrap();
                lab.host("two")
                    .ping("10.77.0.1".parse().unwrap(), 3)
                    .unwrap();
                barrier.wait();
                lab.id().to_string()
            })
        })
        .collect();
    let ids: Vec<String> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(leftovers(id).is_empty());
    }
}

#[test]
fn a_detached_lab_is_listed_and_torn_down_from_its_record() {
    let Some(_root) = require_root() else { return };
    let lab = Lab::start(&topology(), LabOptions::default()).unwrap();
    let record = lab.detach().unwrap();
    let root = record::run_root();
    let listed = record::find(&root, &record.id).unwrap();
    assert_eq!(listed.state(), LabState::Detached);
    assert_eq!(leftovers(&record.id).len(), 3);
    // Its processes outlived the Lab value.
    assert!(
        record
            .processes
            .iter()
            .all(|p| process::alive(p.pid, p.start_time))
    );

    assert!(listed.teardown().is_empty());
    assert!(leftovers(&record.id).is_empty());
    assert!(
        record
            .processes
            .iter()
            .all(|p| !process::alive(p.pid, p.start_time))
    );
    assert!(record::find(&root, &record.id).is_none());
}
