//! The gate's instruction tier: how many instructions the function executes
//! from `exec` to its first `GET /runtime/invocation/next`, counted by
//! Valgrind's cachegrind with cache simulation off.
//!
//! The function runs under `valgrind --tool=cachegrind --cache-sim=no
//! --fair-sched=yes` with the environment Lambda would give it and `AWS_LAMBDA_RUNTIME_API`
//! pointing at a stub Runtime API served here. When the first `GET
//! /runtime/invocation/next` arrives the function has finished its init and
//! blocks waiting for the answer; once every thread of the process sleeps
//! (its CPU time no longer moves), it is sent `SIGUSR2`, whose default action
//! ends it and lets Valgrind write its profile (SIGKILL would lose it). The
//! count is then a property of the binary, not of the machine's load: a
//! wall clock moves by tens of percent on a busy machine, this count by
//! hundredths.
//!
//! The profile's self cost per function is grouped into phases by where the
//! code comes from: the dynamic loader (`ld.so`), the C library, the async
//! runtime's start, the Lambda Runtime API client, the function's own
//! crate and its libraries, and Rust's standard library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The signal that ends the counted process: its default action terminates
/// the process, Valgrind intercepts it and writes the profile first, and
/// neither the function nor `lambda_runtime` handles it (Lambda's own
/// shutdown signal, SIGTERM, may be handled by a function).
pub const STOP_SIGNAL: &str = "USR2";
/// Signal number of [`STOP_SIGNAL`] on Linux.
const STOP_SIGNAL_NUMBER: i32 = 12;

/// Worker threads the count is taken with: Lambda's execution environments
/// show the function two vCPUs, and tokio starts one worker per CPU, so the
/// count is pinned to two workers (`TOKIO_WORKER_THREADS=2`) and is the same
/// on a 2-core and on a 64-core machine.
pub const WORKER_THREADS: &str = "2";

/// A failure of the instruction tier: exit 2, never a pass.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// No Valgrind.
    #[error("valgrind not found ({0}): the instruction tier counts init instructions with it; install it with `apt-get install valgrind` (or pass --valgrind PATH, or run only the wall tier with --tiers wall)")]
    NoValgrind(String),
    /// The binary to count is missing.
    #[error("the function's executable {0} does not exist; build it or pass --binary PATH")]
    NoBinary(String),
    /// The function ended before asking for its first event.
    #[error("the function exited during init under valgrind ({status}) before its first GET /runtime/invocation/next; its output: {output}")]
    ExitedDuringInit {
        /// How it ended.
        status: String,
        /// The last lines of its stdout/stderr and of Valgrind's log.
        output: String,
    },
    /// The function posted `/runtime/init/error`.
    #[error("the function reported an init error under valgrind: {0}")]
    InitError(String),
    /// Init did not reach `/next` in time.
    #[error("the function did not ask for its first event within {0} s under valgrind (valgrind slows code some 50-fold; is init waiting on the network?)")]
    Timeout(u64),
    /// The process did not end on the stop signal.
    #[error("the function did not end on SIG{STOP_SIGNAL} (does it handle that signal?); the instruction tier needs its default action")]
    NotStopped,
    /// No profile came out.
    #[error("valgrind wrote no usable profile {path}: {reason}; its log: {log}")]
    Profile {
        /// The cachegrind.out file.
        path: String,
        /// What was wrong.
        reason: String,
        /// The end of Valgrind's log.
        log: String,
    },
    /// Local I/O around the run failed.
    #[error("instruction count: {0}")]
    Io(String),
}

/// Finds Valgrind: `given` is a path (with a `/`) or a name looked up in
/// `PATH`. Returns its path and `valgrind --version`.
pub async fn find_valgrind(given: &Path) -> Result<(PathBuf, String), CountError> {
    let path = if given.components().count() > 1 || given.is_absolute() {
        given.is_file().then(|| given.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(given))
                .find(|p| p.is_file())
        })
    };
    let Some(path) = path else {
        return Err(CountError::NoValgrind(if given.components().count() > 1 {
            format!("{} does not exist", given.display())
        } else {
            format!("no {} in PATH", given.display())
        }));
    };
    let out = tokio::process::Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| CountError::NoValgrind(format!("{} cannot run: {e}", path.display())))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !version.starts_with("valgrind") {
        return Err(CountError::NoValgrind(format!(
            "{} --version answered {:?}",
            path.display(),
            version
        )));
    }
    Ok((path, version))
}

