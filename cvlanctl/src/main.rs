//! cvlanctl: the operator's and the script's interface to CloudVLAN (see `cli.md`).
//!
//! Thin by design: arguments are parsed and checked here, the work is done by cvlan-schema,
//! cvlan-core and the daemon's local API, and the result is printed as a table or as JSON.

mod cli;
mod controller;
mod docs;
mod live;
mod offline;
mod outcome;
mod output;
mod plan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use cli::{
    ApikeyCommand, AuthkeyCommand, Cli, Command, ControllerCommandArgs, DEFAULT_SOCKET, DnsCommand,
    LiveArgs, NodeCommand, PolicyCommand,
};
use controller::nodes::NodeChange;
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
    let top_controller = cli.controller;
    // A controller command: its target (options after the command win) and output form.
    let admin = |common: &ControllerCommandArgs| {
        controller::target(&top_controller, &common.controller)
            .map(|target| (target, top_json || common.json.json))
    };
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
        Command::Plan(args) if args.controller.is_some() => {
            let json = json(&args.live);
            let address = args
                .controller
                .clone()
                .flatten()
                .or_else(|| top_controller.address.clone())
                .ok_or_else(|| {
                    outcome::Failure::Usage(
                        "plan --controller: give HOST:PORT or set CVLAN_CONTROLLER".to_owned(),
                    )
                })?;
            let target =
                controller::target_at(address, &top_controller, &cli::ControllerArgs::default())?;
            controller::with_admin(&target, |a| async move {
                plan::run_controller(a, &args.file, json).await
            })
        }
        Command::Plan(args) => plan::run_offline(&args, json(&args.live)),
        Command::Apply(args) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| {
                controller::apply::apply(a, &args.file, args.message, json)
            })
        }
        Command::Rollback(args) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| {
                controller::apply::rollback(a, args.id, args.message, json)
            })
        }
        Command::Revisions(common) => {
            let (target, json) = admin(&common)?;
            controller::with_admin(&target, |a| controller::apply::revisions(a, json))
        }
        Command::Nodes(common) => {
            let (target, json) = admin(&common)?;
            controller::with_admin(&target, |a| controller::nodes::list(a, json))
        }
        Command::Node(command) => {
            let (change, args) = match command {
                NodeCommand::Expire(args) => (NodeChange::Expire, args),
                NodeCommand::Delete(args) => (NodeChange::Delete, args),
            };
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| {
                controller::nodes::change(a, change, args.name, json)
            })
        }
        Command::Authkey(AuthkeyCommand::Create(args)) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| {
                controller::keys::create_auth(
                    a,
                    args.tag,
                    args.reusable,
                    args.ephemeral,
                    args.expires,
                    json,
                )
            })
        }
        Command::Authkey(AuthkeyCommand::List(common)) => {
            let (target, json) = admin(&common)?;
            controller::with_admin(&target, |a| controller::keys::list_auth(a, json))
        }
        Command::Authkey(AuthkeyCommand::Revoke(args)) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| controller::keys::revoke_auth(a, args.id, json))
        }
        Command::Apikey(ApikeyCommand::Create(args)) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| {
                controller::keys::create_api(a, args.scope, json)
            })
        }
        Command::Apikey(ApikeyCommand::List(common)) => {
            let (target, json) = admin(&common)?;
            controller::with_admin(&target, |a| controller::keys::list_api(a, json))
        }
        Command::Apikey(ApikeyCommand::Revoke(args)) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| controller::keys::revoke_api(a, args.id, json))
        }
        Command::Audit(args) => {
            let (target, json) = admin(&args.common)?;
            controller::with_admin(&target, |a| async move {
                controller::audit::run(a, args.since.as_deref(), args.format, json).await
            })
        }
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
