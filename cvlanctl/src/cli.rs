//! The command line, declared once: parsing, `--help`, the man page and shell completions
//! all come from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The socket a local cvland listens on unless cvland.kdl says otherwise.
pub const DEFAULT_SOCKET: &str = cvlan_schema::host::DEFAULT_SOCKET;

/// cvlanctl: check, format and explain network.kdl files, and inspect a running node.
#[derive(Debug, Parser)]
#[command(
    name = "cvlanctl",
    version,
    about = "Check, format and explain network.kdl; inspect a running CloudVLAN node",
    long_about = "cvlanctl is the operator's and the script's interface to CloudVLAN.\n\n\
        Offline commands (check, fmt, addresses, plan, policy explain --file) read network.kdl \
        files and need no daemon. Live commands (status, peers, ping, whois, events, policy, dns, \
        sas) ask the local cvland (or cvlan-vrouterd) over its Unix socket. Controller commands \
        (apply, plan --controller, revisions, rollback, nodes, node, authkey, apikey, audit) ask \
        cvlan-controller at --controller HOST:PORT ($CVLAN_CONTROLLER), whose key is \
        --controller-key ($CVLAN_CONTROLLER_KEY), with the API key in --api-key-file or \
        $CVLAN_API_KEY.\n\n\
        Every table is also available as one JSON document with --json.\n\n\
        Exit codes: 0 success; 1 the answer is \"no\" (invalid file, failing policy-test, \
        fmt --check would change a file, ping got no reply, explain --exit-code rejected); \
        2 could not run (usage, file not found, daemon not reachable).",
    after_help = "Examples:\n  \
        cvlanctl check network.kdl\n  \
        cvlanctl policy explain --file network.kdl --from laptop-alice --to db-1 --port 5432/tcp\n  \
        cvlanctl status\n  \
        cvlanctl policy hits --watch\n  \
        cvlanctl --socket /run/cvlan-lab/ab12cd/alpha/cvland.sock peers --json\n  \
        cvlanctl --controller ctl.acme.example:7443 nodes --json"
)]
pub struct Cli {
    /// The local API socket of the daemon to ask (live commands; also accepted after the
    /// command) [default: /run/cloudvlan/cvland.sock].
    #[arg(long, env = "CVLAN_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print one JSON document on stdout instead of a table (also accepted after the command).
    #[arg(long)]
    pub json: bool,

