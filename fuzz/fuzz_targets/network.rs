//! Fuzzes the network.kdl and cvland.kdl readers: parse, validate, render and format must
//! never panic, and formatting must be idempotent.
#![no_main]

use cvlan_schema::report::{render_human, to_json};
use cvlan_schema::{format, parse_host, parse_network};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let checked = parse_network("fuzz.kdl", &text);
    assert_eq!(checked.network.is_some(), checked.is_ok());
    render_human(&checked.sources, &checked.diagnostics);
    to_json(&checked.sources, &checked.diagnostics);
    let host = parse_host("fuzz.kdl", &text);
    render_human(&host.sources, &host.diagnostics);
    if let Ok(once) = format(&text) {
        assert_eq!(format(&once).ok(), Some(once));
    }
});
