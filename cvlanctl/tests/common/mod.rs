//! Running the real cvlanctl binary from integration tests.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs cvlanctl with `args` from the repository root, with no daemon socket in reach.
pub fn cvlanctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
        .args(args)
        .current_dir(root())
        .env_remove("CVLAN_SOCKET")
        .output()
        .expect("run cvlanctl")
}

/// The exit code (panics on a signal, which is always a bug).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("cvlanctl exited by a signal")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stdout parsed as one JSON document.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", stdout(output)))
}
