//! Fuzzes `cvlanctl fmt`: formatting never panics, is idempotent, and the formatted text
//! means what the original meant (the same model and the same diagnostic codes, spans aside).
#![no_main]

use cvlan_schema::{format, parse_network};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(once) = format(text) else {
        return;
    };
    assert_eq!(
        format(&once).ok().as_deref(),
        Some(once.as_str()),
        "not idempotent"
    );
    assert_eq!(
        meaning(text),
        meaning(&once),
        "formatting changed the meaning"
    );
});

/// The network model without its spans, and the sorted diagnostic codes.
fn meaning(text: &str) -> (String, Vec<String>) {
    let checked = parse_network("fuzz.kdl", text);
    let mut codes: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.to_string())
        .collect();
    codes.sort();
    (without_spans(&format!("{:?}", checked.network)), codes)
}

/// Debug output with every `Span { .. }` removed (positions move when a file is formatted).
fn without_spans(debug: &str) -> String {
    const OPEN: &str = "Span { source: SourceId(";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let close = rest[at..].find('}').map_or(rest.len(), |c| at + c + 1);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}
