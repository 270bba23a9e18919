//! The one diagnostic type every check in CloudVLAN produces: a stable code, a message, a
//! primary span, labelled spans and a help line. Rendering lives in [`crate::report`].

use crate::span::Span;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The file is invalid; nothing built from it may be applied.
    Error,
    /// Worth an operator's attention; the file is still valid.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`, as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A labelled span: where, and what to say there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The text the label points at.
    pub span: Span,
    /// What the label says.
    pub text: String,
}

/// One problem found in an operator's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code such as `cvlan::unknown-selector`.
    pub code: &'static str,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The main location (file, line and column are reported from it).
    pub span: Span,
    /// Labelled spans; the first one normally sits on `span`.
    pub labels: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// The message of the first of `diagnostics` (empty when there is none): the one-line
    /// summary an error type shows for a whole report.
    pub fn first_message(diagnostics: &[Diagnostic]) -> &str {
        diagnostics.first().map_or("", |d| d.message.as_str())
    }

    /// An error with `code` and `message` at `span`, labelled with `label`.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, code, message, span, label)
    }

    /// A warning with `code` and `message` at `span`, labelled with `label`.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, code, message, span, label)
    }

    fn new(
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            span,
            labels: vec![Label {
                span,
                text: label.into(),
            }],
            help: None,
        }
    }

    /// Sets the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a further labelled span.
    #[must_use]
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
