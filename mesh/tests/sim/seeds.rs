//! The seeds that seeded tests run with, and running a test once for each.

use std::thread;

/// The environment variable that replays a single seed instead of the fixed list.
const SEED_VAR: &str = "CVLAN_SIM_SEED";

/// The fixed seeds every seeded test runs, or only `$CVLAN_SIM_SEED` when it is set.
fn seeds() -> Vec<u64> {
    match std::env::var(SEED_VAR).ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=6).collect(),
    }
}

/// Runs `test` once per seed, each on its own thread named "seed N" (so a failure's panic
/// message names its seed; paced runs mostly sleep, so they wait side by side), and fails
/// listing every seed that failed.
pub fn for_each_seed(test: impl Fn(u64) + Sync) {
    let test = &test;
    let failed: Vec<u64> = thread::scope(|scope| {
        let runs: Vec<_> = seeds()
            .into_iter()
            .map(|seed| {
                let run = thread::Builder::new()
                    .name(format!("seed {seed}"))
                    .spawn_scoped(scope, move || test(seed))
                    .expect("spawn a seed's thread");
                (seed, run)
            })
            .collect();
        runs.into_iter()
            .filter_map(|(seed, run)| run.join().is_err().then_some(seed))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "failed for seeds {failed:?}; replay one with {SEED_VAR}=<seed>"
    );
}
