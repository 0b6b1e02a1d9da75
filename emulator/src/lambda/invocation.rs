//! One invocation on one execution environment, from init (when the
//! environment has none running) to its REPORT line: start the runtime,
//! deliver the event, wait for its answer, a crash, an out-of-memory kill or
//! the timeout, and write the platform lines.
//!
//! It knows nothing of pools or the control plane: [`run`] takes an
//! environment and the [`Host`] it runs on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::config::EnvConfig;
use super::cpu::CpuCgroups;
use super::environment::{
    epoch_ms, kill_group, FunctionCredentials, LogSink, ProcessRegistry, Sandbox, SpawnError,
};
use super::faults::Faults;
use super::memory::kb_to_mb;
use super::platform_log::{self, InitPhase, Report, ReportStatus};
use super::runtime_api::{Delivery, RuntimeEvent};
use crate::affinity::CpuSet;

/// How long the regular init phase may take before Lambda gives up on it
/// and retries init inside the invoke.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of log `LogType=Tail` returns.
const TAIL_BYTES: usize = 4096;

/// What every invocation runs on: where processes send their AWS calls,
/// the registry of live processes, the CPU cgroups, and the fault settings.
pub(crate) struct Host {
    pub endpoint_url: String,
    /// The credentials every function process gets, as Lambda hands out its
    /// execution role's: the pair of `--credentials`, `test`/`test` without.
    pub credentials: FunctionCredentials,
    pub processes: ProcessRegistry,
    /// The environments' cgroups when CPU scaling is on; the error when it
    /// was asked for but is unavailable (every init then fails with it).
    pub cpu: Result<Option<Arc<CpuCgroups>>, String>,
    /// The CPUs every function process is confined to (`None`: any).
    pub function_cpus: Option<CpuSet>,
    pub faults: Faults,
    /// Invocations between delivery and their end: function name and the
    /// runtime's process group, by invocation number.
    running: Arc<Mutex<BTreeMap<u64, (String, u32)>>>,
    next: AtomicU64,
    kills: Arc<AtomicU64>,
}

impl Host {
    pub fn new(
        endpoint_url: String,
        credentials: FunctionCredentials,
        cpu: Result<Option<Arc<CpuCgroups>>, String>,
        function_cpus: Option<CpuSet>,
        faults: Faults,
    ) -> Self {
        Self {
            endpoint_url,
            credentials,
            processes: ProcessRegistry::default(),
            cpu,
            function_cpus,
            faults,
            running: Arc::default(),
            next: AtomicU64::new(0),
            kills: Arc::default(),
        }
    }

    /// Kills the execution environment of every invocation of `function`
    /// running now, as a timeout or out-of-memory kill does: each of them
    /// ends with `Runtime.ExitError` and its environment is replaced.
    /// Returns how many were killed.
    pub fn kill_running(&self, function: &str) -> usize {
        let pids: Vec<u32> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|(name, _)| name == function)
            .map(|(_, pid)| *pid)
            .collect();
        for pid in &pids {
            kill_group(*pid);
        }
        self.kills.fetch_add(pids.len() as u64, Ordering::Relaxed);
        pids.len()
    }

    /// Environments killed so far, on request or by the fault setting.
    pub fn kills(&self) -> u64 {
        self.kills.load(Ordering::Relaxed)
    }

    /// Registers a delivered invocation until the guard drops; with the
    /// kill fault drawn, its environment is killed at a random moment
    /// while it runs.
    fn track(&self, function: &str, pid: u32) -> Tracked {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (function.to_string(), pid));
        if let Some(after) = self.faults.draw_kill() {
            let running = Arc::downgrade(&self.running);
            let kills = self.kills.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let Some(running) = running.upgrade() else {
                    return;
                };
                let still = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .is_some_and(|(_, p)| *p == pid);
                if still {
                    kill_group(pid);
                    kills.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        Tracked {
            running: self.running.clone(),
            id,
        }
    }
}

