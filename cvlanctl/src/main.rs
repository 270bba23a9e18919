//! cvlanctl: the operator's and the script's interface to CloudVLAN (see `cli.md`).
//!
//! Thin by design: arguments are parsed and checked here, the work is done by cvlan-schema,
//! cvlan-core and the daemon's local API, and the result is printed as a table or as JSON.

mod cli;
mod docs;
mod live;
mod offline;
mod outcome;
mod output;
mod plan;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, PolicyCommand};
use outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(answer) => answer.exit_code(),
        Err(failure) => {
            output::print_err(&format!("cvlanctl: {failure}\n"));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Outcome {
    let json = cli.json;
    let socket = cli.socket;
    match cli.command {
        Command::Check(args) => offline::check::run(&args, json),
        Command::Fmt(args) => offline::fmt::run(&args),
        Command::Addresses(args) => offline::addresses::run(&args, json),
        Command::Plan(args) if args.daemon => live::with_client(&socket, |c| async move {
            plan::run_daemon(c, &args.file, json).await
        }),
        Command::Plan(args) => plan::run_offline(&args, json),
        Command::Policy(PolicyCommand::Explain(args)) => match &args.file {
            Some(file) => offline::explain::run(file, &args, json),
            None => live::with_client(&socket, |c| async move {
                live::policy::explain(c, &args, json).await
            }),
        },
        Command::Policy(PolicyCommand::Hits(args)) => live::with_client(&socket, |c| async move {
            live::policy::hits(c, &args, json).await
        }),
        Command::Policy(PolicyCommand::Test(args)) => live::with_client(&socket, |c| async move {
            live::policy::test(c, &args, json).await
        }),
        Command::Status => live::with_client(&socket, |c| live::status::run(c, json)),
        Command::Peers => live::with_client(&socket, |c| live::peers::run(c, json)),
        Command::Ping(args) => {
            live::with_client(&socket, |c| live::ping::run(c, args.node, args.count, json))
        }
        Command::Whois(args) => {
            live::with_client(&socket, |c| live::whois::run(c, args.address, json))
        }
        Command::Sas(args) => live::with_client(&socket, |c| live::sas::run(c, args.peer, json)),
        Command::Events(args) => live::with_client(&socket, |c| async move {
            live::events::run(c, &args, json).await
        }),
        Command::Completions(args) => docs::completions(args.shell),
        Command::Man => docs::man(),
    }
}
