//! Running the system tools the lab is made of (`ip`, `nft`, `sysctl`, `wg`, …), with errors
//! that say which command failed and what it printed.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// No tool the lab runs may take longer than this (coreutils `timeout` enforces it), so a
/// hanging tool fails the lab instead of hanging it.
const TIMEOUT_SECS: &str = "60";
/// `timeout`'s exit code when it had to stop the tool.
const TIMED_OUT: i32 = 124;

/// A tool that failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// It could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
}

/// Runs `program args…` to completion; an unsuccessful exit is an error.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Output, CommandError> {
    run_with_input(program, args, None)
}

/// Runs `program args…` in namespace `ns` (`ip netns exec`).
pub fn run_in<S: AsRef<OsStr>>(
    ns: &str,
    program: &str,
    args: &[S],
) -> Result<Output, CommandError> {
    let mut all: Vec<&OsStr> = vec![
        "netns".as_ref(),
        "exec".as_ref(),
        ns.as_ref(),
        program.as_ref(),
    ];
    all.extend(args.iter().map(AsRef::as_ref));
    run("ip", &all)
}

/// Runs `program args…` feeding `input` on stdin; it is stopped after a minute.
pub fn run_with_input<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    input: Option<&[u8]>,
) -> Result<Output, CommandError> {
    let command = command_line(program, args);
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", TIMEOUT_SECS, program])
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_err = |source| CommandError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).map_err(spawn_err)?;
    }
    let output = child.wait_with_output().map_err(spawn_err)?;
    if output.status.success() {
        return Ok(output);
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if output.status.code() == Some(TIMED_OUT) {
        stderr = format!("timed out after {TIMEOUT_SECS} s {stderr}");
    }
    Err(CommandError::Failed {
        command,
        status: output.status,
        stderr,
    })
}

/// `program arg arg…` for messages.
pub fn command_line<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut line = program.to_owned();
    for a in args {
        line.push(' ');
        line.push_str(&a.as_ref().to_string_lossy());
    }
    line
}
