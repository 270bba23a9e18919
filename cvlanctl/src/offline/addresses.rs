//! `cvlanctl addresses`: the overlay address every node and vrouter gets from a file.

use serde::Serialize;

use cvlan_core::alloc::{Assigned, Origin};

use std::path::Path;

use crate::offline::load_valid;
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_table, table};

/// One row of `addresses --json`.
#[derive(Debug, Serialize)]
struct AddressJson {
    name: String,
    kind: &'static str,
    ipv4: Option<String>,
    ipv6: Option<String>,
    /// Every address, IPv4 first.
    addresses: Vec<String>,
    /// True when every address was written in the file.
    pinned: bool,
}

/// The JSON document of `addresses --json`.
#[derive(Debug, Serialize)]
struct AddressesJson {
    network: String,
    nodes: Vec<AddressJson>,
}

/// Runs `addresses`.
pub fn run(file: &Path, json: bool) -> Outcome {
    let Some(valid) = load_valid(file)? else {
        return Ok(Answer::No);
    };
    let rows: Vec<AddressJson> = valid
        .allocation
        .rows(&valid.network)
        .into_iter()
        .map(|row| {
            let ipv4 = row.v4.map(|a| a.address.to_string());
            let ipv6 = row.v6.map(|a| a.address.to_string());
            let pinned =
                row.v4.is_none_or(|a| is_pinned(&a)) && row.v6.is_none_or(|a| is_pinned(&a));
            AddressJson {
                addresses: ipv4.iter().chain(ipv6.iter()).cloned().collect(),
                name: row.name,
                kind: row.kind,
                ipv4,
                ipv6,
                pinned,
            }
        })
        .collect();
    if json {
        print_json(&AddressesJson {
            network: valid.network.name.value.clone(),
            nodes: rows,
        })?;
        return Ok(Answer::Yes);
    }
    let mut out = table(&["name", "kind", "ipv4", "ipv6", "origin"]);
    for row in &rows {
        out.add_row(vec![
            row.name.clone(),
            row.kind.to_owned(),
            row.ipv4.clone().unwrap_or_else(|| "-".into()),
            row.ipv6.clone().unwrap_or_else(|| "-".into()),
            if row.pinned { "pinned" } else { "derived" }.to_owned(),
        ]);
    }
    print_table(&out)?;
    Ok(Answer::Yes)
}

fn is_pinned<A>(assigned: &Assigned<A>) -> bool {
    assigned.origin == Origin::Pinned
}