    /// The controller (admin commands; also accepted after the command).
    #[command(flatten)]
    pub controller: TopControllerArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate network.kdl and host files, and run the policy-tests.
    #[command(after_help = "Human diagnostics go to stderr; --format json prints\n\
        {\"ok\":bool,\"diagnostics\":[…],\"tests\":{\"passed\":N,\"failed\":N}} on stdout.\n\
        A host file (cvland.kdl, vrouterd.kdl, or any file whose top level is a `node` or \
        `vrouter` with `state-dir`/`source`) is checked as one.\n\n\
        Examples:\n  cvlanctl check network.kdl\n  cvlanctl check /etc/cloudvlan/cvland.kdl\n  \
        cvlanctl check --format json examples/*.kdl | jq '.diagnostics[].code'")]
    Check(CheckArgs),

    /// Rewrite network.kdl files in canonical form, keeping comments.
    #[command(after_help = "Examples:\n  cvlanctl fmt network.kdl\n  \
        cvlanctl fmt --check network.kdl   # exit 1 and name the file when it would change")]
    Fmt(FmtArgs),

    /// The overlay address every node and vrouter of a network gets.
    #[command(
        after_help = "Pinned addresses are kept; every other name gets an address derived \
        from its name, the same on every host.\n\nExample:\n  cvlanctl addresses --file network.kdl --json"
    )]
    Addresses(AddressesArgs),

    /// What a network file would change: per node against another file, or on the running node.
    #[command(
        after_help = "Without --against, every node and vrouter joins (nothing runs yet).\n\
        With --daemon, the local cvland plans the file against what it runs and changes nothing.\n\
        Exit code 1 when a file is invalid (nothing is planned then).\n\n\
        Examples:\n  cvlanctl plan --file new.kdl --against network.kdl\n  \
        cvlanctl plan --file network.kdl --daemon --json | jq '.members[].actions[].line'"
    )]
    Plan(PlanArgs),

    /// Policy: explain a verdict, show hit counters, run policy-tests.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// This node: name, addresses, key, source and revision, last apply, peers, uptime.
    #[command(after_help = "Example:\n  cvlanctl status --json | jq .revision")]
    Status(LiveArgs),

    /// One row per peer: addresses, key, endpoint, path, last handshake, traffic, latency.
    #[command(
        after_help = "Example:\n  cvlanctl peers\n  cvlanctl peers --json | jq '.peers[] | select(.path == \"direct\")'"
    )]
    Peers(LiveArgs),

    /// Ping a node through the tunnel and show the round-trip time and path taken.
    #[command(
        after_help = "Exit code 1 when no probe got a reply.\n\nExample:\n  cvlanctl ping db-1 -c 3"
    )]
    Ping(PingArgs),

    /// Which node, vrouter, routed prefix or ipsec peer owns an overlay address.
    #[command(after_help = "Example:\n  cvlanctl whois 100.64.0.10")]
    Whois(WhoisArgs),

    /// A vrouter's IPsec SAs (IKE and child), like `swanctl --list-sas`, and its counters.
    #[command(
        after_help = "Asks a cvlan-vrouterd. Each IKE SA with its peer, state, SPIs (ours marked *),         identities, algorithms and times, then its child SAs with SPIs, traffic each way and         selectors; last, the IKE/ESP counters and the datagrams dropped by reason.

        Examples:
  cvlanctl --socket /run/cloudvlan/vrouterd.sock sas
          cvlanctl sas --peer branch-17 --json | jq '.sas[].children[].bytes_in'"
    )]
    Sas(SasArgs),

    /// The node's resolver for overlay names.
    #[command(subcommand)]
    Dns(DnsCommand),

    /// The daemon's events: applies, rejections, peers, handshakes.
    #[command(
        after_help = "Without --follow, prints the buffered events and exits.\n\n\
        Example:\n  cvlanctl events --follow --kind peer"
    )]
    Events(EventsArgs),

    /// Commit a network.kdl as the controller's new revision (validated, policy-tests run).
    #[command(
        after_help = "Refused (exit 1, nothing changes on any node) when the file is \
        invalid or a policy-test fails; the diagnostics are those of `check`.\n\
        JSON: {\"ok\":bool,\"changed\":bool,\"revision\":\"ID\",\"diagnostics\":[…],\
        \"tests\":{\"passed\":N,\"failed\":N}}\n\n\
        Example:\n  CVLAN_API_KEY=$(cat admin.key) cvlanctl --controller ctl:7443 \
        --controller-key \"$(cvlan-controller pubkey --config controller.kdl)\" \
        apply --file network.kdl --message \"add db-2\""
    )]
    Apply(ApplyArgs),

    /// The controller's network.kdl revisions, newest first.
    #[command(after_help = "Example:\n  cvlanctl revisions --json | jq '.revisions[0].id'")]
    Revisions(ControllerCommandArgs),

    /// Commit an old revision's file again, as a new revision.
    #[command(after_help = "Prints what `apply` prints.\n\nExample:\n  cvlanctl rollback 3")]
    Rollback(RollbackArgs),

    /// The nodes the controller knows: addresses, key, online, last seen, endpoints, expiry.
    #[command(
        after_help = "Example:\n  cvlanctl nodes --json | jq '.nodes[] | select(.online | not) | .name'"
    )]
    Nodes(ControllerCommandArgs),

    /// Expire or delete a node: its peers get a netmap without it.
    #[command(subcommand)]
    Node(NodeCommand),

    /// Auth keys nodes register with.
    #[command(subcommand)]
    Authkey(AuthkeyCommand),

    /// API keys for cvlanctl and scripts (scopes read, write, admin).
    #[command(subcommand)]
    Apikey(ApikeyCommand),

    /// The controller's audit log: who changed what, when, from where.
    #[command(after_help = "Examples:\n  cvlanctl audit --since 1h\n  \
        cvlanctl audit --since 2026-12-01T00:00:00Z --format csv > audit.csv")]
    Audit(AuditArgs),

    /// Print shell completions.
    #[command(
        after_help = "Example:\n  cvlanctl completions bash > /etc/bash_completion.d/cvlanctl"
    )]
    Completions(CompletionsArgs),

    /// Print the man page (roff).
    #[command(after_help = "Example:\n  cvlanctl man | man -l -")]
    Man,
}

/// `--socket` of a command that asks a daemon.
#[derive(Debug, Args)]
pub struct SocketArg {
    /// The daemon's local API socket [default: $CVLAN_SOCKET, else /run/cloudvlan/cvland.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// `--json` of a command that prints a table.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What every live command takes: the socket and the output form.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The socket.
    #[command(flatten)]
    pub socket: SocketArg,
    /// The output form.
    #[command(flatten)]
    pub json: JsonArg,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format: miette's report on stderr, or one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// The same as --format json.
    #[arg(long, hide = true)]
    pub json: bool,

    /// The files to check: network.kdl files (each a whole network) or host files
    /// (cvland.kdl, vrouterd.kdl).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Graphical diagnostics on stderr.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// `fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Change nothing; exit 1 and name each file that is not in canonical form.
    #[arg(long)]
    pub check: bool,

    /// The files to format in place.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `addresses`.
#[derive(Debug, Args)]
pub struct AddressesArgs {
    /// The network.kdl file.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,