/// What to count and how.
#[derive(Debug, Clone)]
pub struct CountSetup {
    /// Valgrind's path.
    pub valgrind: PathBuf,
    /// The function's executable.
    pub binary: PathBuf,
    /// Its environment, without `AWS_LAMBDA_RUNTIME_API` (set per run).
    pub env: BTreeMap<String, String>,
    /// Where profiles and logs go.
    pub work_dir: PathBuf,
    /// Longest wait for the first `/next` of one run.
    pub timeout: Duration,
}

/// Instructions of one counted init.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Every instruction executed, exec to the first `/next`.
    pub total: u64,
    /// The same split into phases ([`PHASES`]), by where the code comes from.
    pub phases: BTreeMap<String, u64>,
    /// The same split by Rust crate (or `ld.so` / `libc` / `other`),
    /// largest first, for a regression's detail.
    pub crates: Vec<(String, u64)>,
}

impl Profile {
    /// The count the gate compares: the total without the main thread's
    /// stack lookup ([`PHASE_STACK`]), whose cost is the number of lines in
    /// `/proc/self/maps`, not the function's init.
    pub fn compared(&self) -> u64 {
        self.total
            .saturating_sub(self.phases.get(PHASE_STACK).copied().unwrap_or(0))
    }
}

/// Names of the phases a count is split into, in the order of init.
pub const PHASES: [&str; 8] = [
    PHASE_LOADER,
    PHASE_LIBC,
    PHASE_STACK,
    PHASE_STD,
    PHASE_RUNTIME,
    PHASE_CLIENT,
    PHASE_FUNCTION,
    PHASE_OTHER,
];
const PHASE_LOADER: &str = "dynamic loading (ld.so)";
const PHASE_LIBC: &str = "C library (malloc, memcpy, …)";
/// Reported, not compared: see [`Profile::compared`].
pub const PHASE_STACK: &str = "main thread's stack lookup (/proc/self/maps; not compared)";
const PHASE_STD: &str = "Rust std/core/alloc";
const PHASE_RUNTIME: &str = "async runtime start (tokio)";
const PHASE_CLIENT: &str = "Runtime API client (lambda_runtime, hyper)";
const PHASE_FUNCTION: &str = "function code, logging and its libraries";
const PHASE_OTHER: &str = "other";

