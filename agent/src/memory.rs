//! Giving freed memory back to the system after a burst of work.
//!
//! glibc keeps what its arenas free: reading a 100,000-node file, diffing two netmaps or
//! sending 100 live views their first snapshot each leave hundreds of MB free inside the
//! process, which RSS (what operators see and what the OOM killer counts) goes on showing.
//! The daemons call [`release_free_memory`] when such a burst ends: after each apply and when
//! the last live view closes; and [`limit_arenas`] at start, so fewer arenas hold free memory.

use std::time::Duration;

/// glibc malloc arenas a daemon uses (glibc's default is 8 per core).
pub const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENAS`]: otherwise each of a daemon's threads (tokio
/// workers, blocking threads) may get its own, and what one thread frees another never
/// reuses (at 100,000 peers: 210 MB RSS instead of 200). Call first thing in `main`, before
/// any thread starts. Elsewhere than glibc, nothing.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets a glibc tunable; M_ARENA_MAX takes any positive count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns the allocator's free pages to the system (glibc's `malloc_trim(0)`, which walks
/// every arena); costs a few milliseconds on a large heap, so call it from a blocking thread
/// (see [`release_free_memory_soon`]). Elsewhere than glibc, nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim has no preconditions; it only takes glibc's own arena locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`release_free_memory`] `after` a while (for what is freed just after the call: a closed
/// client's connection buffers) on a blocking thread of the current tokio runtime, or at once
/// on this thread outside one; the task ends when the trim does.
pub fn release_free_memory_soon(after: Duration) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || {
            std::thread::sleep(after);
            release_free_memory();
        })),
        Err(_) => release_free_memory(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident set size of this process, from /proc.
    fn rss_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_small_allocations_leave_the_process() {
        // Many small blocks (below glibc's mmap threshold), touched, then freed but one
        // at the end of the heap so glibc's own trimming of the top cannot return them.
        let blocks: Vec<Vec<u8>> = (0..200_000).map(|i| vec![(i % 251) as u8; 1000]).collect();
        let pin = vec![1u8; 1000];
        let held = rss_kb();
        drop(blocks);
        let freed = rss_kb();
        release_free_memory();
        let trimmed = rss_kb();
        assert!(pin[0] == 1);
        assert!(
            trimmed + 100_000 < freed,
            "RSS {held} kB held, {freed} kB after free, {trimmed} kB after the trim"
        );
    }
}
