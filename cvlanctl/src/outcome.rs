//! How a command ends: the answer (exit 0 or 1) or a reason it could not run (exit 2), as
//! `cli.md` fixes them for every command.

use std::path::PathBuf;
use std::process::ExitCode;

/// The answer a command gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Success: exit 0.
    Yes,
    /// The answer is "no" (invalid file, failing test, no reply…): exit 1.
    No,
}

impl Answer {
    /// `Yes` when `ok`, else `No`.
    pub fn from_ok(ok: bool) -> Self {
        if ok { Answer::Yes } else { Answer::No }
    }

    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Answer::Yes => ExitCode::SUCCESS,
            Answer::No => ExitCode::from(1),
        }
    }
}

/// Why a command could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A bad argument value.
    #[error("{0}")]
    Usage(String),
    /// The daemon could not be reached.
    #[error(transparent)]
    Connect(#[from] cvlan_proto::local::ConnectError),
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(String),
    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<cvlan_schema::LoadError> for Failure {
    fn from(err: cvlan_schema::LoadError) -> Self {
        match err {
            cvlan_schema::LoadError::Read { path, source } => Failure::Read { path, source },
        }
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        let message = match status.code() {
            tonic::Code::Unimplemented => "this daemon does not serve that request".to_owned(),
            tonic::Code::Unavailable => {
                format!("the daemon is not reachable: {}", status.message())
            }
            _ => status.message().to_owned(),
        };
        Failure::Daemon(message)
    }
}

/// The result of running one command.
pub type Outcome = Result<Answer, Failure>;