/// The crate a demangled Rust symbol belongs to (`<A as B>::f` → A's crate),
/// or `None` for a C symbol.
fn rust_crate(name: &str) -> Option<&str> {
    let mut s = name.trim_start();
    loop {
        let before = s;
        s = s.trim_start_matches(['<', '&', '(', '*', '[', ' ']);
        for prefix in ["dyn ", "mut ", "const ", "impl "] {
            s = s.strip_prefix(prefix).unwrap_or(s);
        }
        if s == before {
            break;
        }
    }
    let end = s.find("::")?;
    let krate = &s[..end];
    (!krate.is_empty() && krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(krate)
}

/// Whether a C symbol or source file is the dynamic loader's.
fn is_loader(file: &str, function: &str) -> bool {
    file.starts_with("./elf/")
        || file.contains("/elf/dl-")
        || file.contains("/elf/rtld")
        || function.starts_with("_dl_")
        || function.starts_with("dl_")
        || matches!(
            function,
            "do_lookup_x" | "check_match" | "_dl_start" | "_dl_start_final" | "init_tls"
        )
}

/// Whether a C function belongs to the C library's lookup of the main
/// thread's stack: Rust's runtime asks `pthread_getattr_np` at start, and
/// glibc answers by reading `/proc/self/maps` and parsing each line with
/// `sscanf` up to the stack's. Each line costs about 2,200 instructions, and
/// under Valgrind the number of lines before the stack follows the layout of
/// Valgrind's own mappings, which moves with the binary's size: a change
/// that touched no init code moved the count by one line, +0.38 %.
fn is_stack_lookup(function: &str) -> bool {
    matches!(
        function.split('@').next().unwrap_or(function),
        "pthread_getattr_np"
            | "__pthread_getattr_np"
            | "__isoc99_sscanf"
            | "__vfscanf_internal"
            | "____strtoul_l_internal"
            | "_IO_sputbackc"
            | "getdelim"
            | "_IO_getdelim"
            | "__getdelim"
            | "_IO_str_init_static_internal"
            | "_IO_setb"
            | "_IO_old_init"
            | "_IO_no_init"
            | "__libc_cleanup_push_defer"
    )
}

/// The phase and crate of one function of the profile.
fn classify<'a>(file: &str, function: &'a str, own_crate: &str) -> (&'static str, &'a str) {
    match rust_crate(function) {
        None if is_loader(file, function) => (PHASE_LOADER, "ld.so"),
        None if function.starts_with("_ZN") || function.starts_with("_R") => (PHASE_OTHER, "other"),
        None if is_stack_lookup(function) => (PHASE_STACK, "libc"),
        None => (PHASE_LIBC, "libc"),
        Some(k) => {
            let phase = match k {
                "std" | "core" | "alloc" | "__rustc" | "hashbrown" | "std_detect" | "memchr"
                | "rustc_demangle" | "compiler_builtins" | "panic_unwind" | "adler2" | "gimli"
                | "addr2line" | "object" | "miniz_oxide" => PHASE_STD,
                "tokio"
                | "mio"
                | "parking_lot"
                | "parking_lot_core"
                | "lock_api"
                | "num_cpus"
                | "socket2"
                | "signal_hook_registry"
                | "slab" => PHASE_RUNTIME,
                "lambda_runtime"
                | "lambda_runtime_api_client"
                | "hyper"
                | "hyper_util"
                | "http"
                | "http_body"
                | "http_body_util"
                | "httparse"
                | "tower"
                | "tower_service"
                | "tower_layer"
                | "bytes"
                | "futures_util"
                | "futures_core"
                | "futures_channel"
                | "futures_task"
                | "pin_project"
                | "pin_project_lite"
                | "want"
                | "try_lock"
                | "atomic_waker"
                | "async_stream"
                | "once_cell" => PHASE_CLIENT,
                // tracing-subscriber's registry and the function's logging.
                "sharded_slab" | "thread_local" | "matchers" | "nu_ansi_term" | "chrono" => {
                    PHASE_FUNCTION
                }
                k if k == own_crate
                    || k.starts_with("aws_")
                    || k.starts_with("tracing")
                    || k.starts_with("serde")
                    || k.starts_with("vanta") =>
                {
                    PHASE_FUNCTION
                }
                _ => PHASE_OTHER,
            };
            (phase, k)
        }
    }
}

