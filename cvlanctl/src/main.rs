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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, DEFAULT_SOCKET, DnsCommand, LiveArgs, PolicyCommand};
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
    // `--socket` and `--json` may come before the command or after it; after wins.
    let top_json = cli.json;
    let top_socket = cli.socket;
    let socket = |live: &LiveArgs| -> PathBuf {
        live.socket
            .socket
            .clone()
            .or_else(|| top_socket.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
    };
    let json = |live: &LiveArgs| top_json || live.json.json;
    match cli.command {
        Command::Check(args) => {
            let json = top_json || args.json;
            offline::check::run(&args, json)
        }
        Command::Fmt(args) => offline::fmt::run(&args),
        Command::Addresses(args) => offline::addresses::run(&args.file, top_json || args.json.json),
        Command::Plan(args) if args.daemon => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| async move {
                plan::run_daemon(c, &args.file, json).await
            })
        }
        Command::Plan(args) => plan::run_offline(&args, json(&args.live)),
        Command::Policy(PolicyCommand::Explain(args)) => {
            let json = json(&args.live);
            match &args.file {
                Some(file) => offline::explain::run(file, &args, json),
                None => live::with_client(&socket(&args.live), |c| async move {
                    live::policy::explain(c, &args, json).await
                }),
            }
        }
        Command::Policy(PolicyCommand::Hits(args)) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| async move {
                live::policy::hits(c, &args, json).await
            })
        }
        Command::Policy(PolicyCommand::Test(args)) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| async move {
                live::policy::test(c, &args, json).await
            })
        }
        Command::Status(live) => {
            let json = json(&live);
            live::with_client(&socket(&live), |c| live::status::run(c, json))
        }
        Command::Dns(DnsCommand::Status(live)) => {
            let json = json(&live);
            live::with_client(&socket(&live), |c| live::dns::status(c, json))
        }
        Command::Peers(live) => {
            let json = json(&live);
            live::with_client(&socket(&live), |c| live::peers::run(c, json))
        }
        Command::Ping(args) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| {
                live::ping::run(c, args.node, args.count, json)
            })
        }
        Command::Whois(args) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| {
                live::whois::run(c, args.address, json)
            })
        }
        Command::Sas(args) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| live::sas::run(c, args.peer, json))
        }
        Command::Events(args) => {
            let json = json(&args.live);
            live::with_client(&socket(&args.live), |c| async move {
                live::events::run(c, &args, json).await
            })
        }
        Command::Completions(args) => docs::completions(args.shell),
        Command::Man => docs::man(),
    }
}
