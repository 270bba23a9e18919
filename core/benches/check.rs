//! The scale benchmark of issue 2: a synthetic 100,000-node, 1,000-rule network.kdl parsed,
//! validated and checked end to end (`cvlanctl check`: parse, validate, allocate, shadowed
//! rules, policy-tests), with each stage alone beside it, and the netmap of one node.
//! `CVLAN_BENCH_NODES` / `CVLAN_BENCH_RULES` change the size.
#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros generate undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use cvlan_core::netmap::NetMapBuilder;
use cvlan_core::policy::{PolicyIndex, run_policy_tests, shadowed_rules};
use cvlan_core::synth::{SynthSpec, generate};
use cvlan_core::{Entity, allocate, check};
use cvlan_schema::parse_network;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let nodes = size("CVLAN_BENCH_NODES", 100_000);
    let rules = size("CVLAN_BENCH_RULES", 1_000);
    let spec = SynthSpec::new(
        nodes,
        (nodes / 1000).clamp(10, 100),
        (nodes / 5000).clamp(4, 50),
        rules,
    );
    let synth = generate(&spec);
    let checked = parse_network("synth.kdl", &synth.text);
    assert!(checked.is_ok(), "the generated file is valid");
    let network = &checked.network.clone().unwrap();
    let allocation = allocate(network);

    let mut g = c.benchmark_group(format!("{nodes}-nodes-{rules}-rules"));
    g.sample_size(10);
    g.bench_function(
        "cvlanctl check: parse, validate, allocate, shadow, policy-tests",
        |b| {
            b.iter(|| {
                let report = check(parse_network("synth.kdl", &synth.text));
                assert_eq!(report.tests.failed, 0);
                report
            })
        },
    );
    g.bench_function("parse + validate", |b| {
        b.iter(|| parse_network("synth.kdl", &synth.text))
    });
    g.bench_function("allocate", |b| b.iter(|| allocate(network)));
    g.bench_function("index + policy-tests", |b| {
        b.iter(|| run_policy_tests(&PolicyIndex::new(network, &allocation)))
    });
    let index = PolicyIndex::new(network, &allocation);
    g.bench_function("shadowed rules", |b| b.iter(|| shadowed_rules(&index)));
    g.bench_function("netmap of one node (index, peer classes, map)", |b| {
        b.iter(|| NetMapBuilder::new(network, &allocation).netmap(Entity::Node(0)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