/// Reads a cachegrind out file (events `Ir`): its `summary:` total and the
/// self cost of every function, grouped. `own_crate` is the function's own
/// crate name (its phase is the function's).
pub fn parse_profile(text: &str, own_crate: &str) -> Result<Profile, String> {
    let mut file = String::new();
    let mut function = String::new();
    let mut per_function: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut summary = None;
    let mut events_ok = false;
    let mut sum = 0u64;
    for line in text.lines() {
        if let Some(ev) = line.strip_prefix("events:") {
            events_ok = ev.split_whitespace().next() == Some("Ir");
        } else if let Some(f) = line
            .strip_prefix("fl=")
            .or_else(|| line.strip_prefix("fi="))
            .or_else(|| line.strip_prefix("fe="))
        {
            file = f.to_string();
        } else if let Some(f) = line.strip_prefix("fn=") {
            function = f.to_string();
        } else if let Some(s) = line.strip_prefix("summary:") {
            summary = s
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
        } else if line.starts_with(|c: char| c.is_ascii_digit()) {
            let mut fields = line.split_whitespace();
            let ir = fields
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            sum += ir;
            *per_function
                .entry((file.clone(), function.clone()))
                .or_default() += ir;
        }
    }
    if !events_ok {
        return Err("no `events: Ir` line (not a cachegrind profile?)".into());
    }
    let total = summary.ok_or("no `summary:` line (valgrind ended before writing it)")?;
    if total == 0 {
        return Err("the summary counts 0 instructions".into());
    }
    if sum != total {
        return Err(format!(
            "its lines add up to {sum} instructions, its summary says {total}"
        ));
    }
    let mut phases: BTreeMap<String, u64> = PHASES.iter().map(|p| (p.to_string(), 0)).collect();
    let mut crates: BTreeMap<String, u64> = BTreeMap::new();
    for ((file, function), ir) in &per_function {
        let (phase, krate) = classify(file, function, own_crate);
        *phases.entry(phase.to_string()).or_default() += ir;
        *crates.entry(krate.to_string()).or_default() += ir;
    }
    let mut crates: Vec<(String, u64)> = crates.into_iter().collect();
    crates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Profile {
        total,
        phases,
        crates,
    })
}

/// The environment Lambda gives a function, with fixed values where Lambda's
/// vary (log stream, task root): the count must not depend on them.
/// `configured` are the function's own variables (they win over nothing
/// reserved, as on Lambda).
pub fn lambda_environment(
    function: &str,
    memory_mb: u64,
    region: &str,
    log_format_json: bool,
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        env.insert(k.to_string(), v.to_string());
    };
    set("PATH", "/usr/local/bin:/usr/bin/:/bin");
    set("LANG", "en_US.UTF-8");
    set("TZ", ":UTC");
    set("_HANDLER", "bootstrap");
    set("LAMBDA_TASK_ROOT", "/var/task");
    set("LAMBDA_RUNTIME_DIR", "/var/runtime");
    set("AWS_LAMBDA_FUNCTION_NAME", function);
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory_mb.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        &format!("/aws/lambda/{function}"),
    );
    set(
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "2026/01/01/[$LATEST]00000000000000000000000000000000",
    );
    set("AWS_REGION", region);
    set("AWS_DEFAULT_REGION", region);
    set("AWS_ACCESS_KEY_ID", "test");
    set("AWS_SECRET_ACCESS_KEY", "test");
    if log_format_json {
        set("AWS_LAMBDA_LOG_FORMAT", "JSON");
    }
    for (k, v) in configured {
        // The harness's cold-start nonce is not the function's.
        if k != "PERFHARNESS_COLD_NONCE" && !env.contains_key(k) {
            env.insert(k.clone(), v.clone());
        }
    }
    env.entry("TOKIO_WORKER_THREADS".into())
        .or_insert_with(|| WORKER_THREADS.into());
    env
}

/// What the stub Runtime API saw first.
enum ApiEvent {
    Next,
    InitError(String),
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Serves one connection of the stub Runtime API: `GET .../next` is reported
/// and left unanswered (the function blocks on it), `/init/error` is
/// reported and acknowledged, anything else gets 404.
async fn serve_connection(
    mut stream: tokio::net::TcpStream,
    events: tokio::sync::mpsc::UnboundedSender<ApiEvent>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = head_end(&buf) else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let request_line = head.lines().next().unwrap_or_default().to_string();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[end..end + length]).to_string();
        buf.drain(..end + length);
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = events.send(ApiEvent::Next);
            // Never answered: the function stays blocked until it is stopped.
            std::future::pending::<()>().await;
        }
        let answer: &[u8] = if path.ends_with("/runtime/init/error") {
            let _ = events.send(ApiEvent::InitError(body));
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n"
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// CPU ticks (user + system) of a process and whether every thread sleeps.
fn cpu_and_idle(pid: u32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold
    // spaces): state is the 3rd field, utime and stime the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let mut idle = true;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(s) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let state = s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .unwrap_or("R");
        if state != "S" && state != "D" && state != "I" {
            idle = false;
        }
    }
    Some((ticks, idle))
}

