//! The `emulator serve` binary as a child process, for the tests that need
//! a process of its own: killing it, measuring its memory, passing flags.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use crate::lambda_support::fixture_path;

pub const EMULATOR: &str = env!("CARGO_BIN_EXE_emulator");

/// A running `emulator serve`.
pub struct Served {
    pub child: Child,
    pub pid: u32,
    pub endpoint: String,
    /// Its S3 state, unless the test passed `--state-dir`: the process is
    /// killed when the test ends, so it never removes a directory of its
    /// own; this one goes with the test (a 1 GiB object was left in /tmp
    /// by every run before).
    _state: Option<tempfile::TempDir>,
}

impl Served {
    /// Starts `emulator serve --addr 127.0.0.1:0 ARGS…` and waits for its
    /// "listening" line.
    pub async fn start(args: &[&str]) -> Served {
        Self::start_limited(args, None).await
    }

    /// Like [`Served::start`], with at most `max_fds` open file descriptors.
    pub async fn start_limited(args: &[&str], max_fds: Option<u64>) -> Served {
        let mut command = Command::new(EMULATOR);
        if let Some(n) = max_fds {
            // SAFETY: setrlimit is async-signal-safe and allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        command.args(["serve", "--addr", "127.0.0.1:0"]).args(args);
        let state = (!args.contains(&"--state-dir"))
            .then(|| tempfile::tempdir().expect("a state directory"));
        if let Some(dir) = &state {
            command.arg("--state-dir").arg(dir.path());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("no stdout line within 30 s")
            .unwrap()
            .unwrap();
        let endpoint = line
            .strip_prefix("emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Served {
            child,
            pid,
            endpoint,
            _state: state,
        }
    }

    /// SDK configuration for this emulator with the given keys.
    pub async fn sdk_config(&self, key: &str, secret: &str) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region("us-east-1")
            .credentials_provider(Credentials::new(key, secret, None, None, "static"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// Peak resident memory of the emulator process so far, in bytes
    /// (`VmHWM` of /proc/PID/status).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }
}

/// Direct children of `pid`, from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            out.push(child);
        }
    }
    out
}

/// Whether `pid` is still a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            !after.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// CPU time (user + system) the process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
