//! Fuzzes the host-file reader, cvland.kdl and vrouterd.kdl alike (one grammar; the corpus
//! holds both): parse, check what the daemon supports and render must never panic, and a file
//! is accepted exactly when it has no error.
#![no_main]

use cvlan_schema::Severity;
use cvlan_schema::host::check_host_bytes;
use cvlan_schema::report::render_human;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = check_host_bytes("host.kdl", data.to_vec());
    let errors = checked
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    assert_eq!(checked.host.is_some(), !errors);
    render_human(&checked.sources, &checked.diagnostics);
});
