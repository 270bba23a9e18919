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
        _ => {
            eprintln!("usage: synth gen NODES RULES");
            std::process::exit(2);
        }
    }
}
