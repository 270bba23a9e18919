//! Rendering diagnostics: miette's graphical report for people (deterministic, no colours,
//! fixed width, so snapshots are stable) and the JSON shape of `cvlanctl check --format json`.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::{Source, SourceMap};

/// Width the human report wraps at.
const WIDTH: usize = 100;

/// The longest source line a report quotes. A diagnostic on a longer line (a pasted blob, a
/// minified file) is reported in the one-line form with its help instead: a quoted megabyte
/// helps nobody, and miette cannot underline past column 65,535.
const MAX_QUOTED_LINE: usize = 1000;

/// Two labels' snippets with at most this many lines between them are quoted as one (the
/// lines between included); farther apart, each label gets a snippet of its own.
const MERGE_GAP: usize = 3;

/// Renders every diagnostic as miette's graphical report: file, line and column, the source
/// lines with labelled spans, the code and the help line. Plain text without colours.
pub fn render_human<'d>(
    sources: &SourceMap,
    diagnostics: impl IntoIterator<Item = &'d Diagnostic>,
) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(WIDTH)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        if !quotable(sources, diagnostic) {
            out.push_str(&render_line(sources, diagnostic));
            if let Some(help) = &diagnostic.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            out.push('\n');
            continue;
        }
        let report = Report::new(sources, diagnostic);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail short of a bug in the handler; fall back to
            // the one-line form rather than lose the diagnostic.
            out.push_str(&render_line(sources, diagnostic));
        }
        out.push('\n');
    }
    out
}

/// What a human report shows of many diagnostics: every error, and the first few warnings of
/// each code in full; the other warnings only counted, per code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouped<'d> {
    /// The diagnostics to render in full, in their order.
    pub shown: Vec<&'d Diagnostic>,
    /// The warnings left out, per code, in the order their codes first appear.
    pub hidden: Vec<HiddenWarnings>,
}

/// Warnings of one code that a human report counts instead of showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenWarnings {
    /// Their code.
    pub code: &'static str,
    /// How many were left out.
    pub count: usize,
}

impl std::fmt::Display for HiddenWarnings {
    /// `and 1,150 more cvlan::address-collision warnings`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.count == 1 { "" } else { "s" };
        write!(
            f,
            "and {} more {} warning{plural}",
            thousands(self.count),
            self.code
        )
    }
}

/// Groups `diagnostics` for a human report: errors are never left out; of the warnings of
/// one code, the first `in_full` are shown and the rest counted.
pub fn group_warnings(diagnostics: &[Diagnostic], in_full: usize) -> Grouped<'_> {
    let mut seen: Vec<HiddenWarnings> = Vec::new();
    let mut shown = Vec::new();
    for diagnostic in diagnostics {
        if diagnostic.is_error() {
            shown.push(diagnostic);
            continue;
        }
        let code = diagnostic.code;
        let index = match seen.iter().position(|h| h.code == code) {
            Some(index) => index,
            None => {
                seen.push(HiddenWarnings { code, count: 0 });
                seen.len() - 1
            }
        };
        // `count` runs over every warning of the code here; the shown ones are taken off below.
        let group = &mut seen[index];
        if group.count < in_full {
            shown.push(diagnostic);
        }
        group.count += 1;
    }
    let hidden = seen
        .into_iter()
        .filter(|h| h.count > in_full)
        .map(|h| HiddenWarnings {
            code: h.code,
            count: h.count - in_full,
        })
        .collect();
    Grouped { shown, hidden }
}

/// `1150` as `1,150`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether every line the diagnostic's spans touch is short enough to quote.
fn quotable(sources: &SourceMap, diagnostic: &Diagnostic) -> bool {
    let Some(source) = sources.get(diagnostic.span.source) else {
        return true;
    };
    let lines = &source.lines;
    let line_len = |offset: usize| {
        let line = lines.line_of(offset);
        let start = lines.start(line).unwrap_or(0);
        lines.start(line + 1).unwrap_or(source.text.len()) - start
    };
    std::iter::once(diagnostic.span)
        .chain(diagnostic.labels.iter().map(|l| l.span))
        .filter(|span| span.source == diagnostic.span.source)
        .all(|span| {
            line_len(span.offset) <= MAX_QUOTED_LINE
                && line_len(span.offset.saturating_add(span.len)) <= MAX_QUOTED_LINE
        })
}

