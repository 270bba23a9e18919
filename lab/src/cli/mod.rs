//! Argument definitions and dispatch. Exit codes follow cvlanctl's: 0 success, 1 the answer
//! is "no" (invalid topology, a failed check), 2 could not run; `exec` passes on its
//! command's code.

mod manage;
mod up;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Builds CloudVLAN labs from a KDL topology: network namespaces, switches, NAT routers and
/// the real daemons.
#[derive(Debug, Parser)]
#[command(name = "cvlan-lab", version, about)]
pub struct Args {
    /// Where labs keep their run directories.
    #[arg(long, global = true, env = "CVLAN_LAB_DIR", default_value = cvlan_lab::record::DEFAULT_RUN_ROOT)]
    run_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the lab in FILE, start its daemons, wait until they are up, print how to attach,
    /// and leave it running.
    ///
    /// Example: cvlan-lab up examples/lab/topology.kdl
    Up {
        /// The topology file.
        file: PathBuf,
        /// Run the topology's checks, print the results and tear the lab down again.
        #[arg(long)]
        headless: bool,
        /// Where cvland and the other project binaries are (default: next to cvlan-lab).
        #[arg(long, env = "CVLAN_BIN_DIR")]
        bin_dir: Option<PathBuf>,
        /// Seconds each daemon may take to become ready.
        #[arg(long, default_value_t = 15)]
        ready_timeout: u64,
    },
    /// Tear down a lab (by id or unique id prefix), every lab, or only stale ones.
    ///
    /// Example: cvlan-lab down --all
    Down {
        /// The lab's id.
        #[arg(required_unless_present_any = ["all", "stale"], conflicts_with_all = ["all", "stale"])]
        id: Option<String>,
        /// Every lab, running or stale.
        #[arg(long)]
        all: bool,
        /// Only labs whose owner died without tearing them down.
        #[arg(long, conflicts_with = "all")]
        stale: bool,
    },
    /// List labs with their state (running, detached, stale).
    ///
    /// Example: cvlan-lab list --json
    List {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a lab host's network namespace.
    ///
    /// Example: cvlan-lab exec k3x9a2 alpha -- ping -c1 10.0.1.11
    Exec {
        /// The lab's id.
        id: String,
        /// The host (or NAT router).
        host: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Write the pathological inputs every reader is tested with (deep and unbalanced braces
    /// after broken strings, invalid UTF-8, huge lines...) as DIR/NAME.kdl, one file each: fuzz
    /// seeds, or files to try a reader on by hand.
    ///
    /// Example: cvlan-lab pathological --small fuzz/corpus/network
    Pathological {
        /// Where the files go (created when missing).
        dir: PathBuf,
        /// Only the cases under 64 KiB.
        #[arg(long)]
        small: bool,
    },
}

/// Runs the parsed command line.
pub fn run(args: Args) -> ExitCode {
    let root = args.run_dir;
    match args.command {
        Command::Up {
            file,
            headless,
            bin_dir,
            ready_timeout,
        } => up::run(&root, &file, headless, bin_dir, ready_timeout),
        Command::Down { id, all, stale } => manage::down(&root, id.as_deref(), all, stale),
        Command::List { json } => manage::list(&root, json),
        Command::Exec { id, host, command } => manage::exec(&root, &id, &host, &command),
        Command::Pathological { dir, small } => manage::pathological(&dir, small),
    }
}

/// Exit code 1: the answer is "no".
const NO: u8 = 1;
/// Exit code 2: could not run.
const FAILED: u8 = 2;

/// Writes to stdout, ignoring a closed pipe.
fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Writes an error report to stderr.
fn report(err: impl Into<miette::Report>) {
    let _ = writeln!(std::io::stderr().lock(), "{:?}", err.into());
}

/// Writes `text` (a rendered report) to stderr as it is.
fn print_err(text: &str) {
    let _ = write!(std::io::stderr().lock(), "{text}");
}

/// Writes a plain error line to stderr.
fn complain(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "cvlan-lab: {text}");
}
