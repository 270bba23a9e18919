//! Keeping a test binary's labs from running side by side.

use std::sync::{Mutex, MutexGuard};

/// Serialises the labs of one test process: hold the guard for a lab's lifetime. Labs are
/// parallel-safe (unique names, their own namespaces), but two busy labs on a 2-core
/// machine compete for the CPU, and tests that measure loss or time (peers dropped within
/// 2 s, pings during a flood, iperf3 through rekeys) would then fail for the wrong reason.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
