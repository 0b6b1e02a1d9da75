//! Which CPUs processes may run on (Linux `sched_setaffinity`).
//!
//! On Lambda an execution environment's vCPUs are its own: S3, Secrets
//! Manager and Vanta never run on them. Locally the emulator, mock-vanta and
//! a harness share the machine with the function, and their threads, woken
//! by each of its requests, preempt it: on 2 CPUs a cold 1,000-record sync
//! was preempted about 20 times and took 22.7 ms instead of 15.6 ms with the
//! function on a CPU of its own. [`split`] divides the CPUs this process may
//! use, [`confine_process`] keeps the embedding process (the emulator's and
//! every other thread) on one part and `EmulatorConfig::function_cpus` puts
//! the execution environments on the other, as `perfharness --local` does.

use std::io;

/// A set of CPUs.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.cpus()).finish()
    }
}

/// `0,2,3`: the CPUs, ascending, as a list the emulator's
/// `--function-cpus` takes back.
impl std::fmt::Display for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, cpu) in self.cpus().into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{cpu}")?;
        }
        Ok(())
    }
}

impl PartialEq for CpuSet {
    fn eq(&self, other: &Self) -> bool {
        self.cpus() == other.cpus()
    }
}

impl CpuSet {
    /// The set of `cpus` (numbers past the kernel's set size are ignored).
    pub fn of(cpus: &[usize]) -> Self {
        // SAFETY: an all-zero cpu_set_t is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in cpus {
            if cpu < libc::CPU_SETSIZE as usize {
                // SAFETY: the index is below the set's size.
                unsafe { libc::CPU_SET(cpu, &mut set) };
            }
        }
        Self(set)
    }

    /// The CPUs in the set, ascending.
    pub fn cpus(&self) -> Vec<usize> {
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| {
                // SAFETY: the index is below the set's size.
                unsafe { libc::CPU_ISSET(cpu, &self.0) }
            })
            .collect()
    }

    /// Confines the calling thread (and the threads and processes it starts
    /// afterwards). Only a system call: safe between fork and exec.
    pub(crate) fn apply_to_calling_thread(&self) -> io::Result<()> {
        self.apply_to(0)
    }

    fn apply_to(&self, tid: libc::pid_t) -> io::Result<()> {
        // SAFETY: the set lives across the call, its size is passed along.
        let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&self.0), &self.0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// The CPUs the calling thread may run on.
pub fn allowed() -> io::Result<CpuSet> {
    // SAFETY: an all-zero cpu_set_t is valid; the kernel fills it in.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc == 0 {
        Ok(CpuSet(set))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Divides `cpus` into (the servers' part, the functions' part): the upper
/// half (at least one CPU) for functions, the rest for everything else.
/// `None` with fewer than two CPUs, where there is nothing to divide.
pub fn split(cpus: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
    if cpus.len() < 2 {
        return None;
    }
    let servers = cpus.len() - cpus.len() / 2;
    Some((cpus[..servers].to_vec(), cpus[servers..].to_vec()))
}

/// Confines every thread of this process to `set`; threads started later
/// inherit it from the thread that starts them.
pub fn confine_process(set: &CpuSet) -> io::Result<()> {
    for task in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = task?
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        match set.apply_to(tid) {
            Ok(()) => {}
            // A thread that ended since the listing.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_half_goes_to_functions() {
        assert_eq!(split(&[0]), None);
        assert_eq!(split(&[]), None);
        assert_eq!(split(&[0, 1]), Some((vec![0], vec![1])));
        assert_eq!(split(&[0, 1, 2]), Some((vec![0, 1], vec![2])));
        assert_eq!(split(&[2, 3, 6, 7]), Some((vec![2, 3], vec![6, 7])));
    }

    #[test]
    fn a_set_keeps_its_cpus() {
        assert_eq!(CpuSet::of(&[3, 0, 9]).cpus(), vec![0, 3, 9]);
        assert_eq!(CpuSet::of(&[]).cpus(), Vec::<usize>::new());
        assert_eq!(CpuSet::of(&[3, 0, 9]).to_string(), "0,3,9");
        assert_eq!(CpuSet::of(&[]).to_string(), "");
        let all = allowed().unwrap().cpus();
        assert!(!all.is_empty());
    }

    #[test]
    fn a_confined_thread_runs_only_where_it_is_told() {
        let all = allowed().unwrap().cpus();
        let one = *all.last().unwrap();
        // A thread of its own, so the test harness's threads keep theirs.
        let seen = std::thread::spawn(move || {
            CpuSet::of(&[one]).apply_to_calling_thread().unwrap();
            let child = std::thread::spawn(|| allowed().unwrap().cpus())
                .join()
                .unwrap();
            (allowed().unwrap().cpus(), child)
        })
        .join()
        .unwrap();
        assert_eq!(
            seen,
            (vec![one], vec![one]),
            "the thread and one it started"
        );
        assert_eq!(allowed().unwrap().cpus(), all, "other threads keep theirs");
    }
}