/// Removes a finished invocation from [`Host`]'s running set.
struct Tracked {
    running: Arc<Mutex<BTreeMap<u64, (String, u32)>>>,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// An execution environment: a log stream plus, while initialised, a
/// sandbox.
pub(crate) struct Environment {
    pub instance_id: String,
    pub sink: Arc<LogSink>,
    pub generation: u64,
    pub config: Arc<EnvConfig>,
    pub sandbox: Option<Sandbox>,
    pub initialized_once: bool,
    pub last_used: Instant,
}

/// One invocation as the control plane asks for it.
#[derive(Clone)]
pub(crate) struct InvokeRequest {
    pub request_id: Arc<str>,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub tail: bool,
}

/// What Invoke answers.
pub(crate) struct InvokeOutcome {
    pub payload: Bytes,
    pub function_error: bool,
    pub log_tail: Option<String>,
}

impl InvokeOutcome {
    /// The outcome of an invocation that never ran.
    pub fn aborted() -> Self {
        Self {
            payload: error_payload("ServiceException", "invocation aborted".into()),
            function_error: true,
            log_tail: None,
        }
    }
}

/// How init ended when it did not reach the first `/next`.
enum InitFailureKind {
    Posted { body: Bytes, error_type: String },
    Exited(String),
    Timeout,
    OutOfMemory,
    Spawn(String),
}

struct InitFailure {
    kind: InitFailureKind,
    elapsed_ms: f64,
    peak_kb: u64,
}

impl InitFailure {
    fn error_type(&self) -> Option<&str> {
        match &self.kind {
            InitFailureKind::Posted { error_type, .. } => Some(error_type),
            InitFailureKind::Exited(_) => Some("Runtime.ExitError"),
            InitFailureKind::Timeout => None,
            InitFailureKind::OutOfMemory => Some("Runtime.OutOfMemory"),
            InitFailureKind::Spawn(_) => Some("Runtime.InvalidEntrypoint"),
        }
    }
}

/// How the invoke phase ended.
enum Ending {
    Response(Bytes, Instant),
    FunctionError(Bytes, String, Instant),
    TooLarge(Instant),
    Crashed(String),
    OutOfMemory,
    Timeout,
}

/// An environment ready for the event: how long init took when it ran in
/// the init phase, and when the invoke started if init ran inside it
/// (Duration and the timeout then count from there: "suppressed init").
struct Ready {
    init_duration_ms: Option<f64>,
    invoke_start: Option<Instant>,
}

/// What an ending turns into: the answer, the REPORT status and duration,
/// and whether the sandbox lives on.
struct Settled {
    payload: Bytes,
    status: ReportStatus,
    duration_ms: f64,
    function_error: bool,
    keep_sandbox: bool,
    peak_kb: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn error_payload(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({"errorType": error_type, "errorMessage": message}).to_string())
}

/// Runs one invocation on `env`; returns the answer and whether the
/// environment goes back to the pool.
pub(crate) async fn run(
    host: &Host,
    env: &mut Environment,
    req: &InvokeRequest,
) -> (InvokeOutcome, bool) {
    let timeout = Duration::from_secs(u64::from(env.config.spec.timeout_s));
    let ready = match ensure_ready(host, env, req, timeout).await {
        Ok(ready) => ready,
        Err(outcome) => return (outcome, false),
    };
    let config = env.config.clone();
    let request_id = &req.request_id;
    if req.tail {
        env.sink.begin_tail();
    }
    log(
        env,
        || platform_log::start_text(request_id),
        || platform_log::start_json(request_id, &config.arn),
    );
    let (ending, start) = deliver(host, env, req, timeout, ready.invoke_start).await;
    let settled = settle(env, request_id, ending, start, timeout);
    if settled.keep_sandbox {
        if let Some(sandbox) = &env.sandbox {
            sandbox.drain_output();
        }
    } else if let Some(sandbox) = env.sandbox.take() {
        sandbox.kill().await;
    }
    let memory_mb = config.spec.memory_mb;
    let report = Report {
        request_id,
        duration_ms: settled.duration_ms,
        init_duration_ms: ready.init_duration_ms,
        memory_size_mb: memory_mb,
        max_memory_used_mb: kb_to_mb(settled.peak_kb).min(u64::from(memory_mb)),
        status: settled.status,
    };
    let outcome = InvokeOutcome {
        payload: settled.payload,
        function_error: settled.function_error,
        log_tail: finish_log(env, req, &report),
    };
    (outcome, true)
}

/// Starts the runtime when the environment has none running: in the init
/// phase the first time (retried inside the invoke if it fails), inside the
/// invoke after a crash. `Err` is the invocation's answer when init failed
/// for good.
async fn ensure_ready(
    host: &Host,
    env: &mut Environment,
    req: &InvokeRequest,
    timeout: Duration,
) -> Result<Ready, InvokeOutcome> {
    if env.sandbox.as_ref().is_some_and(Sandbox::has_exited) {
        // The runtime ended between invokes: AWS resets the sandbox and
        // this invoke re-runs init.
        if let Some(sandbox) = env.sandbox.take() {
            sandbox.kill().await;
        }
    }
    let mut ready = Ready {
        init_duration_ms: None,
        invoke_start: None,
    };
    if env.sandbox.is_some() {
        return Ok(ready);
    }
    if !env.initialized_once {
        env.initialized_once = true;
        log_init_start(env, InitPhase::Init);
        match init(host, env, INIT_TIMEOUT).await {
            Ok(init_ms) => {
                ready.init_duration_ms = Some(init_ms);
                return Ok(ready);
            }
            Err(failure) => {
                log_init_report(env, &failure, InitPhase::Init);
                log_init_start(env, InitPhase::Invoke);
            }
        }
    }
    ready.invoke_start = Some(Instant::now());
    match init(host, env, timeout).await {
        Ok(_) => Ok(ready),
        Err(failure) => Err(fail_init(env, req, failure, timeout)),
    }
}

/// Hands the event to the runtime and waits for how the invoke ends;
/// returns the ending and the instant Duration counts from.
async fn deliver(
    host: &Host,
    env: &mut Environment,
    req: &InvokeRequest,
    timeout: Duration,
    invoke_start: Option<Instant>,
) -> (Ending, Instant) {
    let config = env.config.clone();
    let request_id = &req.request_id;
    let sandbox = env.sandbox.as_mut().expect("ensure_ready started it");
    sandbox.memory.activate();
    let timeout_ms = timeout.as_millis() as u64;
    let delivery = Delivery {
        request_id: request_id.clone(),
        payload: req.payload.clone(),
        timeout_ms,
        deadline_epoch_ms: invoke_start
            .map(|s| epoch_ms() + timeout_ms as i64 - s.elapsed().as_millis() as i64),
        function_arn: config.arn.clone(),
        trace_id: trace_id(),
        client_context: req.client_context.clone(),
        cognito_identity: None,
    };
    let mut delivered: Option<Instant> = None;
    let mut deadline =
        tokio::time::Instant::from_std(invoke_start.unwrap_or_else(Instant::now) + timeout);
    let _tracked = host.track(&config.spec.name, sandbox.pid);
    let ending = if sandbox.deliveries.try_send(delivery).is_err() {
        Ending::Crashed("exit status 1".into())
    } else {
        loop {
            tokio::select! {
                biased;
                event = sandbox.events.recv() => match event {
                    Some(RuntimeEvent::Delivered { request_id: id, at }) if id == *request_id => {
                        delivered = Some(at);
                        if invoke_start.is_none() {
                            deadline = tokio::time::Instant::from_std(at + timeout);
                        }
                    }
                    Some(RuntimeEvent::Response { request_id: id, body, at }) if id == *request_id => {
                        break Ending::Response(body, at);
                    }
                    Some(RuntimeEvent::FunctionError { request_id: id, body, error_type, at }) if id == *request_id => {
                        break Ending::FunctionError(body, error_type, at);
                    }
                    Some(RuntimeEvent::ResponseTooLarge { request_id: id, at }) if id == *request_id => {
                        break Ending::TooLarge(at);
                    }
                    Some(RuntimeEvent::Exited(description)) => {
                        break if sandbox.memory.exceeded() {
                            Ending::OutOfMemory
                        } else {
                            Ending::Crashed(description)
                        };
                    }
                    Some(RuntimeEvent::OutOfMemory) => break Ending::OutOfMemory,
                    Some(_) => {}
                    None => break Ending::Crashed("unknown".into()),
                },
                _ = tokio::time::sleep_until(deadline) => break Ending::Timeout,
            }
        }
    };
    let start = invoke_start.or(delivered).unwrap_or_else(Instant::now);
    (ending, start)
}

/// The answer, REPORT status and duration an ending gives; writes the
/// error lines Lambda writes for crashes, kills and timeouts.
fn settle(
    env: &mut Environment,
    request_id: &str,
    ending: Ending,
    start: Instant,
    timeout: Duration,
) -> Settled {
    let config = env.config.clone();
    let sandbox = env.sandbox.as_mut().expect("ensure_ready started it");
    let now = Instant::now();
    let since = |at: Instant| ms(at.saturating_duration_since(start));
    let mut peak_kb = sandbox.memory.finish();
    let mut ending = ending;
    if matches!(
        ending,
        Ending::Response(..) | Ending::FunctionError(..) | Ending::TooLarge(_)
    ) && sandbox.memory.exceeded()
    {
        // Over the limit between two samples: the cgroup would have
        // killed it, so the emulator does too.
        ending = Ending::OutOfMemory;
    }
    let settled = |payload, status, duration_ms, function_error, keep_sandbox| Settled {
        payload,
        status,
        duration_ms,
        function_error,
        keep_sandbox,
        peak_kb: 0,
    };
    let mut out = match ending {
        Ending::Response(body, at) => settled(body, ReportStatus::Success, since(at), false, true),
        Ending::FunctionError(body, error_type, at) => settled(
            body,
            ReportStatus::FunctionError(error_type),
            since(at),
            true,
            true,
        ),
        Ending::TooLarge(at) => settled(
            error_payload(
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size exceeded maximum allowed payload size ({} bytes).",
                    super::runtime_api::MAX_RESPONSE_BYTES
                ),
            ),
            ReportStatus::Error("Function.ResponseSizeTooLarge".into()),
            since(at),
            true,
            true,
        ),
        Ending::Crashed(description) => {
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: {description}");
            if !config.is_json() {
                sandbox.drain_output();
                env.sink.system(format!("{message}\nRuntime.ExitError\n"));
            }
            settled(
                error_payload("Runtime.ExitError", message),
                ReportStatus::Error("Runtime.ExitError".into()),
                since(now),
                true,
                false,
            )
        }
        Ending::OutOfMemory => {
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed");
            if !config.is_json() {
                sandbox.drain_output();
                env.sink.system(format!("{message}\nRuntime.OutOfMemory\n"));
            }
            peak_kb = u64::from(config.spec.memory_mb) * 1024;
            settled(
                error_payload("Runtime.OutOfMemory", message),
                ReportStatus::Error("Runtime.OutOfMemory".into()),
                since(now),
                true,
                false,
            )
        }
        Ending::Timeout => {
            let timeout_text = format!("{:.2}", timeout.as_secs_f64());
            if !config.is_json() {
                sandbox.drain_output();
                env.sink.system(format!(
                    "{} {request_id} Task timed out after {timeout_text} seconds\n",
                    platform_log::rfc3339_ms_now()
                ));
            }
            settled(
                error_payload(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {timeout_text} seconds"
                    ),
                ),
                ReportStatus::Timeout,
                ms(timeout),
                true,
                false,
            )
        }
    };
    out.peak_kb = peak_kb;
    out
}

