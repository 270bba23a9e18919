//! `scripts/demo --headless` and `scripts/demo --controller --headless`: the newcomer's demos,
//! offline part and the live lab's checks, run as tests with the binaries this build made.

use std::process::Command;

use cvlan_lab::require_root;
use cvlan_tests::{bin_dir, one_at_a_time, root};

#[test]
fn the_headless_demo_passes() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let out = Command::new(root().join("scripts/demo"))
        .arg("--headless")
        .env("CVLAN_BIN_DIR", bin_dir())
        .current_dir(root())
        .output()
        .expect("scripts/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/demo --headless failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("examples/small-office.kdl: ok"), "{stdout}");
    assert!(stdout.contains("ok    ping alpha → carol"), "{stdout}");
    assert!(stdout.contains("ok    ping alpha → wg"), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn the_headless_controller_demo_passes() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let out = Command::new(root().join("scripts/demo"))
        .args(["--controller", "--headless"])
        .env("CVLAN_BIN_DIR", bin_dir())
        .current_dir(root())
        .output()
        .expect("scripts/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/demo --controller --headless failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("examples/controller-network.kdl: ok"),
        "{stdout}"
    );
    assert!(stdout.contains("applied: revision 1"), "{stdout}");
    for (from, to) in [("alpha", "bravo"), ("bravo", "carol"), ("carol", "alpha")] {
        assert!(
            stdout.contains(&format!("ok    ping {from} → {to}")),
            "{stdout}"
        );
    }
    // `cvlanctl nodes`: every node registered and online.
    for node in ["alpha", "bravo", "carol"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(node) && l.contains(" yes ")),
            "{node} online: {stdout}"
        );
    }
    assert!(
        stdout.contains("source       controller 198.51.100.5:7443"),
        "{stdout}"
    );
    assert!(
        stdout.contains("==> the controller demo passed"),
        "{stdout}"
    );
    assert!(stdout.contains("removed lab"), "{stdout}");
}