/// One line per diagnostic: `file:line:column: severity[code]: message`.
pub fn render_line(sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let (line, column) = sources.line_column(diagnostic.span);
    let file = sources
        .get(diagnostic.span.source)
        .map_or("?", |s| s.name.as_str());
    format!(
        "{file}:{line}:{column}: {}[{}]: {}\n",
        diagnostic.severity.as_str(),
        diagnostic.code,
        diagnostic.message
    )
}

/// A diagnostic in the JSON form of `cvlanctl check --format json` (1-based lines and columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonDiagnostic {
    /// `"error"` or `"warning"`.
    pub severity: String,
    /// Stable code, e.g. `cvlan::overlap`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The file the diagnostic points into.
    pub file: String,
    /// 1-based line of the primary span.
    pub line: usize,
    /// 1-based column (in characters) of the primary span.
    pub column: usize,
    /// The labelled spans.
    pub labels: Vec<JsonLabel>,
    /// What to do about it.
    pub help: Option<String>,
}

/// A labelled span in JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonLabel {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
    /// The label's text.
    pub text: String,
}

impl JsonDiagnostic {
    /// The JSON form of `diagnostic`, resolving positions through `sources`.
    pub fn new(sources: &SourceMap, diagnostic: &Diagnostic) -> Self {
        let (line, column) = sources.line_column(diagnostic.span);
        JsonDiagnostic {
            severity: diagnostic.severity.as_str().to_owned(),
            code: diagnostic.code.to_owned(),
            message: diagnostic.message.clone(),
            file: sources
                .get(diagnostic.span.source)
                .map_or_else(String::new, |s| s.name.clone()),
            line,
            column,
            labels: diagnostic
                .labels
                .iter()
                .map(|l| {
                    let (line, column) = sources.line_column(l.span);
                    JsonLabel {
                        line,
                        column,
                        text: l.text.clone(),
                    }
                })
                .collect(),
            help: diagnostic.help.clone(),
        }
    }
}

/// The JSON form of every diagnostic.
pub fn to_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    diagnostics
        .iter()
        .map(|d| JsonDiagnostic::new(sources, d))
        .collect()
}

/// A diagnostic bound to its source, as miette wants it.
#[derive(Debug)]
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<Window<'a>>,
}

impl<'a> Report<'a> {
    fn new(sources: &'a SourceMap, diagnostic: &'a Diagnostic) -> Self {
        let source = sources.get(diagnostic.span.source).map(Window);
        Report { diagnostic, source }
    }

    fn text_len(&self) -> usize {
        self.source.as_ref().map_or(0, |s| s.0.text.len())
    }
}

/// A source as miette reads it: only the lines around a span, found through the line index
/// (miette's own reader scans the text from its start for every span, which made a report
/// of many diagnostics quadratic in the file's size).
#[derive(Debug)]
struct Window<'a>(&'a Source);

