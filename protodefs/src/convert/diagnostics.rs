//! Diagnostics on the wire: a cvlan-schema [`Diagnostic`] with the file, line and column of
//! its span (from the [`SourceMap`]), and back in the JSON shape `cvlanctl check` prints.

use cvlan_schema::{Diagnostic, Severity, SourceMap, Span};

use crate::v1;

impl From<Severity> for v1::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Error => v1::Severity::Error,
            Severity::Warning => v1::Severity::Warning,
        }
    }
}

impl v1::Diagnostic {
    /// The wire form of a diagnostic: file name, 1-based line and column (in characters) of
    /// its span and of each label's, as `cvlanctl check --format json` prints them.
    pub fn from_schema(diagnostic: &Diagnostic, sources: &SourceMap) -> Self {
        let place = |span: Span| {
            let (line, column) = sources.line_column(span);
            (saturating_u32(line), saturating_u32(column))
        };
        let (line, column) = place(diagnostic.span);
        v1::Diagnostic {
            severity: v1::Severity::from(diagnostic.severity).into(),
            code: diagnostic.code.to_owned(),
            message: diagnostic.message.clone(),
            file: sources
                .get(diagnostic.span.source)
                .map(|source| source.name.clone())
                .unwrap_or_default(),
            line,
            column,
            labels: diagnostic
                .labels
                .iter()
                .map(|label| {
                    let (line, column) = place(label.span);
                    v1::DiagnosticLabel {
                        line,
                        column,
                        text: label.text.clone(),
                    }
                })
                .collect(),
            help: diagnostic.help.clone(),
        }
    }
}

impl From<v1::Diagnostic> for cvlan_schema::report::JsonDiagnostic {
    /// The wire form back in the JSON shape of `cvlanctl check --format json`, so a daemon's
    /// rejection reads exactly like an offline check.
    fn from(d: v1::Diagnostic) -> Self {
        let severity = match d.severity() {
            v1::Severity::Warning => Severity::Warning,
            v1::Severity::Error | v1::Severity::Unspecified => Severity::Error,
        };
        cvlan_schema::report::JsonDiagnostic {
            severity: severity.as_str().to_owned(),
            code: d.code,
            message: d.message,
            file: d.file,
            line: d.line as usize,
            column: d.column as usize,
            labels: d
                .labels
                .into_iter()
                .map(|l| cvlan_schema::report::JsonLabel {
                    line: l.line as usize,
                    column: l.column as usize,
                    text: l.text,
                })
                .collect(),
            help: d.help,
        }
    }
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_schema::Label;

    #[test]
    fn a_diagnostic_gets_file_line_and_column_of_its_span_and_labels() {
        let mut sources = SourceMap::default();
        sources.add("network.kdl", "network \"corp\"\n");
        let relays = sources.add("relays.kdl", "// relays\nrelay \"fra1\" région=\"x\"\n");
        // "région" starts at byte 23 of relays.kdl: line 2, column 14; "x" is at column 22 even
        // though 'é' takes two bytes.
        let diagnostic = Diagnostic::error(
            "cvlan::unknown-property",
            "unknown property `région`",
            Span::new(relays, 23, 7),
            "not a relay property",
        )
        .with_label(Span::new(relays, 32, 1), "its value")
        .with_help("allowed here: region, address, public-key");

        let proto = v1::Diagnostic::from_schema(&diagnostic, &sources);
        assert_eq!(
            proto,
            v1::Diagnostic {
                severity: v1::Severity::Error.into(),
                code: "cvlan::unknown-property".into(),
                message: "unknown property `région`".into(),
                file: "relays.kdl".into(),
                line: 2,
                column: 14,
                labels: vec![
                    v1::DiagnosticLabel {
                        line: 2,
                        column: 14,
                        text: "not a relay property".into()
                    },
                    v1::DiagnosticLabel {
                        line: 2,
                        column: 22,
                        text: "its value".into()
                    },
                ],
                help: Some("allowed here: region, address, public-key".into()),
            }
        );

        let warning = Diagnostic {
            severity: Severity::Warning,
            labels: vec![Label {
                span: Span::new(relays, 0, 2),
                text: "here".into(),
            }],
            help: None,
            ..diagnostic
        };
        let proto = v1::Diagnostic::from_schema(&warning, &sources);
        assert_eq!(proto.severity(), v1::Severity::Warning);
        assert_eq!((proto.labels[0].line, proto.labels[0].column), (1, 1));
        assert_eq!(proto.help, None);
    }
}
