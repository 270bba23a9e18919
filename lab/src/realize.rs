//! Carries out the steps of a network plan with `ip`, `sysctl` and `nft`.

use crate::command::{self, CommandError};
use crate::netplan::Step;

/// Performs one step.
pub fn run(step: &Step) -> Result<(), CommandError> {
    match step {
        Step::Namespace(ns) => {
            command::run("ip", &["netns", "add", ns])?;
            command::run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        Step::Ip(args) => {
            command::run("ip", args)?;
        }
        Step::IpIn { ns, args } => {
            let mut all = vec!["-n".to_owned(), ns.clone()];
            all.extend(args.iter().cloned());
            command::run("ip", &all)?;
        }
        Step::Sysctl { ns, key, value } => {
            command::run_in(ns, "sysctl", &["-qw", &format!("{key}={value}")])?;
        }
        Step::Nft { ns, ruleset } => {
            command::run_with_input(
                "ip",
                &["netns", "exec", ns, "nft", "-f", "-"],
                Some(ruleset.as_bytes()),
            )?;
        }
    }
    Ok(())
}
