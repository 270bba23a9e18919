//! What an apply attempt came to, as status shows it and a Reload caller is told.

use std::time::SystemTime;

use cvlan_schema::report::JsonDiagnostic;

/// How an apply attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This revision now runs.
    Applied,
    /// Valid and identical to what runs: nothing to do.
    Unchanged,
    /// Invalid (the diagnostics say why); the previous state keeps running.
    Rejected,
    /// Valid, but it could not be carried out (or the source could not be read); the previous
    /// state keeps running.
    Failed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Rejected,
        Outcome::Failed,
    ];

    /// The outcome's name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }

    /// Its place in [`Outcome::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One apply attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    /// How it ended.
    pub outcome: Outcome,
    /// The revision attempted (empty when the source could not be read).
    pub revision: String,
    /// When it ended.
    pub time: SystemTime,
    /// One line for people.
    pub message: String,
    /// The diagnostics of the files (errors when rejected, warnings otherwise).
    pub diagnostics: Vec<JsonDiagnostic>,
    /// How many plan actions ran.
    pub actions: u32,
}

impl ApplyResult {
    /// The result of an attempt that ends now.
    pub fn now(
        outcome: Outcome,
        revision: &str,
        message: String,
        diagnostics: Vec<JsonDiagnostic>,
        actions: u32,
    ) -> Self {
        Self {
            outcome,
            revision: revision.to_owned(),
            time: SystemTime::now(),
            message,
            diagnostics,
            actions,
        }
    }

    /// True when this revision was decided for good: it runs, or it is invalid.
    pub fn is_decided(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Applied | Outcome::Unchanged | Outcome::Rejected
        )
    }
}

/// Why a reading cannot become a desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// [`Outcome::Rejected`] for an invalid file, [`Outcome::Failed`] for one that is valid but
    /// cannot be used now (a secret that cannot be read).
    pub outcome: Outcome,
    /// One line for people.
    pub message: String,
    /// Every diagnostic, as `cvlanctl check --format json` gives them.
    pub diagnostics: Vec<JsonDiagnostic>,
}

impl Rejection {
    /// An invalid reading.
    pub fn invalid(message: String, diagnostics: Vec<JsonDiagnostic>) -> Self {
        Self {
            outcome: Outcome::Rejected,
            message,
            diagnostics,
        }
    }
}
