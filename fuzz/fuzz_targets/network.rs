//! Fuzzes the network.kdl reader: parse, validate and render the diagnostics must never
//! panic, and a file is valid exactly when it has no error.
#![no_main]

use cvlan_schema::report::{render_human, to_json};
use cvlan_schema::{check_network_bytes, parse_network};
use libfuzzer_sys::fuzz_target;

/// What every include reads.
const INCLUDED: &str =
    "node \"i\" { public-key \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" }\n";

fuzz_target!(|data: &[u8]| {
    // The daemon's path: bytes (maybe not UTF-8); every include is one fixed node file.
    let checked = check_network_bytes("fuzz.kdl", data.to_vec(), &mut |name| {
        Ok((name.to_owned(), INCLUDED.to_owned()))
    });
    assert_eq!(checked.network.is_some(), checked.is_ok());
    // The text path, which reaches the model on what the byte path refuses as encoding.
    let text = String::from_utf8_lossy(data);
    let checked = parse_network("fuzz.kdl", &text);
    assert_eq!(checked.network.is_some(), checked.is_ok());
    render_human(&checked.sources, &checked.diagnostics);
    assert_eq!(
        to_json(&checked.sources, &checked.diagnostics).len(),
        checked.diagnostics.len()
    );
});