/// END and REPORT (or `platform.report`), and the tail when asked for.
fn finish_log(env: &Environment, req: &InvokeRequest, report: &Report<'_>) -> Option<String> {
    if env.config.is_json() {
        env.sink.system(report.json());
    } else {
        env.sink.system(platform_log::end_text(&req.request_id));
        env.sink.system(report.text());
    }
    req.tail.then(|| {
        let all = env.sink.take_tail();
        platform_log::tail(&all, TAIL_BYTES).to_string()
    })
}

fn log(env: &Environment, text: impl FnOnce() -> String, json: impl FnOnce() -> String) {
    if env.config.is_json() {
        env.sink.system(json());
    } else {
        env.sink.system(text());
    }
}

fn log_init_start(env: &Environment, phase: InitPhase) {
    let phase = phase.as_str();
    log(env, platform_log::init_start_text, || {
        platform_log::init_start_json(
            &env.config.spec.name,
            &env.instance_id,
            env.config.spec.memory_mb,
            phase,
        )
    });
}

fn log_init_report(env: &Environment, failure: &InitFailure, phase: InitPhase) {
    let timed_out = matches!(failure.kind, InitFailureKind::Timeout);
    log(
        env,
        || {
            platform_log::init_report_text(
                failure.elapsed_ms,
                phase,
                timed_out,
                failure.error_type(),
            )
        },
        || {
            platform_log::init_report_json(
                failure.elapsed_ms,
                phase,
                timed_out,
                failure.error_type(),
            )
        },
    );
}

