//! cvlan-mesh-node: runs one mesh device from command-line flags.
//!
//! A small driver for namespace tests, wireguard-go interop and the data-plane benchmark until
//! cvland drives the mesh from network.kdl. `run` brings the device up, prints `ready port=N`,
//! prints peer counters (and policy hits, with `--policy`) on SIGUSR1 and shuts down (removing
//! the TUN) on SIGTERM or SIGINT. `--policy network.kdl --node NAME` enforces that node's
//! compiled policy with the stateful filter.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use cvlan_mesh::device::{MeshConfig, MeshDevice, MeshStats};
use cvlan_mesh::firewall::{FilterConfig, PolicyFilter};
use cvlan_mesh::{PacketFilter, PassAll, PeerConfig, PrivateKey, PublicKey};
use ipnet::IpNet;
use tokio::signal::unix::{SignalKind, signal};

/// Run a CloudVLAN mesh device by hand.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a new private key (base64), like `wg genkey`.
    Genkey,
    /// Read a private key on stdin and print its public key, like `wg pubkey`.
    Pubkey,
    /// Bring up a device and run until SIGTERM.
    ///
    /// Example: cvlan-mesh-node run --key-file a.key --tun cvl0 --address 100.64.0.1/24
    ///   --listen-port 51820 --peer 'PUBKEY;allowed=100.64.0.2/32;endpoint=10.0.0.2:51820'
    Run(RunArgs),
    /// Send a bounded flood of handshake initiations (valid MAC1, unknown keys) and garbage to
    /// a mesh node, for bad-input tests. Prints `flood sent=N`.
    Flood(FloodArgs),
}

#[derive(clap::Args)]
struct FloodArgs {
    /// Where the node listens.
    #[arg(long)]
    target: SocketAddr,
    /// The node's public key (initiations must carry a valid MAC1 for it).
    #[arg(long)]
    public_key: PublicKey,
    /// Distinct strangers (fresh keys) whose initiations are replayed round-robin.
    #[arg(long, default_value_t = 256)]
    strangers: u32,
    /// How long to flood.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// File holding the base64 private key (as written by `genkey` or `wg genkey`).
    #[arg(long)]
    key_file: PathBuf,
    /// TUN interface name.
    #[arg(long, default_value = "cvl0")]
    tun: String,
    /// Overlay address with the overlay prefix length; repeat for several.
    #[arg(long = "address", required = true)]
    addresses: Vec<IpNet>,
    /// UDP listen port (0: any).
    #[arg(long, default_value_t = 51820)]
    listen_port: u16,
    /// TUN MTU.
    #[arg(long, default_value_t = cvlan_mesh::device::DEFAULT_MTU)]
    mtu: u16,
    /// Disable TUN offloads and UDP GSO (one packet per syscall).
    #[arg(long)]
    no_offload: bool,
    /// A peer: `PUBKEY;allowed=CIDR[,CIDR...][;endpoint=IP:PORT][;keepalive=SECONDS]`.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Also configure this many random peers (for memory measurements); their endpoints are
    /// in 192.0.2.0/24 (documentation range), so nothing reaches them.
    #[arg(long, default_value_t = 0)]
    synthetic_peers: u32,
    /// Give synthetic peers a 25 s keepalive, so each gets a live tunnel (worst-case memory).
    #[arg(long)]
    synthetic_active: bool,
    /// Enforce the policy of this network.kdl for `--node` with the stateful filter.
    #[arg(long, requires = "node", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// This node's name in the `--policy` file.
    #[arg(long, requires = "policy", value_name = "NAME")]
    node: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Cmd::Genkey => say(&PrivateKey::generate().to_base64()),
        Cmd::Pubkey => {
            let mut text = String::new();
            std::io::stdin().read_line(&mut text)?;
            say(&PrivateKey::from_base64(&text)?.public_key().to_base64())
        }
        Cmd::Run(args) => run(args).await,
        Cmd::Flood(args) => flood(args).await,
    }
}

async fn flood(args: FloodArgs) -> anyhow::Result<()> {
    let now = std::time::Instant::now();
    let victim =
        PeerConfig::new(args.public_key, ["0.0.0.0/0".parse()?]).with_endpoint(args.target);
    let mut messages = Vec::new();
    for i in 0..args.strangers {
        let mut stranger = cvlan_mesh::Engine::new(PrivateKey::generate(), now);
        stranger.set_peers(vec![victim.clone()])?;
        stranger.handle_tun_packet(now, &probe_packet());
        let mut init = Vec::new();
        if stranger.poll_transmit(&mut init, 1).is_some() {
            messages.push(init);
        }
        messages.push(format!("garbage {i}").into_bytes());
    }
    let bind = if args.target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.seconds);
    let mut sent = 0u64;
    while tokio::time::Instant::now() < deadline {
        for message in &messages {
            // A full socket buffer just drops: keep going until the deadline.
            if socket.send_to(message, args.target).await.is_ok() {
                sent += 1;
            }
        }
    }
    say(&format!("flood sent={sent}"))
}

