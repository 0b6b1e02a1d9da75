//! The async runtime, sized to the CPU the function really gets.
//!
//! Lambda gives a function CPU in proportion to its memory: one vCPU at
//! 1,769 MB, six at 10,240 MB, a fraction of one below 1,769 MB, however
//! many processors the sandbox shows. With one CPU or less the sync runs on
//! a single thread: a page's decoding and encoding then run inline between
//! the fetchers' polls. Handing each page to another thread on the same CPU
//! (tokio's multi-threaded runtime with `block_in_place`) cost a thread
//! switch each way and left the fetchers waiting for the scheduler: at
//! 100,000 vulnerabilities the function took 0.54-0.57 s of CPU and the sync
//! ran at 51-53 % of the fetch-only limit on one CPU, against 0.46-0.48 s
//! and 64 % on one thread. With two CPUs or more, fetching and encoding
//! overlap on a worker thread per CPU.

/// Memory that buys one vCPU.
const MB_PER_VCPU: f64 = 1769.0;

/// The function's share of vCPUs, from its memory size in MB (`None`
/// without one that is a number: not on Lambda).
pub fn vcpu_share(memory_mb: Option<&str>) -> Option<f64> {
    let mb = memory_mb?.trim().parse::<u32>().ok()?;
    Some(f64::from(mb) / MB_PER_VCPU)
}

/// The CPUs the function can keep busy: its memory's share of vCPUs
/// (rounded, at least one), at most the processors it may run on
/// (`available`). Without a memory size (not on Lambda, or a value that is
/// not a number of MB), the processors it may run on.
pub fn cpus(memory_mb: Option<&str>, available: usize) -> usize {
    let share = vcpu_share(memory_mb).map(|s| (s.round() as usize).max(1));
    share.map_or(available, |s| s.min(available)).max(1)
}

/// What this process's memory buys, from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`
/// read once: the runtime's threads ([`cpus`], at most the processors it
/// may run on) and its share of vCPUs ([`vcpu_share`]).
pub fn of_this_process() -> (usize, Option<f64>) {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok();
    (
        cpus(memory.as_deref(), available),
        vcpu_share(memory.as_deref()),
    )
}

/// A runtime for `cpus` CPUs: single-threaded for one, multi-threaded with
/// a worker per CPU otherwise.
pub fn build(cpus: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match cpus {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_buys_cpus_up_to_the_processors_there_are() {
        // Below one vCPU, and one vCPU: one thread.
        for mb in ["128", "512", "1536", "1769", "2600"] {
            assert_eq!(cpus(Some(mb), 2), 1, "{mb} MB");
        }
        // 3,008 MB is 1.7 vCPUs; 10,240 MB six, where the sandbox has them.
        assert_eq!(cpus(Some("3008"), 2), 2);
        assert_eq!(cpus(Some("10240"), 8), 6);
        assert_eq!(cpus(Some("10240"), 2), 2);
        // Not on Lambda, or not a number: the processors there are.
        assert_eq!(cpus(None, 4), 4);
        assert_eq!(cpus(Some("lots"), 3), 3);
        assert_eq!(cpus(Some(""), 1), 1);
        assert_eq!(cpus(Some("0"), 2), 1);
    }

    #[test]
    fn the_vcpu_share_is_memory_over_1769_mb() {
        assert_eq!(vcpu_share(Some("1769")), Some(1.0));
        assert!((vcpu_share(Some(" 512 ")).unwrap() - 0.2894).abs() < 1e-3);
        assert_eq!(vcpu_share(Some("lots")), None);
        assert_eq!(vcpu_share(None), None);
    }

    #[test]
    fn one_cpu_is_a_single_threaded_runtime() {
        use tokio::runtime::RuntimeFlavor::{CurrentThread, MultiThread};
        let flavor = |n| build(n).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(1), CurrentThread);
        assert_eq!(flavor(2), MultiThread);
        let rt = build(2).unwrap();
        assert_eq!(rt.metrics().num_workers(), 2);
    }
}
