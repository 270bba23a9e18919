//! Shell completions and the man page, generated from the same clap definitions as parsing.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::outcome::{Answer, Outcome};

/// Prints completions for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "cvlanctl", &mut std::io::stdout());
    Ok(Answer::Yes)
}

/// Prints the man page (roff) on stdout.
pub fn man() -> Outcome {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(Answer::Yes)
}
