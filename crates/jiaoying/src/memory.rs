//! How the process uses memory, set first thing in `main` (the service's and the benchmark's).

/// Turns transparent huge pages off for this process (ADR 0023).
///
/// mimalloc asks the kernel for huge pages on its arenas (`madvise(MADV_HUGEPAGE)`), and the first
/// touch of each such region then zeroes two megabytes at once. Measured in the seventh session:
/// a tenth of the SQLite writer thread's time in a 20 000-person fan-out went to that zeroing, and
/// with the process flag set the service spent about 7 µs less CPU per PostgreSQL answer. The flag
/// overrides the advice for every mapping, including those mimalloc made before `main`, and is
/// inherited by child processes. Elsewhere than Linux there is nothing to turn off.
pub fn without_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true)?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_flag_is_set() {
        super::without_transparent_huge_pages().unwrap();
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }
}