/// Waits until the process is blocked: every thread asleep and its CPU time
/// unchanged over several polls (the first `/next` has been written; what
/// remains is the runtime going to sleep on the answer).
async fn wait_idle(pid: u32, limit: Duration) {
    let started = Instant::now();
    let mut last = None;
    let mut quiet = 0;
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Some((ticks, idle)) = cpu_and_idle(pid) else {
            return;
        };
        if idle && last == Some(ticks) {
            quiet += 1;
            if quiet >= 4 {
                return;
            }
        } else {
            quiet = 0;
        }
        last = Some(ticks);
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

/// Where the counted executable runs from: `<temp dir>/perfharness-count-
/// <16 hex digits>/bootstrap` (Lambda's name for a custom runtime's
/// executable). The path is part of the count (the C library reads
/// `/proc/self/maps`, whose lines carry it, when Rust's runtime starts), so
/// it must not depend on where the binary was built or on `--out`: a path
/// of a fixed length keeps the count the same on every checkout.
struct Staged {
    dir: PathBuf,
    exec: PathBuf,
}

impl Staged {
    fn new(binary: &Path) -> Result<Self, CountError> {
        if !binary.is_file() {
            return Err(CountError::NoBinary(binary.display().to_string()));
        }
        let dir =
            std::env::temp_dir().join(format!("perfharness-count-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir)
            .map_err(|e| CountError::Io(format!("{}: {e}", dir.display())))?;
        let exec = dir.join("bootstrap");
        // A hard link when on the same file system, else a copy (a symlink
        // would show the original path in /proc/self/maps).
        if std::fs::hard_link(binary, &exec).is_err() {
            std::fs::copy(binary, &exec).map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                CountError::Io(format!(
                    "copying {} to {}: {e}",
                    binary.display(),
                    exec.display()
                ))
            })?;
        }
        Ok(Staged { dir, exec })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Counts one init: returns the profile and the path of its cachegrind out
/// file (in `setup.work_dir`, named `cachegrind.out.<run>`).
pub async fn count_once(setup: &CountSetup, run: usize) -> Result<(Profile, PathBuf), CountError> {
    let staged = Staged::new(&setup.binary)?;
    count_staged(setup, &staged, run).await
}

async fn count_staged(
    setup: &CountSetup,
    staged: &Staged,
    run: usize,
) -> Result<(Profile, PathBuf), CountError> {
    let io = |what: &str, e: std::io::Error| CountError::Io(format!("{what}: {e}"));
    std::fs::create_dir_all(&setup.work_dir)
        .map_err(|e| io(&setup.work_dir.display().to_string(), e))?;
    // Valgrind runs in the staged binary's directory, so a relative `--out`
    // must be made absolute before its paths are handed over.
    let work_dir = std::path::absolute(&setup.work_dir)
        .map_err(|e| io(&setup.work_dir.display().to_string(), e))?;
    let profile_path = work_dir.join(format!("cachegrind.out.{run}"));
    let log_path = work_dir.join(format!("valgrind.{run}.log"));
    let output_path = work_dir.join(format!("function.{run}.out"));
    let _ = std::fs::remove_file(&profile_path);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| io("binding the stub Runtime API", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| io("stub Runtime API address", e))?;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(serve_connection(stream, tx.clone()));
        }
    });

    let output = std::fs::File::create(&output_path)
        .map_err(|e| io(&output_path.display().to_string(), e))?;
    let output2 = output
        .try_clone()
        .map_err(|e| io(&output_path.display().to_string(), e))?;
    let mut child = tokio::process::Command::new(&setup.valgrind)
        .arg("--tool=cachegrind")
        .arg("--cache-sim=no")
        // Threads take turns in a fixed order instead of racing for
        // Valgrind's lock: the count moves less between runs.
        .arg("--fair-sched=yes")
        .arg(format!("--cachegrind-out-file={}", profile_path.display()))
        .arg(format!("--log-file={}", log_path.display()))
        .arg(&staged.exec)
        .env_clear()
        .envs(&setup.env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .current_dir(&staged.dir)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(output2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io(&format!("starting {}", setup.valgrind.display()), e))?;
    let pid = child.id().unwrap_or(0);

    let outcome = tokio::select! {
        ev = events.recv() => Ok(ev),
        status = child.wait() => Err(status),
        _ = tokio::time::sleep(setup.timeout) => Ok(None),
    };
    let result = match outcome {
        Ok(Some(ApiEvent::Next)) => {
            wait_idle(pid, Duration::from_secs(10)).await;
            let _ = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(format!("kill -s {STOP_SIGNAL} {pid}"))
                .status()
                .await;
            match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                Ok(Ok(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    if status.signal() == Some(STOP_SIGNAL_NUMBER) {
                        Ok(())
                    } else {
                        Err(CountError::NotStopped)
                    }
                }
                _ => Err(CountError::NotStopped),
            }
        }
        Ok(Some(ApiEvent::InitError(body))) => Err(CountError::InitError(body)),
        Ok(None) => Err(CountError::Timeout(setup.timeout.as_secs())),
        Err(status) => Err(CountError::ExitedDuringInit {
            status: status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            output: format!(
                "{} | valgrind: {}",
                tail(&output_path, 5),
                tail(&log_path, 5)
            ),
        }),
    };
    server.abort();
    if result.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    result?;
    let text = std::fs::read_to_string(&profile_path).map_err(|e| CountError::Profile {
        path: profile_path.display().to_string(),
        reason: e.to_string(),
        log: tail(&log_path, 5),
    })?;
    let own_crate = setup
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().replace('-', "_"))
        .unwrap_or_default();
    let profile = parse_profile(&text, &own_crate).map_err(|reason| CountError::Profile {
        path: profile_path.display().to_string(),
        reason,
        log: tail(&log_path, 5),
    })?;
    Ok((profile, profile_path))
}

