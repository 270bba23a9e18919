//! The error of a topology file that cannot be used: every problem found in it, each a
//! cvlan-schema [`Diagnostic`] with a stable `cvlan-lab::…` code (syntax errors keep the
//! `cvlan::…` codes of every CloudVLAN file), a labelled span and a help line, rendered as
//! `cvlanctl check` renders network.kdl's.

use std::fmt;

use cvlan_schema::report::render_human;
use cvlan_schema::{Diagnostic, SourceId, SourceMap};

/// A topology file that could not be used: every problem found in it.
#[derive(Debug, Clone)]
pub struct TopologyError {
    /// The file as read (source 0), which the problems point into.
    pub sources: SourceMap,
    /// Every problem, in file order.
    pub problems: Vec<Diagnostic>,
}

impl TopologyError {
    /// Bundles `problems` found in the file of `sources`, in file order.
    pub fn new(sources: SourceMap, mut problems: Vec<Diagnostic>) -> Self {
        problems.sort_by_key(|p| p.span.offset);
        Self { sources, problems }
    }

    /// The file's name as given.
    pub fn file(&self) -> &str {
        self.sources
            .get(SourceId(0))
            .map_or("", |s| s.name.as_str())
    }

    /// True when some problem carries `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    /// Every problem with the lines it points at, its code and its help.
    pub fn render(&self) -> String {
        render_human(&self.sources, &self.problems)
    }
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{}: {n} problem{s} in the lab topology", self.file())
    }
}

impl std::error::Error for TopologyError {}

impl miette::Diagnostic for TopologyError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("cvlan-lab::invalid-topology"))
    }
}