/// Starts the process and waits for its first `/next`.
async fn init(host: &Host, env: &mut Environment, limit: Duration) -> Result<f64, InitFailure> {
    let started = Instant::now();
    let cgroup = match &host.cpu {
        Ok(Some(cpu)) => cpu
            .environment(&env.instance_id, env.config.spec.memory_mb)
            .await
            .map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e.clone()),
    };
    let spawned = match cgroup {
        Ok(cgroup) => {
            Sandbox::spawn(
                &env.config,
                env.sink.clone(),
                &host.endpoint_url,
                &host.credentials,
                &host.processes,
                cgroup,
                host.function_cpus,
            )
            .await
        }
        Err(e) => Err(SpawnError(e)),
    };
    let mut sandbox = match spawned {
        Ok(sandbox) => sandbox,
        Err(e) => {
            return Err(InitFailure {
                kind: InitFailureKind::Spawn(e.0),
                elapsed_ms: ms(started.elapsed()),
                peak_kb: 0,
            })
        }
    };
    let deadline = tokio::time::Instant::from_std(sandbox.spawned_at + limit);
    let kind = loop {
        tokio::select! {
            event = sandbox.events.recv() => match event {
                Some(RuntimeEvent::InitDone(at)) => {
                    sandbox.memory.record_hwm();
                    // Init output belongs before START.
                    sandbox.drain_output();
                    let init_ms = ms(at.duration_since(sandbox.spawned_at));
                    env.sandbox = Some(sandbox);
                    return Ok(init_ms);
                }
                Some(RuntimeEvent::InitError { body, error_type }) => {
                    break InitFailureKind::Posted { body, error_type };
                }
                Some(RuntimeEvent::Exited(description)) => {
                    break if sandbox.memory.exceeded() {
                        InitFailureKind::OutOfMemory
                    } else {
                        InitFailureKind::Exited(description)
                    };
                }
                Some(RuntimeEvent::OutOfMemory) => break InitFailureKind::OutOfMemory,
                Some(_) => {}
                None => break InitFailureKind::Exited("unknown".into()),
            },
            _ = tokio::time::sleep_until(deadline) => break InitFailureKind::Timeout,
        }
    };
    let elapsed_ms = match kind {
        InitFailureKind::Timeout => ms(limit),
        _ => ms(sandbox.spawned_at.elapsed()),
    };
    let peak_kb = sandbox.memory.peak_kb();
    sandbox.kill().await;
    Err(InitFailure {
        kind,
        elapsed_ms,
        peak_kb,
    })
}

