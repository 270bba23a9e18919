//! Building the apply results that daemons report in `Status` and events.

use std::time::SystemTime;

use crate::v1::{ApplyOutcome, ApplyResult, Diagnostic};

impl ApplyResult {
    /// The result of an apply attempt that ends now: what happened, for which revision, a
    /// one-line message, the diagnostics that rejected it (if any) and how many actions ran.
    pub fn now(
        outcome: ApplyOutcome,
        revision: &str,
        message: String,
        diagnostics: Vec<Diagnostic>,
        actions: u32,
    ) -> Self {
        Self {
            outcome: outcome.into(),
            revision: revision.to_owned(),
            time: Some(SystemTime::now().into()),
            message,
            diagnostics,
            actions,
        }
    }
}
