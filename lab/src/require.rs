//! Deciding whether lab tests can run here: root with network-namespace capability. Missing
//! capability skips loudly, except under `CI=true`, where it fails.

use crate::command;

/// Proof that namespaces can be made here.
#[derive(Debug, Clone, Copy)]
pub struct Privileged(());

/// `Some` when this process can create network namespaces. Otherwise prints a loud SKIP line
/// and returns `None`; with `CI=true` it panics instead, because CI must never skip.
///
/// # Panics
/// When the capability is missing and the environment has `CI=true`.
pub fn require_root() -> Option<Privileged> {
    match probe() {
        Ok(()) => Some(Privileged(())),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cvlan-lab: cannot build labs here ({why}) and CI=true forbids skipping");
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n=== SKIP: cvlan-lab test needs root and network namespaces: {why} ===\n"
                );
            }
            None
        }
    }
}

fn probe() -> Result<(), String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err("not running as root".into());
    }
    // A throwaway network namespace proves unshare(CLONE_NEWNET) works.
    command::run("unshare", &["--net", "true"]).map_err(|e| e.to_string())?;
    command::run("ip", &["-V"]).map_err(|e| e.to_string())?;
    Ok(())
}