/// The invoke-phase end of an init that failed twice: INIT_REPORT for
/// the invoke phase, START/END/REPORT with the error, the error payload.
fn fail_init(
    env: &mut Environment,
    req: &InvokeRequest,
    failure: InitFailure,
    timeout: Duration,
) -> InvokeOutcome {
    log_init_report(env, &failure, InitPhase::Invoke);
    let request_id = &req.request_id;
    let config = env.config.clone();
    if req.tail {
        env.sink.begin_tail();
    }
    log(
        env,
        || platform_log::start_text(request_id),
        || platform_log::start_json(request_id, &config.arn),
    );
    let timeout_text = format!("{:.2}", timeout.as_secs_f64());
    let (payload, status) = match &failure.kind {
        InitFailureKind::Posted { body, error_type } => {
            (body.clone(), ReportStatus::Error(error_type.clone()))
        }
        InitFailureKind::Exited(description) => {
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: {description}");
            if !config.is_json() {
                env.sink.system(format!("{message}\nRuntime.ExitError\n"));
            }
            (
                error_payload("Runtime.ExitError", message),
                ReportStatus::Error("Runtime.ExitError".into()),
            )
        }
        InitFailureKind::Timeout => (
            error_payload(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {timeout_text} seconds"
                ),
            ),
            ReportStatus::Timeout,
        ),
        InitFailureKind::OutOfMemory => (
            error_payload(
                "Runtime.OutOfMemory",
                format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
            ),
            ReportStatus::Error("Runtime.OutOfMemory".into()),
        ),
        InitFailureKind::Spawn(message) => (
            error_payload(
                "Runtime.InvalidEntrypoint",
                format!("RequestId: {request_id} Error: {message}"),
            ),
            ReportStatus::Error("Runtime.InvalidEntrypoint".into()),
        ),
    };
    let memory_mb = config.spec.memory_mb;
    let peak_mb = if matches!(failure.kind, InitFailureKind::OutOfMemory) {
        u64::from(memory_mb)
    } else {
        kb_to_mb(failure.peak_kb).min(u64::from(memory_mb))
    };
    let report = Report {
        request_id,
        duration_ms: failure.elapsed_ms,
        init_duration_ms: None,
        memory_size_mb: memory_mb,
        max_memory_used_mb: peak_mb,
        status,
    };
    InvokeOutcome {
        payload,
        function_error: true,
        log_tail: finish_log(env, req, &report),
    }
}

/// `Root=1-<8 hex epoch s>-<24 hex>;Parent=<16 hex>;Sampled=0`.
fn trace_id() -> String {
    let secs = epoch_ms() / 1000;
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        secs,
        fastrand::u32(..),
        fastrand::u64(..),
        fastrand::u64(..)
    )
}
