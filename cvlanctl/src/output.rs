//! Printing: aligned tables for people, one JSON document for scripts, durations and byte
//! counts in a form people read at a glance.

use std::io::Write;
use std::time::Duration;

use comfy_table::{Table, presets};
use serde::Serialize;

use crate::outcome::Failure;

/// Prints `value` as one pretty JSON document on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
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

/// `1.2 KiB`, `3.4 MiB`: byte counts for tables.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4s`, `3m12s`, `2h5m`, `3d4h`: an age or uptime, to the two largest units.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `12.3ms`: a round-trip time.
pub fn millis(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_naturally() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(192)), "3m12s");
        assert_eq!(age(Duration::from_secs(7500)), "2h5m");
        assert_eq!(age(Duration::from_secs(273_600)), "3d4h");
        assert_eq!(millis(Duration::from_micros(1234)), "1.23ms");
    }
}
