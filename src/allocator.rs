//! The allocator's own accounting of the process's memory: what INFO memory reports and what
//! `maxmemory` is compared with. The `tandem` binary's global allocator is jemalloc (see
//! src/main.rs, which calls [`jemalloc_is_global`]); there `used_memory` is jemalloc's
//! `stats.allocated`, the bytes the program holds, which is the number Redis limits too. A
//! program embedding the library keeps its own allocator; then the resident set size stands
//! in for it.
//!
//! Reading jemalloc's statistics needs an epoch advance (it refreshes every arena's counters),
//! too costly for every write; [`used_memory`] returns a cached value that a background thread
//! refreshes every [`REFRESH`] while anything keeps asking for it. When nobody asked during a
//! whole period (an idle node), the thread parks until the next caller wakes it, so an idle node
//! has no wake-ups; that next caller gets the figure from before the pause, which nothing but
//! reads could have changed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// How often the cached used-memory figure is refreshed.
pub const REFRESH: Duration = Duration::from_millis(10);

static JEMALLOC: AtomicBool = AtomicBool::new(false);
static USED: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static SAMPLER: Once = Once::new();
/// The refreshing thread, to unpark it.
static SAMPLER_THREAD: OnceLock<Thread> = OnceLock::new();
/// Someone read the cached figure since the last refresh.
static ASKED: AtomicBool = AtomicBool::new(false);
/// The refreshing thread is parked (or about to park) until the next caller.
static PARKED: AtomicBool = AtomicBool::new(false);
/// Refreshes the sampler made so far.
static SAMPLES: AtomicU64 = AtomicU64::new(0);

/// Tells the library that jemalloc is the process's global allocator, so its statistics
/// describe the whole process. Called once at the start of the `tandem` binary.
pub fn jemalloc_is_global() {
    JEMALLOC.store(true, Ordering::Release);
}

/// Whether jemalloc's statistics describe this process (see [`jemalloc_is_global`]).
pub fn is_jemalloc() -> bool {
    JEMALLOC.load(Ordering::Acquire)
}

/// The allocator's name as INFO's `mem_allocator` gives it.
pub fn name() -> &'static str {
    if is_jemalloc() {
        "jemalloc-5.3.0"
    } else {
        "libc"
    }
}

/// jemalloc's counters, read fresh (after an epoch advance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JemallocStats {
    /// Bytes in allocations the program holds.
    pub allocated: u64,
    /// Bytes in pages holding allocations (allocated + their pages' free room).
    pub active: u64,
    /// Bytes in physically resident pages the allocator maps (active + dirty + metadata).
    pub resident: u64,
    /// Bytes of the allocator's own metadata.
    pub metadata: u64,
    /// Bytes of mapped chunks (active extents).
    pub mapped: u64,
    /// Bytes retained: unmapped from use but kept for reuse (virtual, not resident).
    pub retained: u64,
}

/// jemalloc's counters now; None where jemalloc is not the global allocator.
pub fn jemalloc_stats() -> Option<JemallocStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    if !is_jemalloc() {
        return None;
    }
    epoch::advance().ok()?;
    let read = |value: Result<usize, tikv_jemalloc_ctl::Error>| value.map_or(0, |v| v as u64);
    Some(JemallocStats {
        allocated: read(stats::allocated::read()),
        active: read(stats::active::read()),
        resident: read(stats::resident::read()),
        metadata: read(stats::metadata::read()),
        mapped: read(stats::mapped::read()),
        retained: read(stats::retained::read()),
    })
}

/// Used memory now, read fresh: jemalloc's allocated bytes, or the RSS without jemalloc.
fn measure() -> u64 {
    match jemalloc_stats() {
        Some(stats) => stats.allocated,
        None => rss_bytes(),
    }
}

fn store(used: u64) {
    USED.store(used, Ordering::Relaxed);
    PEAK.fetch_max(used, Ordering::Relaxed);
}

