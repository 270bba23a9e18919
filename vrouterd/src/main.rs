//! `cvlan-vrouterd --config vrouterd.kdl` runs the vrouter until SIGTERM or SIGINT;
//! `cvlan-vrouterd pubkey --config vrouterd.kdl` prints its public key (creating the key);
//! `cvlan-vrouterd man` prints the man page, cvlan-vrouterd(8), which the packages install.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use cvlan_vrouterd::{Daemon, load_host_config};
use tokio::signal::unix::{SignalKind, signal};

/// The CloudVLAN vrouter: IKEv2 and ESP-in-UDP in userspace, IPsec peers onto a TUN device.
#[derive(Debug, Parser)]
#[command(
    name = "cvlan-vrouterd",
    version,
    after_help = "vrouterd.kdl is cvland.kdl with `vrouter \"NAME\"` in place of `node`:\n\n  \
        vrouter \"dc1-gw\"\n  state-dir \"/var/lib/cloudvlan\"\n  socket \"/run/cloudvlan/vrouterd.sock\"\n  \
        tun \"cvl0\"\n  source \"file\" path=\"/etc/cloudvlan/network.kdl\"\n\n\
        network.kdl is re-read when it changes, on SIGHUP, and on `Reload`. \
        Inspect with `cvlanctl --socket PATH sas`.\n\nExamples:\n  \
        cvlan-vrouterd --config /etc/cloudvlan/vrouterd.kdl\n  \
        cvlan-vrouterd pubkey --config /etc/cloudvlan/vrouterd.kdl"
)]
struct Args {
    /// The host file (vrouterd.kdl).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Something other than running the daemon.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print this vrouter's WireGuard public key (created in the state dir on first use),
    /// for network.kdl's `public-key`.
    Pubkey,
    /// Print the man page, cvlan-vrouterd(8), as roff (scripts/package installs it).
    #[command(hide = true)]
    Man,
}

fn main() -> miette::Result<()> {
    cvlan_agent::memory::limit_arenas();
    let args = Args::parse();
    if let Some(Command::Man) = args.command {
        let page = clap_mangen::Man::new(Args::command()).section("8");
        return page
            .render(&mut std::io::stdout().lock())
            .map_err(|e| miette::miette!("cannot write the man page: {e}"));
    }
    let config = args
        .config
        .ok_or_else(|| miette::miette!("--config vrouterd.kdl is required"))?;
    if let Some(Command::Pubkey) = args.command {
        let host = load_host_config(&config)?;
        let key = cvlan_agent::keys::node_key(&host.config.state_dir)
            .map_err(|e| miette::miette!("{e}"))?
            .public_key();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", key.to_base64()).map_err(|e| miette::miette!("{e}"))?;
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let host = load_host_config(&config)?;
        let daemon = Daemon::start(host).await?;
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| miette::miette!("cannot handle SIGTERM: {e}"))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| miette::miette!("cannot handle SIGINT: {e}"))?;
        daemon
            .serve(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await?;
        Ok(())
    })
}
