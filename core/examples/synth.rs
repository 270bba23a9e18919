//! Writes a synthetic network.kdl to stdout, or checks one and reports timings:
//! `cargo run --release -p cvlan-core --example synth -- gen NODES RULES > net.kdl` and
//! `cargo run --release -p cvlan-core --example synth -- check net.kdl`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example prints

use cvlan_core::synth::{SynthSpec, generate};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("gen") => {
            let nodes = arg(1, 1000);
            let spec = SynthSpec::new(
                nodes,
                (nodes / 1000).clamp(10, 100),
                (nodes / 5000).clamp(4, 50),
                arg(2, 100),
            );
            print!("{}", generate(&spec).text);
        }
        Some("stages") => {
            let nodes = arg(1, 100_000);
            let spec = SynthSpec::new(
                nodes,
                (nodes / 1000).clamp(10, 100),
                (nodes / 5000).clamp(4, 50),
                arg(2, 1000),
            );
            let t = std::time::Instant::now();
            let synth = generate(&spec);
            eprintln!("generate: {:?} ({} bytes)", t.elapsed(), synth.text.len());
            let net = synth.network;
            let t = std::time::Instant::now();
            let alloc = cvlan_core::allocate(&net);
            eprintln!(
                "allocate: {:?} ({} diagnostics)",
                t.elapsed(),
                alloc.diagnostics().len()
            );
            let t = std::time::Instant::now();
            let index = cvlan_core::policy::PolicyIndex::new(&net, &alloc);
            eprintln!("index: {:?} ({} sets)", t.elapsed(), index.sets().len());
            let t = std::time::Instant::now();
            let run = cvlan_core::policy::run_policy_tests(&index);
            eprintln!("policy-tests: {:?} {:?}", t.elapsed(), run.counts);
            let t = std::time::Instant::now();
            let shadowed = cvlan_core::policy::shadowed_rules(&index);
            eprintln!("shadow: {:?} ({} shadowed)", t.elapsed(), shadowed.len());
            let t = std::time::Instant::now();
            let vp = cvlan_core::peers::VisiblePeers::new(&index);
            eprintln!(
                "peer classes: {:?} ({} classes)",
                t.elapsed(),
                vp.class_count()
            );
            let t = std::time::Instant::now();
            let peers = vp.peers_of(cvlan_core::Entity::Node(0));
            eprintln!("peers of n0: {:?} ({} peers)", t.elapsed(), peers.len());
            let t = std::time::Instant::now();
            let builder = cvlan_core::netmap::NetMapBuilder::new(&net, &alloc);
            let m = builder.netmap(cvlan_core::Entity::Node(0));
            eprintln!(
                "netmap of n0 (incl. index+classes): {:?} ({} peers, {} rules)",
                t.elapsed(),
                m.peers.len(),
                m.rules.len()
            );
        }
        Some("check") => {
            let Some(path) = args.get(1) else {
                eprintln!("usage: synth check FILE");
                std::process::exit(2);
            };
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
                eprintln!("cannot read {path}: {e}");
                std::process::exit(2);
            });
            let start = std::time::Instant::now();
            let checked = cvlan_schema::parse_network(path, &text);
            let parsed = start.elapsed();
            let report = cvlan_core::check(checked);
            let total = start.elapsed();
            let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
            println!(
                "parse+validate {parsed:?}, whole check {total:?}: {} nodes, {} rules, {errors} errors, {} warnings, tests {}/{} passed",
                report.network.as_ref().map_or(0, |n| n.nodes.len()),
                report.network.as_ref().map_or(0, |n| n.rules.len()),
                report.diagnostics.len() - errors,
                report.tests.passed,
                report.tests.passed + report.tests.failed,
            );
            if let Some(d) = report.diagnostics.iter().find(|d| d.is_error()) {
                println!("first error: {} {}", d.code, d.message);
            }
        }
        _ => {
            eprintln!("usage: synth gen NODES RULES | synth check FILE | synth stages NODES RULES");
            std::process::exit(2);
        }
    }
}
