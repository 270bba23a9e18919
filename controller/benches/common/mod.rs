//! The network the controller's benches run: N nodes in teams of 100 that see their own team
//! and, below 100,000 nodes, the next team on a few ports; 1,000 rules in all. And N
//! registrations for it.

// Each bench uses its own subset of these helpers.
#![allow(dead_code)]

use std::fmt::Write as _;

use cvlan_controller::netmaps::Registered;
use cvlan_schema::PublicKey;

/// Nodes per team.
pub const TEAM: usize = 100;
/// Rules of the policy.
pub const RULES: usize = 1000;

/// network.kdl of `nodes` nodes naming the controller at `controller` with key `key`; `edit`
/// changes the port of the last rule.
pub fn network(nodes: usize, controller: &str, key: &str, edit: bool) -> String {
    let teams = nodes.div_ceil(TEAM);
    let mut text = format!(
        "network \"bench\" {{ overlay \"100.64.0.0/10\"; }}\n\
         controller \"ctl\" address=\"{controller}\" public-key=\"{key}\"\n"
    );
    for i in 0..nodes {
        writeln!(text, "node \"n{i}\" {{ tags \"team-{}\"; }}", i / TEAM).unwrap();
    }
    text.push_str("policy {\n");
    for t in 0..teams.min(RULES) {
        writeln!(
            text,
            "  allow \"team-{t}\" from=\"tag:team-{t}\" to=\"tag:team-{t}\""
        )
        .unwrap();
    }
    // The rest of the 1,000 rules: each team reaches the next one on a port of its own.
    for r in teams..RULES {
        let (t, port) = (r % teams, 1000 + r);
        let port = if edit && r == RULES - 1 {
            port + 1
        } else {
            port
        };
        writeln!(
            text,
            "  allow \"link-{r}\" from=\"tag:team-{t}\" to=\"tag:team-{}\" ports=\"{port}/tcp\"",
            (t + 1) % teams
        )
        .unwrap();
    }
    text.push_str("}\n");
    text
}

/// `nodes` registrations, each with a key and an endpoint.
pub fn registered(nodes: usize) -> Vec<Registered> {
    (0..nodes)
        .map(|i| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Registered {
                name: format!("n{i}"),
                node_key: PublicKey(key),
                endpoints: vec![
                    format!("192.0.2.1:{}", 10_000 + i % 50_000)
                        .parse()
                        .unwrap(),
                ],
                expired: false,
            }
        })
        .collect()
}

/// The sizes `var` names (space-separated node counts), else `default`.
pub fn sizes(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}
