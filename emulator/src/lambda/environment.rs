//! One execution environment: its log stream and, while it is initialised,
//! a sandbox — the function's process (own process group), its Runtime API
//! listener, the capture of its stdout/stderr and its memory watch.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::affinity::CpuSet;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::config::EnvConfig;
use super::cpu::{self, EnvCgroup};
use super::memory::MemoryWatch;
use super::runtime_api::{self, Delivery, RuntimeEvent, RuntimeShared};
use crate::logs::{LogEvent, LogStore};

/// Live child processes of the service, by pid: each entry turns `Some`
/// once the process has been reaped.
pub(crate) type ProcessRegistry = Arc<Mutex<HashMap<u32, watch::Receiver<bool>>>>;

pub(crate) fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// 32 lowercase hex digits, as in AWS's stream names and instance ids.
pub(crate) fn hex32() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Writes an environment's log stream, and keeps the current invocation's
/// lines for `LogType=Tail`.
#[derive(Debug)]
pub(crate) struct LogSink {
    logs: LogStore,
    pub group: String,
    pub stream: String,
    state: Mutex<SinkState>,
}

#[derive(Debug, Default)]
struct SinkState {
    tail: Option<String>,
    partial: [Vec<u8>; 2],
}

impl LogSink {
    pub fn new(logs: LogStore, group: String, stream: String) -> Arc<Self> {
        Arc::new(Self {
            logs,
            group,
            stream,
            state: Mutex::new(SinkState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One system line (INIT_START, START, END, REPORT, …).
    pub fn system(&self, message: String) {
        let mut state = self.lock();
        if let Some(tail) = state.tail.as_mut() {
            tail.push_str(&message);
            // JSON records carry no newline; the tail still shows one per line.
            if !message.ends_with('\n') {
                tail.push('\n');
            }
        }
        self.logs.append(
            &self.group,
            &self.stream,
            vec![LogEvent {
                timestamp: epoch_ms(),
                message,
            }],
        );
    }

    /// Starts collecting lines for the Tail of one invocation.
    pub fn begin_tail(&self) {
        self.lock().tail = Some(String::new());
    }

    /// Stops collecting and returns what was collected.
    pub fn take_tail(&self) -> String {
        self.lock().tail.take().unwrap_or_default()
    }

    /// Reads whatever is buffered in the pipes right now (non-blocking) and
    /// writes it out line by line. Returns false at end of file.
    fn pump(&self, source: usize, rx: &pipe::Receiver, state: &mut SinkState) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut events = Vec::new();
        let mut open = true;
        loop {
            match rx.try_read(&mut buf) {
                Ok(0) => {
                    open = false;
                    break;
                }
                Ok(n) => {
                    let partial = &mut state.partial[source];
                    partial.extend_from_slice(&buf[..n]);
                    take_lines(partial, &mut events);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    open = false;
                    break;
                }
            }
        }
        if !open && !state.partial[source].is_empty() {
            let mut line = String::from_utf8_lossy(&state.partial[source]).into_owned();
            line.push('\n');
            events.push(line);
            state.partial[source].clear();
        }
        if !events.is_empty() {
            if let Some(tail) = state.tail.as_mut() {
                for e in &events {
                    tail.push_str(e);
                }
                trim_tail(tail);
            }
            let now = epoch_ms();
            self.logs.append(
                &self.group,
                &self.stream,
                events
                    .into_iter()
                    .map(|message| LogEvent {
                        timestamp: now,
                        message,
                    })
                    .collect(),
            );
        }
        open
    }
}

/// The largest log event CloudWatch stores (256 KB). A longer line, or
/// output that never ends its line, is cut into events of at most this
/// size, so the capture buffer of each pipe never holds more.
pub(crate) const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Moves every complete line (with its `\n`) out of `partial` into
/// `events`, then cuts what remains into events of [`MAX_EVENT_BYTES`]
/// while it is at least that long, at a UTF-8 character boundary.
fn take_lines(partial: &mut Vec<u8>, events: &mut Vec<String>) {
    let mut start = 0;
    loop {
        let rest = &partial[start..];
        let window = &rest[..rest.len().min(MAX_EVENT_BYTES)];
        let end = match window.iter().position(|b| *b == b'\n') {
            Some(pos) => pos + 1,
            None if rest.len() >= MAX_EVENT_BYTES => {
                // Back up over UTF-8 continuation bytes (at most three).
                let mut cut = MAX_EVENT_BYTES;
                while cut > MAX_EVENT_BYTES - 4 && (rest[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                cut
            }
            None => break,
        };
        events.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        start += end;
    }
    partial.drain(..start);
}

/// Keeps a chatty invocation's Tail buffer bounded: only its last 4 KB is
/// ever returned, so older text can go once the buffer is well past that.
fn trim_tail(tail: &mut String) {
    const KEEP: usize = 8 * 1024;
    if tail.len() > 8 * KEEP {
        let mut cut = tail.len() - KEEP;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail.drain(..cut);
    }
}

/// A running function process with everything attached to it. Dropping it
/// kills the process group.
#[derive(Debug)]
pub(crate) struct Sandbox {
    pub pid: u32,
    pub spawned_at: Instant,
    pub events: mpsc::UnboundedReceiver<RuntimeEvent>,
    pub deliveries: mpsc::Sender<Delivery>,
    pub memory: Arc<MemoryWatch>,
    outputs: [Arc<pipe::Receiver>; 2],
    sink: Arc<LogSink>,
    exited: watch::Receiver<bool>,
    server: JoinHandle<()>,
    sampler: JoinHandle<()>,
}

/// Why a process could not be started.
#[derive(Debug)]
pub(crate) struct SpawnError(pub String);

/// Kills a process group (the function and anything it started).
pub(crate) fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory-safety preconditions.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// Go-style description of how a process ended, as Lambda prints it.
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let signal = status.signal().unwrap_or(0);
    let name = match signal {
        libc::SIGKILL => "killed",
        libc::SIGABRT => "aborted",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGTERM => "terminated",
        libc::SIGBUS => "bus error",
        libc::SIGILL => "illegal instruction",
        libc::SIGINT => "interrupt",
        _ => return format!("signal: {signal}"),
    };
    format!("signal: {name}")
}

/// What a function process gets as `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as Lambda hands every
/// process its execution role's temporary credentials, so the function's
/// own signed calls back into the emulator pass its signature checks.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct FunctionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Opaque, as a role session's token is to its holder; no check reads
    /// it (it is only one more signed header).
    pub session_token: String,
}

impl FunctionCredentials {
    /// The pair of `--credentials`, or `test`/`test` (what the emulator
    /// accepts without `--credentials`).
    pub fn new(checked: Option<&crate::Credentials>) -> Self {
        let (key, secret) = match checked {
            Some(c) => (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            None => ("test", crate::s3::LOCAL_SECRET_KEY),
        };
        Self {
            access_key_id: key.to_string(),
            secret_access_key: secret.to_string(),
            session_token: "emulator-session-token".to_string(),
        }
    }
}

impl std::fmt::Debug for FunctionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Variables AWS sets itself; UpdateFunctionConfiguration rejects them.
pub(crate) const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// Runs in the forked child before exec: the kernel sends it SIGKILL when
/// the emulator dies, even by SIGKILL or the OOM killer, so no function
/// process outlives it. (The signal follows the forking thread; tokio's
/// worker threads live as long as the runtime.) If the emulator is already
/// gone by now, the child is an orphan and must not start.
fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: plain system calls without pointers.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

impl Sandbox {
    /// Starts the function's process with the environment a real runtime
    /// gets and a fresh Runtime API listener; with `cgroup`, the process
    /// joins it before it execs, so all its code runs under the CPU quota.
    /// The cgroup is removed once the process is reaped.
    pub async fn spawn(
        config: &EnvConfig,
        sink: Arc<LogSink>,
        endpoint_url: &str,
        credentials: &FunctionCredentials,
        registry: &ProcessRegistry,
        cgroup: Option<EnvCgroup>,
        cpus: Option<CpuSet>,
    ) -> Result<Sandbox, SpawnError> {
        let remove_unused = |cgroup: &Option<EnvCgroup>| {
            if let Some(c) = cgroup {
                c.remove_now();
            }
        };
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
            Ok(l) => l,
            Err(e) => {
                remove_unused(&cgroup);
                return Err(SpawnError(format!("cannot bind the Runtime API: {e}")));
            }
        };
        let port = match listener.local_addr() {
            Ok(a) => a.port(),
            Err(e) => {
                remove_unused(&cgroup);
                return Err(SpawnError(e.to_string()));
            }
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let (deliveries, deliveries_rx) = mpsc::channel(1);
        let shared = RuntimeShared::new(events_tx.clone(), deliveries_rx);
        let server = tokio::spawn(runtime_api::serve(listener, shared));

        let spec = &config.spec;
        let task_root = spec
            .executable
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut cmd = tokio::process::Command::new(&spec.executable);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin/:/bin".into()),
            )
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("_HANDLER", &config.handler)
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", "/var/runtime")
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", &sink.group)
            .env("AWS_LAMBDA_LOG_STREAM_NAME", &sink.stream)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_REGION", crate::REGION)
            .env("AWS_DEFAULT_REGION", crate::REGION)
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .env("AWS_SESSION_TOKEN", &credentials.session_token)
            .env("AWS_ENDPOINT_URL", endpoint_url);
        if let Some(level) = &config.application_log_level {
            cmd.env("AWS_LAMBDA_LOG_FORMAT", "JSON")
                .env("AWS_LAMBDA_LOG_LEVEL", level);
        }
        for (key, value) in &spec.environment {
            if !RESERVED_VARIABLES.contains(&key.as_str()) {
                cmd.env(key, value);
            }
        }
        cmd.current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe and allocate nothing.
        unsafe {
            cmd.pre_exec(move || die_with_parent(parent));
        }
        if let Some(cpus) = cpus {
            // SAFETY: sched_setaffinity is a plain system call on a set
            // copied into the closure before the fork.
            unsafe {
                cmd.pre_exec(move || cpus.apply_to_calling_thread());
            }
        }
        if let Some(cgroup) = &cgroup {
            let procs = cgroup.procs().clone();
            // SAFETY: the closure only calls open/write/close on a path
            // prepared before the fork (async-signal-safe, no allocation).
            unsafe {
                cmd.pre_exec(move || cpu::join_in_child(&procs));
            }
        }

        let spawned_at = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                remove_unused(&cgroup);
                return Err(SpawnError(format!(
                    "cannot start {}: {e}",
                    spec.executable.display()
                )));
            }
        };
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().and_then(|s| s.into_owned_fd().ok());
        let stderr = child.stderr.take().and_then(|s| s.into_owned_fd().ok());
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            kill_group(pid);
            server.abort();
            return Err(SpawnError("cannot capture the process output".into()));
        };
        let to_receiver = |fd: std::os::fd::OwnedFd| {
            let raw = fd.as_raw_fd();
            // SAFETY: fcntl on a descriptor we own; sets O_NONBLOCK only.
            unsafe {
                let flags = libc::fcntl(raw, libc::F_GETFL);
                libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            pipe::Receiver::from_owned_fd_unchecked(fd)
        };
        let outputs = match (to_receiver(stdout), to_receiver(stderr)) {
            (Ok(out), Ok(err)) => [Arc::new(out), Arc::new(err)],
            _ => {
                kill_group(pid);
                server.abort();
                return Err(SpawnError("cannot watch the process output".into()));
            }
        };
        for (source, rx) in outputs.iter().enumerate() {
            let rx = rx.clone();
            let sink = sink.clone();
            tokio::spawn(async move {
                loop {
                    if rx.readable().await.is_err() {
                        break;
                    }
                    let mut state = sink.lock();
                    if !sink.pump(source, &rx, &mut state) {
                        break;
                    }
                }
            });
        }

        let (exit_tx, exited) = watch::channel(false);
        registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, exited.clone());
        let registry_for_waiter = registry.clone();
        let exit_events = events_tx.clone();
        tokio::spawn(async move {
            let description = match child.wait().await {
                Ok(status) => describe_exit(status),
                Err(e) => format!("wait failed: {e}"),
            };
            // The leader is gone; take anything it left behind with it.
            kill_group(pid);
            if let Some(cgroup) = cgroup {
                cgroup.remove().await;
            }
            let _ = exit_events.send(RuntimeEvent::Exited(description));
            registry_for_waiter
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&pid);
            let _ = exit_tx.send(true);
        });

