//! Memory of an execution environment's process tree, read from `/proc`
//! (what Lambda's cgroup accounts as "Max Memory Used").

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How often the tree is sampled while the environment is initialising or
/// invoking.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(3);

/// Reads one `kB` field (`VmRSS`, `VmHWM`) of `/proc/PID/status`.
pub(crate) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Direct children of `pid` (every thread's `children` file).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Resident set of `pid` and all its descendants, in kB.
pub(crate) fn tree_rss_kb(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    let mut seen = 0;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > 4096 {
            break;
        }
        total += status_kb(p, "VmRSS").unwrap_or(0);
        stack.extend(children(p));
    }
    total
}

/// Peak-RSS tracker for one process tree, with the memory limit that turns
/// an allocation into `Runtime.OutOfMemory`.
#[derive(Debug)]
pub(crate) struct MemoryWatch {
    pid: u32,
    limit_kb: u64,
    peak_kb: AtomicU64,
    active: AtomicBool,
    exceeded: AtomicBool,
    wake: Notify,
}

impl MemoryWatch {
    pub fn new(pid: u32, limit_mb: u32) -> Arc<Self> {
        Arc::new(Self {
            pid,
            limit_kb: u64::from(limit_mb) * 1024,
            peak_kb: AtomicU64::new(0),
            active: AtomicBool::new(false),
            exceeded: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// Starts sampling (init or an invocation is running).
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Folds the main process's high-water mark into the peak (it is gone
    /// once the process is).
    pub fn record_hwm(&self) {
        if let Some(hwm) = status_kb(self.pid, "VmHWM") {
            self.peak_kb.fetch_max(hwm, Ordering::AcqRel);
        }
    }

    /// Stops sampling and returns the peak seen, including the main
    /// process's own high-water mark.
    pub fn finish(&self) -> u64 {
        self.active.store(false, Ordering::Release);
        let hwm = status_kb(self.pid, "VmHWM").unwrap_or(0);
        let peak = self.peak_kb.fetch_max(hwm, Ordering::AcqRel).max(hwm);
        if peak > self.limit_kb {
            self.exceeded.store(true, Ordering::Release);
        }
        peak
    }

    /// Peak so far without stopping.
    pub fn peak_kb(&self) -> u64 {
        self.peak_kb.load(Ordering::Acquire)
    }

    /// Whether the tree went over the configured memory size.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// Samples while active; calls `on_exceeded` once when the limit is
    /// crossed. Ends when `on_exceeded` fired or the process is gone.
    pub async fn run(self: Arc<Self>, on_exceeded: impl FnOnce()) {
        loop {
            while !self.active.load(Ordering::Acquire) {
                self.wake.notified().await;
            }
            // Sample only after one interval: a sub-millisecond warm invoke
            // never pays for a /proc walk; the high-water mark covers it.
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            if !self.active.load(Ordering::Acquire) {
                continue;
            }
            if !std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
                return;
            }
            let rss = tree_rss_kb(self.pid);
            self.peak_kb.fetch_max(rss, Ordering::AcqRel);
            if rss > self.limit_kb {
                self.exceeded.store(true, Ordering::Release);
                self.active.store(false, Ordering::Release);
                on_exceeded();
                return;
            }
        }
    }
}

/// MB as REPORT prints them (rounded up: never under-report).
pub(crate) fn kb_to_mb(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss() {
        let me = std::process::id();
        assert!(status_kb(me, "VmRSS").unwrap() > 0);
        assert!(tree_rss_kb(me) > 0);
        assert!(status_kb(me, "VmHWM").unwrap() > 0);
        assert_eq!(kb_to_mb(1025), 2);
    }
}