/// A minimal IPv4 packet that makes an engine start a handshake.
fn probe_packet() -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[3] = 20;
    p[8] = 64;
    p[12..16].copy_from_slice(&[100, 64, 0, 254]);
    p[16..20].copy_from_slice(&[100, 64, 0, 1]);
    p
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let key_text = std::fs::read_to_string(&args.key_file)
        .with_context(|| format!("reading {}", args.key_file.display()))?;
    let key = PrivateKey::from_base64(&key_text).context("key file")?;
    let mut peers = args
        .peers
        .iter()
        .map(|s| parse_peer(s).with_context(|| format!("--peer {s}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    peers.extend((0..args.synthetic_peers).map(|i| {
        let peer = synthetic_peer(i);
        if args.synthetic_active {
            peer.with_keepalive(25)
        } else {
            peer
        }
    }));
    let mut config = MeshConfig::new(key, args.tun, args.addresses);
    config.listen_port = args.listen_port;
    config.mtu = args.mtu;
    config.offload = !args.no_offload;
    match (&args.policy, &args.node) {
        (Some(file), Some(node)) => {
            let filter = load_policy(file, node)?;
            let device = MeshDevice::start_with_filter(config, filter).await?;
            serve(device, peers, hits_text).await
        }
        _ => {
            serve(
                MeshDevice::start(config).await?,
                peers,
                |_: &mut PassAll| String::new(),
            )
            .await
        }
    }
}

/// The stateful filter with `node`'s compiled policy from `file`.
fn load_policy(file: &std::path::Path, node: &str) -> anyhow::Result<PolicyFilter> {
    let checked = cvlan_schema::load_network(file)?;
    let Some(network) = checked.network else {
        let first = checked.diagnostics.first().map(|d| d.message.clone());
        bail!(
            "{} is invalid: {}",
            file.display(),
            first.unwrap_or_default()
        );
    };
    let allocation = cvlan_core::allocate(&network);
    let map = cvlan_core::netmap::netmap_for(&network, &allocation, node)?;
    let policy = cvlan_core::policy::compiled::CompiledPolicy::from_netmap(&map);
    let mut filter = PolicyFilter::new(FilterConfig::default());
    filter.set_policy(std::sync::Arc::new(policy));
    Ok(filter)
}

/// One line per rule with traffic: `hits NAME in=PACKETS/BYTES out=PACKETS/BYTES`.
fn hits_text(filter: &mut PolicyFilter) -> String {
    filter
        .hits()
        .iter()
        .filter(|h| h.inbound.packets + h.outbound.packets > 0)
        .map(|h| {
            format!(
                "\nhits {} in={}/{} out={}/{}",
                h.name, h.inbound.packets, h.inbound.bytes, h.outbound.packets, h.outbound.bytes
            )
        })
        .collect()
}

/// Configures the peers, reports readiness, and runs until SIGTERM or SIGINT; on SIGUSR1
/// prints the counters and what `describe` says about the filter.
async fn serve<F: PacketFilter>(
    device: MeshDevice<F>,
    peers: Vec<PeerConfig>,
    describe: fn(&mut F) -> String,
) -> anyhow::Result<()> {
    let handle = device.handle();
    handle.set_peers(peers).await?;
    say(&format!("ready port={}", handle.listen_port()))?;

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                handle.update_filter(move |f| { let _ = tx.send(describe(f)); }).await?;
                let extra = rx.await.unwrap_or_default();
                print_stats(&handle.stats().await?, &extra)?;
            }
        }
    }
    device.shutdown().await?;
    Ok(())
}

fn parse_peer(spec: &str) -> anyhow::Result<PeerConfig> {
    let mut parts = spec.split(';');
    let key: PublicKey = parts.next().unwrap_or_default().trim().parse()?;
    let mut peer = PeerConfig::new(key, []);
    for part in parts {
        let Some((name, value)) = part.split_once('=') else {
            bail!("expected name=value, got {part:?}");
        };
        match name.trim() {
            "allowed" => {
                for net in value.split(',') {
                    peer.allowed_ips.push(net.trim().parse()?);
                }
            }
            "endpoint" => peer.endpoint = Some(value.trim().parse::<SocketAddr>()?),
            "keepalive" => peer.persistent_keepalive = Some(value.trim().parse()?),
            other => bail!("unknown peer field {other:?} (allowed, endpoint, keepalive)"),
        }
    }
    Ok(peer)
}

/// A random peer in 10.128.0.0/9 with a documentation-range endpoint.
fn synthetic_peer(i: u32) -> PeerConfig {
    let addr = std::net::Ipv4Addr::from(0x0a80_0000 + i);
    let endpoint = SocketAddr::from(([192, 0, 2, (i % 254 + 1) as u8], 51820));
    PeerConfig::new(
        PrivateKey::generate().public_key(),
        [IpNet::from(std::net::IpAddr::V4(addr))],
    )
    .with_endpoint(endpoint)
}

fn print_stats(stats: &MeshStats, extra: &str) -> anyhow::Result<()> {
    let mut out = format!(
        "stats peers={} drops={}",
        stats.peers.len(),
        stats.engine.drops.total()
    );
    for (reason, n) in stats.engine.drops.iter().filter(|(_, n)| *n > 0) {
        out.push_str(&format!(" {reason}={n}"));
    }
    for p in &stats.peers {
        out.push_str(&format!(
            "\npeer {} endpoint={} handshakes={} rx_packets={} tx_packets={} rx_bytes={} tx_bytes={}",
            p.public_key,
            p.endpoint.map_or("-".to_owned(), |e| e.to_string()),
            p.handshakes,
            p.rx_packets,
            p.tx_packets,
            p.rx_bytes,
            p.tx_bytes
        ));
    }
    out.push_str(extra);
    say(&out)
}

/// Writes one line to stdout and flushes it (tests wait for these lines).
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
