//! `cvtui`: parses the command line, takes over the terminal (restoring it on exit, on
//! panic, and on SIGTERM or SIGHUP), and runs the dashboard.

use std::io::IsTerminal;

use clap::{CommandFactory, Parser};
use cvtui::cli::Cli;
use miette::{IntoDiagnostic, miette};

/// Gives the terminal back (raw mode off, main screen) however `main` ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Makes a panic anywhere (also in a background task, which tokio would otherwise survive)
/// end the process after ratatui's hook has restored the terminal and printed the panic: a
/// dashboard drawing over a restored terminal would help nobody.
fn exit_on_panic() {
    let restore_and_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_and_print(info);
        std::process::exit(101);
    }));
}

fn main() -> miette::Result<()> {
    let cli = Cli::parse();
    if cli.man {
        return clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout().lock())
            .into_diagnostic();
    }
    if !std::io::stdout().is_terminal() {
        return Err(miette!(
            help = "cvlanctl gives the same facts as tables or JSON for scripts",
            "cvtui draws a dashboard and needs a terminal on stdout"
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()?;
    // try_init installs a panic hook that restores the terminal before the panic is printed.
    let mut terminal = ratatui::try_init().into_diagnostic()?;
    exit_on_panic();
    let restore = Restore;
    let result = runtime.block_on(cvtui::run::run(&mut terminal, cli.socket));
    drop(restore);
    // The key reader thread may be blocked in a read; it ends with the process.
    runtime.shutdown_background();
    result.into_diagnostic()
}