        let memory = MemoryWatch::new(pid, spec.memory_mb);
        memory.activate();
        let oom_events = events_tx;
        let sampler = tokio::spawn(memory.clone().run(move || {
            // Tell the invoker first so the exit that follows reads as OOM.
            let _ = oom_events.send(RuntimeEvent::OutOfMemory);
            kill_group(pid);
        }));

        Ok(Sandbox {
            pid,
            spawned_at,
            events,
            deliveries,
            memory,
            outputs,
            sink,
            exited,
            server,
            sampler,
        })
    }

    /// Writes out everything the process has written so far, so that its
    /// lines land before the END/REPORT that follow.
    pub fn drain_output(&self) {
        let mut state = self.sink.lock();
        for (source, rx) in self.outputs.iter().enumerate() {
            self.sink.pump(source, rx, &mut state);
        }
    }

    /// Whether the process has already ended (e.g. between two invokes).
    pub fn has_exited(&self) -> bool {
        *self.exited.borrow()
    }

    /// Kills the process group and waits until the process is reaped and
    /// its output is written out.
    pub async fn kill(mut self) {
        kill_group(self.pid);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.exited.wait_for(|done| *done),
        )
        .await;
        self.drain_output();
        self.server.abort();
        self.sampler.abort();
        // Already killed; Drop has nothing left to do.
        self.pid = 0;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Once reaped, the waiter has already killed the group; signalling
        // again could hit a recycled pid.
        if self.pid != 0 && !self.has_exited() {
            kill_group(self.pid);
        }
        self.server.abort();
        self.sampler.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_events_and_long_lines_are_cut_at_256_kb() {
        let mut partial = b"one\ntwo\nthr".to_vec();
        let mut events = Vec::new();
        take_lines(&mut partial, &mut events);
        assert_eq!(events, ["one\n", "two\n"]);
        assert_eq!(partial, b"thr");

        // 600 KB without a newline, with a 3-byte character at the first cut.
        let mut partial = vec![b'a'; MAX_EVENT_BYTES - 1];
        partial.extend_from_slice("€".as_bytes());
        partial.extend(std::iter::repeat_n(b'b', 2 * MAX_EVENT_BYTES));
        let mut events = Vec::new();
        take_lines(&mut partial, &mut events);
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0].len(),
            MAX_EVENT_BYTES - 1,
            "cut before the character"
        );
        assert!(events[1].starts_with('€'));
        assert!(events.iter().all(|e| e.len() <= MAX_EVENT_BYTES));
        assert!(
            partial.len() < MAX_EVENT_BYTES,
            "the buffer stays under the cap"
        );
        let total: usize = events.iter().map(String::len).sum::<usize>() + partial.len();
        assert_eq!(total, 3 * MAX_EVENT_BYTES + 2, "nothing is lost");
    }
}