/// Several counts of the same init.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Each run's total.
    pub runs: Vec<u64>,
    /// The median run's profile (its total is the median).
    pub profile: Profile,
    /// (largest − smallest) / median of the runs' totals.
    pub spread: f64,
}

/// Counts `runs` inits, one after the other. Profiles stay in the work
/// directory only with `keep`; the median run's is then `cachegrind.out`.
pub async fn count(setup: &CountSetup, runs: usize, keep: bool) -> Result<Counts, CountError> {
    let staged = Staged::new(&setup.binary)?;
    let mut all = Vec::new();
    let bar = crate::measure::recorder::Progress::new("counting", runs.max(1) as u64);
    bar.message("instructions under valgrind");
    for run in 0..runs.max(1) {
        let counted = count_staged(setup, &staged, run).await;
        bar.inc(1);
        all.push(counted?);
    }
    bar.finish();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| all[i].0.total);
    // The median run: nearest rank, as every percentile of the crate.
    let median = order[(order.len().max(1) - 1) / 2];
    let totals: Vec<u64> = all.iter().map(|(p, _)| p.total).collect();
    let (lo, hi) = (
        *totals.iter().min().unwrap_or(&0),
        *totals.iter().max().unwrap_or(&0),
    );
    let profile = all[median].0.clone();
    let spread = if profile.total > 0 {
        (hi - lo) as f64 / profile.total as f64
    } else {
        0.0
    };
    for (i, (_, path)) in all.iter().enumerate() {
        if keep && i == median {
            let _ = std::fs::rename(path, setup.work_dir.join("cachegrind.out"));
        } else if !keep {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(Counts {
        runs: totals,
        profile,
        spread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "desc: I1 cache: none\ncmd: ./f\nevents: Ir\n\
fl=./elf/./elf/dl-lookup.c\nfn=do_lookup_x\n10 600\n11 400\n\
fl=./malloc/./malloc/malloc.c\nfn=malloc\n5 200\n\
fl=./stdio-common/./stdio-common/vfscanf-internal.c\nfn=__vfscanf_internal\n7 60\n\
fl=./nptl/./nptl/pthread_getattr_np.c\nfn=pthread_getattr_np@@GLIBC_2.32\n8 4\n\
fl=???\nfn=tokio::runtime::builder::Builder::build\n0 300\n\
fn=<tokio::runtime::park::CachedParkThread as core::fmt::Debug>::fmt\n0 5\n\
fn=lambda_runtime::run\n0 100\n\
fn=core::ptr::drop_in_place<hyper::client::Client>\n0 50\n\
fn=vanta_vuln_sync::handler::Handler::new\n0 40\n\
fn=aws_config::load\n0 10\n\
fn=sharded_slab::shard::Array<T,C>::new\n0 7\n\
fn=_dl_relocate_object\n0 90\n\
fn=weird::thing\n0 5\n\
summary: 1871\n";

    #[test]
    fn a_profile_splits_into_phases() {
        let p = parse_profile(PROFILE, "vanta_vuln_sync").unwrap();
        assert_eq!(p.total, 1871);
        assert_eq!(p.compared(), 1807);
        assert_eq!(p.phases[PHASE_LOADER], 1090);
        assert_eq!(p.phases[PHASE_LIBC], 200);
        assert_eq!(p.phases[PHASE_STACK], 64);
        assert_eq!(p.phases[PHASE_RUNTIME], 305);
        assert_eq!(p.phases[PHASE_CLIENT], 100);
        assert_eq!(p.phases[PHASE_STD], 50);
        assert_eq!(p.phases[PHASE_FUNCTION], 57);
        assert_eq!(p.phases[PHASE_OTHER], 5);
        assert_eq!(p.phases.values().sum::<u64>(), p.total);
        assert_eq!(p.crates[0], ("ld.so".to_string(), 1090));
    }

    #[test]
    fn bad_profiles_are_errors() {
        assert!(parse_profile("", "f").unwrap_err().contains("events"));
        let no_summary = PROFILE.replace("summary: 1871\n", "");
        assert!(parse_profile(&no_summary, "f")
            .unwrap_err()
            .contains("summary"));
        let wrong = PROFILE.replace("summary: 1871", "summary: 1872");
        assert!(parse_profile(&wrong, "f").unwrap_err().contains("add up"));
    }

    #[test]
    fn crates_of_symbols() {
        assert_eq!(rust_crate("tokio::spawn"), Some("tokio"));
        assert_eq!(
            rust_crate("<&mut alloc::vec::Vec<u8> as core::Foo>::f"),
            Some("alloc")
        );
        assert_eq!(rust_crate("<dyn core::any::Any>::is"), Some("core"));
        assert_eq!(rust_crate("malloc"), None);
        assert_eq!(rust_crate("__memcpy_avx_unaligned"), None);
    }

    #[test]
    fn the_environment_is_lambdas_with_fixed_values() {
        let configured = BTreeMap::from([
            ("S3_BUCKET".to_string(), "b".to_string()),
            ("AWS_REGION".to_string(), "nope".to_string()),
            ("PERFHARNESS_COLD_NONCE".to_string(), "x".to_string()),
        ]);
        let env = lambda_environment("f", 512, "us-east-1", true, &configured);
        assert_eq!(env["S3_BUCKET"], "b");
        assert_eq!(env["AWS_REGION"], "us-east-1");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
        assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
        assert_eq!(env["TOKIO_WORKER_THREADS"], WORKER_THREADS);
        assert!(!env.contains_key("PERFHARNESS_COLD_NONCE"));
        assert!(!env.contains_key("AWS_LAMBDA_RUNTIME_API"));
    }

    #[tokio::test]
    async fn a_missing_valgrind_is_a_clear_error() {
        let e = find_valgrind(Path::new("/nonexistent/valgrind"))
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("apt-get install valgrind"), "{msg}");
        assert!(msg.contains("/nonexistent/valgrind"), "{msg}");
    }
}
