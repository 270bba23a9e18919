//! `cvland --config cvland.kdl` runs the host daemon; `cvland pubkey --config cvland.kdl`
//! prints (creating it if needed) this host's WireGuard public key for network.kdl;
//! `cvland man` prints the man page, cvland(8), which the packages install.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use cvlan_agent::{Host, HostError, Role};

/// The CloudVLAN host daemon.
#[derive(Debug, Parser)]
#[command(
    name = "cvland",
    version,
    about = "The CloudVLAN host daemon: follows network.kdl and keeps this host's mesh in line with it",
    after_help = "Examples:\n  cvland --config /etc/cloudvlan/cvland.kdl\n  \
        cvland pubkey --config /etc/cloudvlan/cvland.kdl   # paste into network.kdl\n\n\
        Logs go to stderr; RUST_LOG (e.g. RUST_LOG=cvland=debug) sets how much. SIGHUP re-reads \
        the source; SIGTERM and SIGINT stop the daemon (the TUN and the socket are removed).\n\n\
        Exit codes: 0 stopped cleanly; 1 cvland.kdl is invalid; 2 could not run."
)]
struct Cli {
    /// The host file: which node this is and where its desired state comes from.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "/etc/cloudvlan/cvland.kdl"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print this host's WireGuard public key (base64), creating the key if needed.
    Pubkey,
    /// Print the man page, cvland(8), as roff (scripts/package installs it; `man cvland`).
    #[command(hide = true)]
    Man,
}

fn main() -> ExitCode {
    cvlan_agent::memory::limit_arenas();
    let cli = Cli::parse();
    let pubkey_only = match cli.command {
        Some(Command::Man) => return man(),
        Some(Command::Pubkey) => true,
        None => false,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match Host::load(&cli.config, Role::Node) {
        Ok(config) => config,
        Err(e) => {
            let code = match e {
                HostError::Invalid { .. } => 1,
                _ => 2,
            };
            fail(&e.to_string());
            return ExitCode::from(code);
        }
    };
    if pubkey_only {
        pubkey(&config)
    } else {
        run(config)
    }
}

/// Prints the man page (section 8) on stdout.
fn man() -> ExitCode {
    let page = clap_mangen::Man::new(Cli::command()).section("8");
    match page.render(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fail(&format!("cannot write the man page: {e}"));
            ExitCode::from(2)
        }
    }
}

fn pubkey(host: &Host) -> ExitCode {
    match cvlan_agent::keys::node_key(&host.config.state_dir) {
        Ok(key) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{}", key.public_key()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(2),
            }
        }
        Err(e) => {
            fail(&e.to_string());
            ExitCode::from(2)
        }
    }
}

fn run(config: Host) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            fail(&format!("cannot start the runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(cvland::daemon::run(config));
    // Open local-API streams were given their grace; do not wait for their tasks.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fail(&e.to_string());
            ExitCode::from(2)
        }
    }
}

/// Reports a fatal error on stderr (also when logging is filtered out).
fn fail(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "cvland: {message}");
}
