//! CPU proportional to memory, as Lambda allocates it: one full vCPU at
//! 1,769 MB, proportionally less below, up to 6 vCPUs at 10,240 MB. Each
//! execution environment gets its own cgroup with a CFS quota of
//! `period × memory_mb / 1769` (capped at the cores this machine has), so
//! a CPU-bound handler at 128 MB runs about 14× slower than at 1,769 MB —
//! the effect a memory sweep exists to show.
//!
//! Layout: `<cpu controller>/vanta-emulator/<pid>-<n>/<env id>-<spawn>`,
//! one `<pid>-<n>` directory per emulator so that shutdown removes exactly
//! its own. cgroup v2 (`cpu.max`) is used when its cpu controller is
//! enabled, cgroup v1 (`cpu.cfs_quota_us`) otherwise.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Memory at which Lambda allocates one full vCPU.
pub const MB_PER_VCPU: f64 = 1769.0;
/// CFS period every environment cgroup uses, µs.
const PERIOD_US: u64 = 100_000;
/// Smallest quota the kernel accepts, µs.
const MIN_QUOTA_US: u64 = 1000;
/// Shared parent of every emulator's cgroups.
const PARENT: &str = "vanta-emulator";

/// Which cgroup interface the cpu controller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The cgroups of one emulator: created at start, removed at shutdown.
#[derive(Debug)]
pub(crate) struct CpuCgroups {
    version: Version,
    /// `<mount>/vanta-emulator`.
    parent: PathBuf,
    /// `<mount>/vanta-emulator/<pid>-<n>`.
    dir: PathBuf,
    cores: f64,
    spawns: AtomicU64,
}

/// One environment's cgroup. The process joins it from `pre_exec` through
/// [`EnvCgroup::procs`], prepared before the fork.
#[derive(Debug)]
pub(crate) struct EnvCgroup {
    dir: PathBuf,
    procs: CString,
}

/// vCPUs Lambda gives a function of `memory_mb`, capped at `cores`.
pub(crate) fn vcpus(memory_mb: u32, cores: f64) -> f64 {
    (f64::from(memory_mb) / MB_PER_VCPU).min(cores)
}

/// CFS quota per [`PERIOD_US`] for `memory_mb` on a machine with `cores`.
pub(crate) fn quota_us(memory_mb: u32, cores: f64) -> u64 {
    ((PERIOD_US as f64 * vcpus(memory_mb, cores)).round() as u64).max(MIN_QUOTA_US)
}

fn contains_word(path: &Path, word: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().any(|w| w == word))
        .unwrap_or(false)
}

/// Enables the cpu controller for the children of `dir` (cgroup v2).
fn enable_cpu_for_children(dir: &Path) -> Result<(), String> {
    let control = dir.join("cgroup.subtree_control");
    if contains_word(&control, "cpu") {
        return Ok(());
    }
    std::fs::write(&control, "+cpu").map_err(|e| {
        format!(
            "cannot enable the cgroup v2 cpu controller in {}: {e}",
            control.display()
        )
    })
}

impl CpuCgroups {
    /// Finds the cpu controller and creates this emulator's cgroup.
    ///
    /// # Errors
    /// One line naming what is missing: no cpu controller, or no permission
    /// to create cgroups (CPU scaling needs root or a delegated cgroup).
    pub fn create() -> Result<CpuCgroups, String> {
        static EMULATORS: AtomicU64 = AtomicU64::new(0);
        let (version, mount) = find_controller()?;
        let parent = mount.join(PARENT);
        let dir = parent.join(format!(
            "{}-{}",
            std::process::id(),
            EMULATORS.fetch_add(1, Ordering::Relaxed)
        ));
        // Another emulator may remove the shared parent between our mkdir
        // calls; trying again recreates it.
        let mut last = String::new();
        for _ in 0..3 {
            match make_dirs(version, &mount, &parent, &dir) {
                Ok(()) => {
                    last.clear();
                    break;
                }
                Err(e) => last = e,
            }
        }
        if !last.is_empty() {
            return Err(last);
        }
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        Ok(CpuCgroups {
            version,
            parent,
            dir,
            cores,
            spawns: AtomicU64::new(0),
        })
    }

