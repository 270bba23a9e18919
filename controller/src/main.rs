//! `cvlan-controller --config controller.kdl` runs the controller; `pubkey` prints its public
//! key (creating the key file if needed); `apikey create` bootstraps an API key on the
//! controller host, writing the database directly; `man` prints the man page,
//! cvlan-controller(8), which the packages install.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use cvlan_controller::controller::controller_key;
use cvlan_controller::store::{Actor, Scope};
use cvlan_controller::{Config, ConfigError, ControllerError, open_store};

/// The CloudVLAN controller.
#[derive(Debug, Parser)]
#[command(
    name = "cvlan-controller",
    version,
    about = "The CloudVLAN controller: node registry, auth and API keys, network.kdl revisions, audit log",
    after_help = "Examples:\n  cvlan-controller --config /etc/cloudvlan/controller.kdl\n  \
        cvlan-controller pubkey --config /etc/cloudvlan/controller.kdl   # for `controller public-key=` and hosts\n  \
        cvlan-controller apikey create --config /etc/cloudvlan/controller.kdl --scope admin --json\n\n\
        Logs go to stderr; RUST_LOG sets how much. SIGTERM and SIGINT stop the controller.\n\n\
        Exit codes: 0 success or a clean stop; 1 controller.kdl or network-file is invalid; 2 could not run."
)]
struct Cli {
    /// The controller file: listen address, key file, database, optional network file.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "/etc/cloudvlan/controller.kdl"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the controller's public key (base64), creating the key file if needed.
    Pubkey,
    /// Manage API keys directly in the database (bootstrap on the controller host).
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Print the man page, cvlan-controller(8), as roff (scripts/package installs it).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Create an API key and print it, this once.
    Create {
        /// What the key may do.
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// Print `{"id":…,"key":…}`.
        #[arg(long)]
        json: bool,
    },
}

/// An API key's scope on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// Read state: revisions, nodes, keys, audit.
    Read,
    /// Also change the network: apply, rollback, nodes, auth keys.
    Write,
    /// Also manage API keys.
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Write => Scope::Write,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

/// A failure and the exit code it means.
struct Failure {
    code: u8,
    message: String,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        let code = match e {
            ConfigError::Invalid { .. } => 1,
            ConfigError::Read { .. } => 2,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

impl From<ControllerError> for Failure {
    fn from(e: ControllerError) -> Self {
        let code = match e {
            ControllerError::Seed(cvlan_controller::seed::SeedError::Invalid { .. }) => 1,
            _ => 2,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self {
            code: 2,
            message: format!("cannot write the output: {e}"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Man) = cli.command {
        return finish(man());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = Config::load(&cli.config)
        .map_err(Failure::from)
        .and_then(|config| match cli.command {
            None => run(config),
            Some(Command::Pubkey) => pubkey(&config),
            Some(Command::Apikey {
                command: ApikeyCommand::Create { scope, json },
            }) => apikey_create(&config, scope.into(), json),
            Some(Command::Man) => man(),
        });
    finish(result)
}

/// Reports a failure on stderr and turns the outcome into the exit code.
fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "cvlan-controller: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(config: Config) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: 2,
            message: format!("cannot start the runtime: {e}"),
        })?;
    Ok(runtime.block_on(cvlan_controller::run(config))?)
}

/// Prints the man page (section 8) on stdout.
fn man() -> Result<(), Failure> {
    clap_mangen::Man::new(Cli::command())
        .section("8")
        .render(&mut std::io::stdout().lock())?;
    Ok(())
}

fn pubkey(config: &Config) -> Result<(), Failure> {
    let key = controller_key(config)?;
    writeln!(std::io::stdout().lock(), "{}", key.public_key())?;
    Ok(())
}

fn apikey_create(config: &Config, scope: Scope, json: bool) -> Result<(), Failure> {
    let store = open_store(config)?;
    let by = Actor::local("cvlan-controller apikey create");
    let (info, issued) = store
        .create_api_key(scope, &by, SystemTime::now())
        .map_err(ControllerError::from)?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({"id": info.key.id, "key": issued.reveal()});
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "id:    {}", info.key.id)?;
        writeln!(out, "scope: {}", scope.as_str())?;
        writeln!(out, "key:   {}", issued.reveal())?;
        writeln!(
            out,
            "The key is shown this once and cannot be read back; keep it now (cvlanctl reads it from CVLAN_API_KEY or --api-key-file)."
        )?;
    }
    Ok(())
}