    /// The output form.
    #[command(flatten)]
    pub json: JsonArg,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The network.kdl whose changes to show.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,

    /// Plan against this network.kdl (what runs now).
    #[arg(long, value_name = "FILE2", conflicts_with = "daemon")]
    pub against: Option<PathBuf>,

    /// Plan against what the local cvland runs (asks it over --socket).
    #[arg(long, conflicts_with = "controller")]
    pub daemon: bool,

    /// Plan against the controller's running revision (HOST:PORT here, or from the
    /// top-level --controller or $CVLAN_CONTROLLER).
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, conflicts_with = "against")]
    pub controller: Option<Option<String>>,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `dns …`.
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// The resolver's listen address, domain and record count, and how the host reaches it.
    #[command(
        after_help = "cvland answers for NODE.DOMAIN (A, AAAA) and PTR of overlay addresses, \
        for this node and the peers it may see, and refuses every other name. With \
        systemd-resolved the TUN link gets the resolver and ~DOMAIN; otherwise the output says \
        what to add to the host's resolver.\n\
        Exit code 0 whenever the daemon answered (also when no resolver runs).\n\n\
        Examples:\n  cvlanctl dns status\n  cvlanctl dns status --json | jq .listen"
    )]
    Status(LiveArgs),
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Which rule decides a packet, and why each selector matched.
    #[command(
        after_help = "X and Y are node or vrouter names or addresses; SPEC is N/tcp, \
        N/udp or icmp. With --file, the file's policy is evaluated offline; without it, the \
        running node's policy (same output).\n\nExamples:\n  \
        cvlanctl policy explain --file network.kdl --from laptop-alice --to db-1 --port 5432/tcp\n  \
        cvlanctl policy explain --from laptop-alice --to db-1 --port 22/tcp --json"
    )]
    Explain(ExplainArgs),

    /// Packets and bytes per rule and default-deny, in and out, on the running node.
    #[command(
        after_help = "Packets of a flow count against the rule that allowed it, in the \
        direction they travel; denied packets against the deny rule or default-deny.\n\
        With --watch --json, one JSON document per line per snapshot.\n\nExamples:\n  \
        cvlanctl policy hits\n  cvlanctl policy hits --watch --json | jq '.rules[0]'"
    )]
    Hits(HitsArgs),

    /// Run policy-tests against the running node's policy.
    #[command(
        after_help = "Without --file, the tests of the node's own network.kdl; with it, the \
        tests of that file (its rules are ignored: the running rules decide). Exit code 1 \
        when a test fails.\n\nExample:\n  cvlanctl policy test --file candidate.kdl --json"
    )]
    Test(TestArgs),
}

/// `policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The network.kdl whose policy is evaluated; without it, ask the running node.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The sender: a node or vrouter name, or an address.
    #[arg(long, value_name = "X")]
    pub from: String,

    /// The receiver: a node or vrouter name, or an address.
    #[arg(long, value_name = "Y")]
    pub to: String,

    /// The destination: N/tcp, N/udp or icmp.
    #[arg(long, value_name = "SPEC")]
    pub port: String,

    /// Exit 1 when the verdict is reject.
    #[arg(long)]
    pub exit_code: bool,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `policy hits`.
#[derive(Debug, Args)]
pub struct HitsArgs {
    /// Keep printing a fresh snapshot every interval.
    #[arg(short, long)]
    pub watch: bool,

