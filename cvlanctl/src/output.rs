//! Printing: aligned tables for people, one JSON document for scripts; durations and byte
//! counts read as cvlan-proto's `display` writes them, the same in cvlanctl and cvtui.

use std::io::Write;

use comfy_table::{Table, presets};
use serde::Serialize;

use crate::outcome::Failure;

/// Prints `value` as one pretty JSON document on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    // Buffered: stdout flushes at every newline, and a 100,000-node document is a million
    // lines (a write each).
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints `text` on stdout.
pub fn print_text(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') && !text.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

/// Prints `text` on stderr (diagnostics, progress).
pub fn print_err(text: &str) {
    let mut err = std::io::stderr().lock();
    // A closed stderr leaves nobody to tell.
    let _ = err.write_all(text.as_bytes());
}

/// A borderless table with a header row, aligned like `ip` or `wg show` output.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    table
}

/// Prints a table on stdout, each line without trailing blanks.
pub fn print_table(table: &Table) -> Result<(), Failure> {
    let text: String = table
        .lines()
        .map(|line| format!("{}\n", line.trim_end().trim_start_matches(' ')))
        .collect();
    print_text(&text)
}

pub use cvlan_proto::display::{age, bytes, millis};
