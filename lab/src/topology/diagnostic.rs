//! Diagnostics for topology files: every problem found in one file, each with a stable code,
//! a labelled span and a help line, reported together as one miette diagnostic.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// The text of a topology file, shared by all of its diagnostics.
pub type SourceText = Arc<NamedSource<String>>;

/// One problem in a topology file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Stable code such as `cvlan-lab::unknown-switch`.
    pub code: &'static str,
    /// One sentence saying what is wrong.
    pub message: String,
    /// Where it is.
    pub span: SourceSpan,
    /// What the label at `span` says.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    source: Option<SourceText>,
}

impl Problem {
    /// A problem with `code` and `message`, labelled `label` at `span`.
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        span: SourceSpan,
        label: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            source: None,
        }
    }

    /// The same problem as a diagnostic of cvlan-schema's syntax scanner (file-level syntax
    /// errors are the same for every CloudVLAN file).
    pub fn from_schema(d: &cvlan_schema::Diagnostic) -> Self {
        Self {
            code: d.code,
            message: d.message.clone(),
            span: SourceSpan::from((d.span.offset, d.span.len)),
            label: d
                .labels
                .first()
                .map_or_else(|| "here".to_owned(), |l| l.text.clone()),
            help: d.help.clone(),
            source: None,
        }
    }

    /// Sets the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
}

/// A topology file that could not be used: every problem found in it.
#[derive(Debug, Clone)]
pub struct TopologyError {
    /// The file's name as given.
    pub file: String,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

impl TopologyError {
    /// Bundles `problems` found in `source`, attaching the text to each of them.
    pub fn new(source: &SourceText, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.span.offset());
        for p in &mut problems {
            p.source = Some(Arc::clone(source));
        }
        Self {
            file: source.name().to_owned(),
            problems,
        }
    }

    /// True when some problem carries `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{}: {n} problem{s} in the lab topology", self.file)
    }
}

impl std::error::Error for TopologyError {}

impl Diagnostic for TopologyError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("cvlan-lab::invalid-topology"))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}
