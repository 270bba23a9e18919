//! The controller's netmaps at scale (issue 12): N registered nodes in teams of 100 that see
//! their own team (and, below 100,000 nodes, the next team on a few ports), 1,000 rules in
//! all. Beside the naive computation the hub did before (check and index the revision, build
//! every node's map), the incremental paths: one node's endpoint changes (only the maps that
//! show it are rebuilt, the compiled revision reused) and one rule is edited (a new revision:
//! compiled again, every map built).
//!
//! `CVLAN_BENCH_NODES="1000 10000"` (the default) picks the sizes; 100000 needs about 4 GiB.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stderr)] // criterion's macros generate undocumented items; the bench prints its sizes

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cvlan_controller::netmaps::{Compiled, generation};

mod common;

use common::{network, registered, sizes};

/// The controller the network names (the bench serves nothing).
const CONTROLLER: (&str, &str) = (
    "127.0.0.1:7443",
    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
);

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("netmaps");
    g.sample_size(10);
    let (address, key) = CONTROLLER;
    for nodes in sizes("CVLAN_BENCH_NODES", "1000 10000") {
        let text = network(nodes, address, key, false);
        let edited = network(nodes, address, key, true);
        let mut nodes_now = registered(nodes);
        let compiled = Arc::new(Compiled::new(1, &text).unwrap());
        let first = generation(compiled.clone(), &nodes_now);
        assert_eq!(first.maps.len(), nodes);
        let peers: usize = first.maps.values().map(|m| m.peers.len()).sum();
        eprintln!("{nodes} nodes: {} peers per map on average", peers / nodes);

        g.bench_function(
            BenchmarkId::new("naive: check, index, every map", nodes),
            |b| b.iter(|| generation(Arc::new(Compiled::new(1, &text).unwrap()), &nodes_now)),
        );
        // One node (in the middle) reports a new endpoint.
        let moved = nodes / 2;
        nodes_now[moved].endpoints = vec!["198.51.100.7:41641".parse().unwrap()];
        g.bench_function(
            BenchmarkId::new("endpoint change: the maps that show it", nodes),
            |b| b.iter(|| first.next(compiled.clone(), &nodes_now)),
        );
        let next = first.next(compiled.clone(), &nodes_now);
        let rebuilt = next
            .maps
            .iter()
            .filter(|(name, map)| !Arc::ptr_eq(map, &first.maps[name.as_str()]))
            .count();
        eprintln!("{nodes} nodes: an endpoint change rebuilt {rebuilt} maps");
        g.bench_function(
            BenchmarkId::new("rule edit: new revision, every map", nodes),
            |b| b.iter(|| next.next(Arc::new(Compiled::new(2, &edited).unwrap()), &nodes_now)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
