//! The `cvlan-lab` command line: build a lab from a topology file and leave it running (`up`),
//! list, enter (`exec`) and remove (`down`) labs.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::run(args)
}