/// Used memory as of at most [`REFRESH`] ago, or from before an idle pause (cheap: atomic
/// loads). The first call measures and starts the refreshing thread.
pub fn used_memory() -> u64 {
    SAMPLER.call_once(|| {
        store(measure());
        let started = std::thread::Builder::new()
            .name("tandem-memory".into())
            .spawn(sample_while_asked);
        match started {
            Ok(handle) => {
                let _ = SAMPLER_THREAD.set(handle.thread().clone());
            }
            Err(e) => tracing::warn!(error = %e, "could not start the used-memory sampler"),
        }
    });
    // Load first: a store on every call would bounce the cache line between threads.
    if !ASKED.load(Ordering::Relaxed) {
        ASKED.store(true, Ordering::Relaxed);
    }
    if PARKED.load(Ordering::Relaxed) && PARKED.swap(false, Ordering::AcqRel) {
        if let Some(thread) = SAMPLER_THREAD.get() {
            thread.unpark();
        }
    }
    USED.load(Ordering::Relaxed)
}

/// The sampler: refreshes every [`REFRESH`] while callers keep asking, parks when a whole
/// period went by without one.
fn sample_while_asked() {
    loop {
        std::thread::sleep(REFRESH);
        if ASKED.swap(false, Ordering::Relaxed) {
            store(measure());
            SAMPLES.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        PARKED.store(true, Ordering::Release);
        // Unparked by the next caller (an unpark before this park is not lost); a spurious
        // wake-up just runs one more period.
        while PARKED.load(Ordering::Acquire) {
            std::thread::park();
        }
        store(measure());
        SAMPLES.fetch_add(1, Ordering::Relaxed);
    }
}

/// The highest used memory seen by the sampler (and by [`refresh`]).
pub fn peak_memory() -> u64 {
    PEAK.load(Ordering::Relaxed).max(used_memory())
}

/// Measures used memory now and updates the cached value (INFO does this so that it reports
/// the current figure).
pub fn refresh() -> u64 {
    used_memory();
    let used = measure();
    store(used);
    used
}

/// Resident set size in bytes from /proc/self/statm (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page_bytes).unwrap_or(4096)
}

/// Lets jemalloc return freed pages to the kernel from its own background threads, so RSS goes
/// down after a burst even while the server is idle. Only meaningful with jemalloc global.
pub fn enable_background_purge() {
    if is_jemalloc() {
        if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
            tracing::warn!(error = %e, "jemalloc background threads could not be enabled");
        }
    }
}

/// Hands every page jemalloc holds unused (dirty or muzzy, in every arena) back to the kernel
/// now, instead of over its decay period. Called once a node has opened: the open decodes the
/// WAL and the snapshot through short-lived buffers, and without this their pages stay in RSS
/// after the restart. Only meaningful with jemalloc global; takes milliseconds on a large heap.
pub fn release_unused_pages() {
    if !is_jemalloc() {
        return;
    }
    // 4096 is MALLCTL_ARENAS_ALL: every arena.
    let name = c"arena.4096.purge";
    // SAFETY: `arena.<i>.purge` neither reads nor writes a value, and jemalloc requires all
    // four value pointers null and the length 0 for it; the name is NUL-terminated.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::from_raw_os_error(rc),
            "jemalloc did not release unused pages"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_jemalloc_used_memory_is_the_rss() {
        assert!(!is_jemalloc());
        assert_eq!(jemalloc_stats(), None);
        assert!(used_memory() > 0);
        assert!(refresh() > 0);
        assert!(peak_memory() >= used_memory());
        assert_eq!(name(), "libc");
    }

    #[test]
    fn the_sampler_parks_when_nobody_asks_and_the_next_caller_wakes_it() {
        used_memory();
        // Other tests in this process may ask meanwhile; a quiet period comes soon enough.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !PARKED.load(Ordering::Acquire) {
            assert!(
                std::time::Instant::now() < deadline,
                "the sampler never parked"
            );
            std::thread::sleep(REFRESH);
        }
        let samples = SAMPLES.load(Ordering::Relaxed);
        assert!(used_memory() > 0);
        while SAMPLES.load(Ordering::Relaxed) == samples {
            assert!(
                std::time::Instant::now() < deadline,
                "the caller did not wake the sampler"
            );
            std::thread::sleep(REFRESH);
        }
    }
}
