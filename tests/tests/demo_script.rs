//! `scripts/demo --headless`: the newcomer's demo, offline part and the live lab's checks,
//! run as a test with the binaries this build made.

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
