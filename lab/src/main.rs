//! The `cvlan-lab` command line.

fn main() {}
