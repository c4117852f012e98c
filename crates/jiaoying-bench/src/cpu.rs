//! Where a phase's CPU went, per unit of work: the machine's busy time (`/proc/stat`), this
//! process's (`/proc/self/stat`) and the load generator thread's own (`/proc/thread-self/stat`,
//! read on that thread). The rest of the machine's busy time is the database server and the
//! kernel's work for it. Latency on a shared two-core machine is noisy (p99 moved ±30 % and more
//! between runs of one binary); CPU time per answer moved about ±5 %, so it is the figure to
//! compare changes by.
//! Linux only: elsewhere every reading is zero and the figures are left out.

/// Clock ticks of busy CPU at one moment.
#[derive(Clone, Copy)]
pub struct Ticks {
    machine: u64,
    process: u64,
}

/// USER_HZ: the unit of `/proc` CPU times on every Linux architecture we run on.
const TICKS_PER_SEC: f64 = 100.0;

impl Ticks {
    pub fn now() -> Ticks {
        Ticks { machine: machine_busy().unwrap_or(0), process: own_ticks("/proc/self/stat").unwrap_or(0) }
    }
}

/// The calling thread's own CPU ticks (user + system).
pub fn this_thread() -> u64 {
    own_ticks("/proc/thread-self/stat").unwrap_or(0)
}

/// CPU microseconds per unit of work over one phase.
#[derive(Clone, Copy, Debug)]
pub struct PerUnit {
    /// The service: this process without the load generator's thread.
    pub service_us: f64,
    /// Everything else on the machine: the database server (PostgreSQL), the kernel's work.
    pub rest_us: f64,
    pub load_us: f64,
}

impl PerUnit {
    /// `load_ticks`: the load thread's own ticks over the phase; `units`: work done.
    pub fn between(start: Ticks, end: Ticks, load_ticks: u64, units: usize) -> Option<PerUnit> {
        if end.machine == 0 || units == 0 {
            return None;
        }
        let us = |ticks: u64| ticks as f64 / TICKS_PER_SEC * 1e6 / units as f64;
        let process = end.process.saturating_sub(start.process);
        let machine = end.machine.saturating_sub(start.machine);
        Some(PerUnit {
            service_us: us(process.saturating_sub(load_ticks)),
            rest_us: us(machine.saturating_sub(process)),
            load_us: us(load_ticks),
        })
    }

    pub fn total_us(&self) -> f64 {
        self.service_us + self.rest_us + self.load_us
    }
}

/// All CPUs' busy ticks: user, nice, system, irq and softirq from the first line of
/// `/proc/stat` (not idle, iowait, or steal, which is the host running someone else).
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    Some([0, 1, 2, 5, 6].iter().map(|&i| fields.get(i).copied().unwrap_or(0)).sum())
}

/// utime + stime of a `/proc/…/stat` file. The command name (field 2) may hold spaces, so the
/// fields are counted from its closing parenthesis.
fn own_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_grow_with_work() {
        let start = Ticks::now();
        let thread_start = this_thread();
        let mut x = 0u64;
        let began = std::time::Instant::now();
        while began.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let end = Ticks::now();
        let thread = this_thread() - thread_start;
        assert!(thread >= 5, "200 ms of spinning is at least 50 ms of this thread's CPU: {thread} ticks");
        assert!(end.process - start.process >= thread);
        assert!(end.machine - start.machine >= thread);
        let per = PerUnit::between(start, end, thread, 1).unwrap();
        assert!(per.load_us >= 50_000.0);
    }
}