impl SourceCode for Window<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (text, lines) = (&*self.0.text, &self.0.lines);
        let end = span.offset().saturating_add(span.len());
        if end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = lines.line_of(span.offset()).saturating_sub(before);
        let from = lines.start(first).unwrap_or(0);
        // One line more than miette asks for: a span that ends on a line break reaches into it.
        let last = lines.line_of(end).saturating_add(after + 2);
        let to = lines.start(last).unwrap_or(text.len());
        let local = SourceSpan::new((span.offset() - from).into(), span.len());
        let inner = text[from..to].read_span(&local, before, after)?;
        // miette documents `line_count` as the lines the contents cover, and merges two
        // labels' snippets when the first one's `line() + line_count()` reaches the second's
        // start. Its reader for `str` returns the count from the start of the text instead,
        // so a label half way down a big file merged with every later one and the report
        // quoted everything in between. Counted here as documented, plus a few lines of
        // slack: snippets at most `MERGE_GAP` lines apart still read as one.
        let covered = inner.line_count().saturating_sub(inner.line());
        Ok(Box::new(MietteSpanContents::new_named(
            self.0.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            covered + MERGE_GAP,
        )))
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.text_len();
        let source = self.diagnostic.span.source;
        let labels = self
            .diagnostic
            .labels
            .iter()
            .filter(move |l| l.span.source == source)
            .map(move |l| {
                let offset = l.span.offset.min(len);
                let span = SourceSpan::new(offset.into(), l.span.len.min(len - offset));
                LabeledSpan::new_with_span(Some(l.text.clone()), span)
            });
        Some(Box::new(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    /// A warning on line 1 whose second label sits 100,000 lines further down.
    fn far_apart() -> (SourceMap, Diagnostic) {
        let mut text = String::from("node \"a\"\n");
        for i in 0..100_000 {
            text.push_str(&format!("// filler {i}\n"));
        }
        let b = text.len();
        text.push_str("node \"b\"\n");
        let mut sources = SourceMap::default();
        let id = sources.add("big.kdl", text);
        let diagnostic = Diagnostic::warning(
            "cvlan::duplicate-key",
            "two far labels",
            Span::new(id, 5, 3),
            "here",
        )
        .with_label(Span::new(id, b + 5, 3), "and here");
        (sources, diagnostic)
    }

    #[test]
    fn labels_far_apart_get_a_snippet_each_not_the_lines_between() {
        let (sources, diagnostic) = far_apart();
        let started = std::time::Instant::now();
        let report = render_human(&sources, [&diagnostic]);
        let took = started.elapsed();
        assert!(report.lines().count() < 30, "{report}");
        assert!(
            report.contains("╰── here") && report.contains("╰── and here"),
            "{report}"
        );
        assert!(report.contains("100002 │ node \"b\""), "{report}");
        assert!(!report.contains("filler 500"), "{report}");
        // Quoting the 100,000 lines between took seconds; two snippets take microseconds. The
        // bound is loose so that a loaded machine and a debug build stay far inside it.
        assert!(
            took < std::time::Duration::from_millis(200),
            "took {took:?}"
        );
    }

    #[test]
    fn labels_a_few_lines_apart_share_one_snippet() {
        let mut sources = SourceMap::default();
        let id = sources.add("a.kdl", "node \"a\"\n\n\n\nnode \"b\"\n");
        let diagnostic = Diagnostic::warning(
            "cvlan::duplicate-key",
            "close labels",
            Span::new(id, 5, 3),
            "here",
        )
        .with_label(Span::new(id, 19, 3), "and here");
        let report = render_human(&sources, [&diagnostic]);
        assert_eq!(report.matches("╭─[").count(), 1, "{report}");
    }

    /// A warning code the schema emits (the grouping does not care which).
    const REPEATED: &str = "cvlan::user-not-in-group";

    fn warning(code: &'static str) -> Diagnostic {
        Diagnostic::warning(code, "w", Span::default(), "w")
    }

    #[test]
    fn repeated_warnings_are_counted_past_the_first_few_and_errors_never() {
        let mut all = Vec::new();
        for _ in 0..1_160 {
            all.push(warning(REPEATED));
            all.push(Diagnostic::error(
                "cvlan::duplicate-key",
                "e",
                Span::default(),
                "e",
            ));
        }
        all.extend((0..3).map(|_| warning("cvlan::unused")));
        let grouped = group_warnings(&all, 10);
        let errors = grouped.shown.iter().filter(|d| d.is_error()).count();
        assert_eq!(errors, 1_160);
        assert_eq!(grouped.shown.len(), 1_160 + 10 + 3);
        assert_eq!(
            grouped.hidden,
            [HiddenWarnings {
                code: REPEATED,
                count: 1_150
            }]
        );
        assert_eq!(
            grouped.hidden[0].to_string(),
            format!("and 1,150 more {REPEATED} warnings")
        );
        assert_eq!(
            group_warnings(&all[..4], 1).hidden[0].to_string(),
            format!("and 1 more {REPEATED} warning")
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