    /// This emulator's directory (tests check it is gone after shutdown).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the cgroup of one process of environment `env_id` with the
    /// quota for `memory_mb`.
    pub async fn environment(&self, env_id: &str, memory_mb: u32) -> Result<EnvCgroup, String> {
        let n = self.spawns.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("{env_id}-{n}"));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
        let quota = quota_us(memory_mb, self.cores);
        let written = match self.version {
            Version::V1 => std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())
                .and_then(|()| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())),
            Version::V2 => std::fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}")),
        };
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes());
        match (written, procs) {
            (Ok(()), Ok(procs)) => {
                warm_up(&procs).await;
                Ok(EnvCgroup { dir, procs })
            }
            (Err(e), _) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!(
                    "cannot set the CPU quota of {}: {e}",
                    dir.display()
                ))
            }
            (_, Err(_)) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!("cgroup path {} contains a NUL byte", dir.display()))
            }
        }
    }

    /// Removes every environment cgroup left and this emulator's directory
    /// (and the shared parent when no other emulator uses it).
    pub async fn remove_all(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_cgroup(&entry.path()).await;
                }
            }
        }
        remove_cgroup(&self.dir).await;
        // Busy (another emulator's cgroups inside) is expected and fine.
        let _ = std::fs::remove_dir(&self.parent);
    }
}

impl Drop for CpuCgroups {
    /// Best effort for a service dropped without `shutdown`: empty cgroups
    /// go; ones with live processes cannot be removed anyway.
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_dir(&self.parent);
    }
}

/// The first process to join a new cgroup v1 spends 10-20 ms in the kernel
/// (the migration waits for an RCU grace period); later joins take well
/// under a millisecond. A throwaway `true` joins first, so that cost is paid
/// before the environment's clock starts and never poses as Init Duration.
async fn warm_up(procs: &CString) {
    let Some(exe) = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return;
    };
    let procs = procs.clone();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the closure only calls open/write/close on a path prepared
    // before the fork (async-signal-safe, no allocation).
    unsafe {
        cmd.pre_exec(move || join_in_child(&procs));
    }
    if let Ok(mut child) = cmd.spawn() {
        let _ = child.wait().await;
    }
}

impl EnvCgroup {
    /// Path of `cgroup.procs`, for the child to write `0` (itself) into
    /// before it execs.
    pub fn procs(&self) -> &CString {
        &self.procs
    }

    /// Removes the cgroup now (nothing ever ran in it).
    pub fn remove_now(&self) {
        let _ = std::fs::remove_dir(&self.dir);
    }

    /// Removes the cgroup once the process tree is gone, killing anything
    /// that escaped the process group.
    pub async fn remove(self) {
        remove_cgroup(&self.dir).await;
    }
}

/// Joins the cgroup whose `cgroup.procs` is `procs`. Runs in the forked
/// child before exec: only async-signal-safe calls, no allocation.
pub(crate) fn join_in_child(procs: &CString) -> std::io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path prepared before the
    // fork; all three are async-signal-safe.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = (written != 1).then(std::io::Error::last_os_error);
        libc::close(fd);
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// rmdir of a cgroup, retried while processes are still leaving it (each
/// one left is killed; a reaped process leaves its cgroup).
async fn remove_cgroup(dir: &Path) {
    for attempt in 0..200 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {}
        }
        if attempt % 10 == 0 {
            if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!("could not remove cgroup {}", dir.display());
}

/// Where the cpu controller is: cgroup v2 when its cpu controller is
/// available, the v1 cpu hierarchy otherwise.
fn find_controller() -> Result<(Version, PathBuf), String> {
    let root = Path::new("/sys/fs/cgroup");
    for v2 in [root.to_path_buf(), root.join("unified")] {
        if contains_word(&v2.join("cgroup.controllers"), "cpu") {
            return Ok((Version::V2, v2));
        }
    }
    for v1 in [root.join("cpu"), root.join("cpu,cpuacct")] {
        if v1.join("cpu.cfs_quota_us").exists() {
            return Ok((Version::V1, v1));
        }
    }
    Err("CPU scaling needs the cgroup cpu controller, but neither /sys/fs/cgroup/cpu (v1, cpu.cfs_quota_us) nor cgroup v2 with the cpu controller (cpu.max) is available".into())
}

fn make_dirs(version: Version, mount: &Path, parent: &Path, dir: &Path) -> Result<(), String> {
    let mkdir = |d: &Path| {
        match std::fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "CPU scaling cannot create cgroup {}: {e} (it needs root or a delegated, writable cgroup)",
            d.display()
        )),
    }
    };
    if version == Version::V2 {
        enable_cpu_for_children(mount)?;
    }
    mkdir(parent)?;
    if version == Version::V2 {
        enable_cpu_for_children(parent)?;
    }
    mkdir(dir)?;
    if version == Version::V2 {
        enable_cpu_for_children(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_proportional_to_memory_and_capped_by_cores() {
        assert_eq!(quota_us(1769, 2.0), 100_000);
        assert_eq!(quota_us(128, 2.0), 7236);
        assert_eq!(quota_us(3538, 8.0), 200_000);
        // 10,240 MB is 5.79 vCPUs on Lambda, but never more than we have.
        assert_eq!(quota_us(10_240, 2.0), 200_000);
        assert_eq!(quota_us(10_240, 8.0), 578_858);
    }
}
