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
        _ => {
            eprintln!("usage: synth gen NODES RULES");
            std::process::exit(2);
        }
    }
}