    /// How often --watch prints, in milliseconds (at least 100).
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..))]
    pub interval_ms: u64,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `policy test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Run the policy-tests of this file instead of the node's own.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// A node or vrouter name, or an overlay address.
    pub node: String,

    /// How many probes to send.
    #[arg(short = 'c', long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `whois`.
#[derive(Debug, Args)]
pub struct WhoisArgs {
    /// An overlay address (IPv4 or IPv6).
    pub address: String,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `sas`.
#[derive(Debug, Args)]
pub struct SasArgs {
    /// Only this ipsec peer's SAs.
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing new events as they happen.
    #[arg(short, long)]
    pub follow: bool,

    /// Only events of these kinds (`peer` selects `peer.added`, `peer.handshake`, …).
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<String>,

    /// How many buffered events to show first.
    #[arg(long, default_value_t = 100)]
    pub last: u32,

    /// The socket and output form.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// The controller options before the command: `--controller`, `--controller-key` and the API
/// key, each also read from the environment.
#[derive(Debug, Args, Default)]
pub struct TopControllerArgs {
    /// The controller's HOST:PORT.
    #[arg(
        long = "controller",
        env = "CVLAN_CONTROLLER",
        value_name = "HOST:PORT"
    )]
    pub address: Option<String>,

    /// The controller's public key, as `cvlan-controller pubkey` prints it.
    #[arg(long, env = "CVLAN_CONTROLLER_KEY", value_name = "BASE64")]
    pub controller_key: Option<String>,

    /// A file holding the API key [default: $CVLAN_API_KEY].
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
}

/// The controller options after the command (they win over those before it).
#[derive(Debug, Args, Default)]
pub struct ControllerArgs {
    /// The controller's HOST:PORT [default: $CVLAN_CONTROLLER].
    #[arg(long = "controller", value_name = "HOST:PORT")]
    pub address: Option<String>,

    /// The controller's public key [default: $CVLAN_CONTROLLER_KEY].
    #[arg(long, value_name = "BASE64")]
    pub controller_key: Option<String>,

    /// A file holding the API key [default: $CVLAN_API_KEY].
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
}

/// What every controller command takes: where the controller is, and the output form.
#[derive(Debug, Args)]
pub struct ControllerCommandArgs {
    /// The controller.
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// The output form.
    #[command(flatten)]
    pub json: JsonArg,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The network.kdl to commit.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,

    /// Why; recorded with the revision.
    #[arg(long, short, value_name = "M", default_value = "")]
    pub message: String,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The revision whose file to commit again.
    #[arg(value_name = "ID")]
    pub id: u64,

    /// Why; recorded with the new revision.
    #[arg(long, short, value_name = "M", default_value = "")]
    pub message: String,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Expire a node's key now: it is cut off until it registers again with an auth key.
    #[command(
        after_help = "Prints the node after the change.\n\nExample:\n  cvlanctl node expire laptop-alice"
    )]
    Expire(NodeNameArgs),
    /// Forget a node's registration: its peers drop it; it must register again.
    #[command(
        after_help = "Prints the node as it was.\n\nExample:\n  cvlanctl node delete old-host"
    )]
    Delete(NodeNameArgs),
}

/// `node expire|delete NAME`.
#[derive(Debug, Args)]
pub struct NodeNameArgs {
    /// The node's name.
    pub name: String,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `authkey …`.
#[derive(Debug, Subcommand)]
pub enum AuthkeyCommand {
    /// Create an auth key; the key is printed this once.
    #[command(
        after_help = "JSON: {\"id\",\"key\",\"reusable\",\"ephemeral\",\"expires\"}\n\n\
        Example:\n  cvlanctl authkey create --tag server --expires 24h --json | jq -r .key > auth-key"
    )]
    Create(AuthkeyCreateArgs),
    /// The auth keys (never the keys themselves).
    List(ControllerCommandArgs),
    /// Revoke an auth key: no node registers with it any more.
    Revoke(KeyIdArgs),
}

/// `authkey create`.
#[derive(Debug, Args)]
pub struct AuthkeyCreateArgs {
    /// A tag for the nodes it registers (repeatable).
    #[arg(long, value_name = "T")]
    pub tag: Vec<String>,

    /// It may register more than one node.
    #[arg(long)]
    pub reusable: bool,

    /// The nodes it registers are ephemeral.
    #[arg(long)]
    pub ephemeral: bool,

    /// Its lifetime (24h, 30m, 7d); without it, it does not expire.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires: Option<std::time::Duration>,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `authkey revoke ID`, `apikey revoke ID`.
#[derive(Debug, Args)]
pub struct KeyIdArgs {
    /// The key's id (from `list`).
    pub id: String,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `apikey …`.
#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key; the key is printed this once.
    #[command(after_help = "JSON: {\"id\",\"key\",\"scope\"}\n\n\
        Example:\n  cvlanctl apikey create --scope read --json | jq -r .key > ci.key")]
    Create(ApikeyCreateArgs),
    /// The API keys (never the keys themselves).
    List(ControllerCommandArgs),
    /// Revoke an API key.
    Revoke(KeyIdArgs),
}

/// `apikey create`.
#[derive(Debug, Args)]
pub struct ApikeyCreateArgs {
    /// What it may do: read (lists), write (apply, rollback, keys for nodes), admin (API keys).
    #[arg(long, value_enum)]
    pub scope: Scope,

    /// The controller and output form.
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// An API key's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// Read: revisions, nodes, keys, audit.
    Read,
    /// Write: apply, rollback, node expire/delete, auth keys.
    Write,
    /// Admin: everything, API keys too.
    Admin,
}

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Entries since a duration ago (1h, 7d) or an RFC 3339 time.
    #[arg(long, value_name = "1h|RFC3339")]
    pub since: Option<String>,

    /// Print the entries as JSON or CSV instead of a table.
    #[arg(long, value_enum)]
    pub format: Option<AuditFormat>,

    /// The controller and output form (--json is --format json).
    #[command(flatten)]
    pub common: ControllerCommandArgs,
}

/// `audit --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// `{"entries":[…]}`.
    Json,
    /// One header line, then one line per entry.
    Csv,
}
