//! Functions, their pools of execution environments, and one invocation from
//! acquiring an environment to its REPORT line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::config::{code_digest, last_modified_now, uuid4, Description, EnvConfig, UpdateStatus};
use super::cpu::CpuCgroups;
use super::environment::{epoch_ms, hex32, LogSink, ProcessRegistry, Sandbox, SpawnError};
use super::memory::kb_to_mb;
use super::platform_log::{self, InitPhase, Report, ReportStatus};
use super::runtime_api::{Delivery, RuntimeEvent};
use super::FunctionSpec;
use crate::logs::LogStore;

/// How long the regular init phase may take before Lambda gives up on it
/// and retries init inside the invoke.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of log `LogType=Tail` returns.
const TAIL_BYTES: usize = 4096;

/// Tunables of the Lambda service.
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    /// How long an UpdateFunctionConfiguration stays `InProgress`.
    pub update_delay_ms: u64,
    /// Idle execution environments are reclaimed after this long.
    pub idle_timeout: Duration,
    /// Concurrent environments per function without reserved concurrency.
    pub default_concurrency_cap: u32,
    /// CPU proportional to memory as on Lambda (1 vCPU at 1,769 MB), each
    /// environment in its own cgroup with a CFS quota. Off by default:
    /// every environment then gets the whole machine.
    pub cpu_scaling: bool,
}

impl Default for LambdaSettings {
    fn default() -> Self {
        Self {
            update_delay_ms: 100,
            idle_timeout: Duration::from_secs(600),
            default_concurrency_cap: 10,
            cpu_scaling: false,
        }
    }
}

/// The Lambda service: control plane, environments and Runtime API. Cheap to
/// clone; every clone drives the same functions.
#[derive(Clone)]
pub struct LambdaService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for LambdaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaService")
            .field(
                "functions",
                &self.inner.functions.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

pub(crate) struct Inner {
    pub functions: BTreeMap<String, Arc<Function>>,
    pub settings: LambdaSettings,
    logs: LogStore,
    endpoint_url: String,
    /// Function URL configurations by function name.
    pub(crate) urls: super::url::UrlConfigs,
    processes: ProcessRegistry,
    closing: AtomicBool,
    /// The environments' cgroups when CPU scaling is on; the error when it
    /// was asked for but is unavailable (every init then fails with it).
    cpu: Result<Option<Arc<CpuCgroups>>, String>,
}

/// One function: its configuration and its environments.
pub(crate) struct Function {
    pub name: String,
    state: Mutex<FunctionState>,
}

pub(crate) struct FunctionState {
    pub desc: Description,
    pub reserved: Option<u32>,
    generation: u64,
    update_seq: u64,
    idle: Vec<Environment>,
    busy: u32,
}

impl Function {
    pub fn lock(&self) -> MutexGuard<'_, FunctionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An execution environment: a log stream plus, while initialised, a
/// sandbox.
struct Environment {
    instance_id: String,
    sink: Arc<LogSink>,
    generation: u64,
    config: Arc<EnvConfig>,
    sandbox: Option<Sandbox>,
    initialized_once: bool,
    last_used: Instant,
}

/// Why an invoke was throttled (`TooManyRequestsException.Reason`).
pub(crate) struct Throttled(pub &'static str);

/// One invocation as the control plane asks for it.
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

/// An environment checked out of its function's pool. Dropping it returns
/// the environment (or disposes of it when retired or broken).
struct Lease {
    service: Arc<Inner>,
    function: Arc<Function>,
    env: Option<Environment>,
    keep: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut env) = self.env.take() else {
            return;
        };
        let mut state = self.function.lock();
        state.busy = state.busy.saturating_sub(1);
        if self.keep
            && env.generation == state.generation
            && !self.service.closing.load(Ordering::Acquire)
        {
            env.last_used = Instant::now();
            state.idle.push(env);
        }
        // Otherwise `env` drops here and its sandbox kills the process group.
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn error_payload(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({"errorType": error_type, "errorMessage": message}).to_string())
}

impl LambdaService {
    /// A service for `functions`. Processes get `endpoint_url` as
    /// `AWS_ENDPOINT_URL`; logs go to `logs`. With `settings.cpu_scaling`
    /// and no usable cgroup cpu controller, every init fails saying so
    /// (`Emulator::start` refuses to start instead).
    pub fn new(
        functions: Vec<FunctionSpec>,
        settings: LambdaSettings,
        logs: LogStore,
        endpoint_url: String,
    ) -> LambdaService {
        let cpu = if settings.cpu_scaling {
            CpuCgroups::create().map(|c| Some(Arc::new(c)))
        } else {
            Ok(None)
        };
        Self::with_cpu(functions, settings, logs, endpoint_url, cpu)
    }

    /// [`LambdaService::new`] with the cgroups already created.
    pub(crate) fn with_cpu(
        functions: Vec<FunctionSpec>,
        settings: LambdaSettings,
        logs: LogStore,
        endpoint_url: String,
        cpu: Result<Option<Arc<CpuCgroups>>, String>,
    ) -> LambdaService {
        let functions = functions
            .into_iter()
            .map(|spec| {
                let (code_size, code_sha256) = code_digest(&spec);
                let name = spec.name.clone();
                let desc = Description {
                    config: Arc::new(EnvConfig::from_spec(spec)),
                    revision_id: uuid4(),
                    last_modified: last_modified_now(),
                    update_status: UpdateStatus::Successful,
                    code_size,
                    code_sha256,
                };
                let function = Function {
                    name: name.clone(),
                    state: Mutex::new(FunctionState {
                        desc,
                        reserved: None,
                        generation: 0,
                        update_seq: 0,
                        idle: Vec::new(),
                        busy: 0,
                    }),
                };
                (name, Arc::new(function))
            })
            .collect();
        let inner = Arc::new(Inner {
            functions,
            settings,
            logs,
            endpoint_url,
            urls: Default::default(),
            processes: ProcessRegistry::default(),
            closing: AtomicBool::new(false),
            cpu,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap_idle(Arc::downgrade(&inner)));
        }
        LambdaService { inner }
    }

    /// Answers one Lambda control-plane request (paths under
    /// `/2015-03-31/functions`, `/2017-10-31/functions`,
    /// `/2019-09-25/functions` and `/2019-09-30/functions`).
    pub async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        super::control::handle(self, req).await
    }

    /// Serves an HTTP request to a Function URL (`/lambda-url/NAME/...`).
    pub async fn handle_url(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        super::url::serve(self, req).await
    }

    /// The URL CreateFunctionUrlConfig gives `function`.
    pub(crate) fn url_of(&self, function: &str) -> String {
        super::url::url_of(&self.inner.endpoint_url, function)
    }

    /// Kills every function process and waits until all are reaped.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        for function in self.inner.functions.values() {
            let idle = std::mem::take(&mut function.lock().idle);
            for env in idle {
                if let Some(sandbox) = env.sandbox {
                    sandbox.kill().await;
                }
            }
        }
        loop {
            let live: Vec<_> = self
                .inner
                .processes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(pid, rx)| (*pid, rx.clone()))
                .collect();
            if live.is_empty() {
                break;
            }
            for (pid, mut exited) in live {
                super::environment::kill_group(pid);
                let _ = tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|done| *done))
                    .await;
                // A waiter that never reports (runtime gone) must not loop us.
                self.inner
                    .processes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&pid);
            }
        }
        if let Ok(Some(cpu)) = &self.inner.cpu {
            cpu.remove_all().await;
        }
    }

    pub(crate) fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.inner.functions.get(name).cloned()
    }

    /// Applies a configuration change: new revision, `InProgress`, every
    /// environment retired; `Successful` with another revision after the
    /// configured delay.
    pub(crate) fn begin_update(
        &self,
        function: &Arc<Function>,
        state: &mut FunctionState,
        config: EnvConfig,
    ) {
        state.desc.config = Arc::new(config);
        state.desc.revision_id = uuid4();
        state.desc.last_modified = last_modified_now();
        state.desc.update_status = UpdateStatus::InProgress;
        state.generation += 1;
        state.update_seq += 1;
        // Retired environments die now; busy ones when they come back.
        state.idle.clear();
        let seq = state.update_seq;
        let delay = Duration::from_millis(self.inner.settings.update_delay_ms);
        let function = function.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut state = function.lock();
            if state.update_seq == seq {
                state.desc.update_status = UpdateStatus::Successful;
                state.desc.revision_id = uuid4();
            }
        });
    }

    fn acquire(&self, function: &Arc<Function>) -> Result<Lease, Throttled> {
        let mut state = function.lock();
        let (cap, reason) = match state.reserved {
            Some(n) => (n, "ReservedFunctionConcurrentInvocationLimitExceeded"),
            None => (
                self.inner.settings.default_concurrency_cap,
                "ConcurrentInvocationLimitExceeded",
            ),
        };
        if state.busy >= cap || self.inner.closing.load(Ordering::Acquire) {
            return Err(Throttled(reason));
        }
        state.busy += 1;
        let env = match state.idle.pop() {
            Some(env) => env,
            None => {
                let config = state.desc.config.clone();
                let instance_id = hex32();
                let stream = format!(
                    "{}/[$LATEST]{}",
                    chrono::Utc::now().format("%Y/%m/%d"),
                    instance_id
                );
                Environment {
                    sink: LogSink::new(self.inner.logs.clone(), config.log_group.clone(), stream),
                    instance_id,
                    generation: state.generation,
                    config,
                    sandbox: None,
                    initialized_once: false,
                    last_used: Instant::now(),
                }
            }
        };
        Ok(Lease {
            service: self.inner.clone(),
            function: function.clone(),
            env: Some(env),
            keep: false,
        })
    }

    /// A synchronous (RequestResponse) invoke. The invocation runs on its own
    /// task, so a client that goes away does not cut it short (AWS finishes
    /// it too).
    pub(crate) async fn invoke(
        &self,
        function: &Arc<Function>,
        req: InvokeRequest,
    ) -> Result<InvokeOutcome, Throttled> {
        let mut lease = self.acquire(function)?;
        let service = self.clone();
        let task = tokio::spawn(async move {
            let env = lease.env.as_mut().expect("a lease holds its environment");
            let (outcome, keep) = service.run(env, &req).await;
            lease.keep = keep;
            drop(lease);
            outcome
        });
        Ok(task.await.unwrap_or_else(|_| InvokeOutcome {
            payload: error_payload("ServiceException", "invocation aborted".into()),
            function_error: true,
            log_tail: None,
        }))
    }

    /// An Event invoke: queued like AWS's async queue, run when an
    /// environment is free.
    pub(crate) fn invoke_event(&self, function: Arc<Function>, req: InvokeRequest) {
        let service = self.clone();
        tokio::spawn(async move {
            let mut lease = loop {
                match service.acquire(&function) {
                    Ok(lease) => break lease,
                    Err(_) if service.inner.closing.load(Ordering::Acquire) => return,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            let env = lease.env.as_mut().expect("a lease holds its environment");
            let (_, keep) = service.run(env, &req).await;
            lease.keep = keep;
        });
    }

    fn log(&self, env: &Environment, text: impl FnOnce() -> String, json: impl FnOnce() -> String) {
        if env.config.is_json() {
            env.sink.system(json());
        } else {
            env.sink.system(text());
        }
    }

    fn log_init_start(&self, env: &Environment, phase: InitPhase) {
        let phase = phase.as_str();
        self.log(env, platform_log::init_start_text, || {
            platform_log::init_start_json(
                &env.config.spec.name,
                &env.instance_id,
                env.config.spec.memory_mb,
                phase,
            )
        });
    }

    fn log_init_report(&self, env: &Environment, failure: &InitFailure, phase: InitPhase) {
        let timed_out = matches!(failure.kind, InitFailureKind::Timeout);
        self.log(
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
    async fn init(&self, env: &mut Environment, limit: Duration) -> Result<f64, InitFailure> {
        let started = Instant::now();
        let cgroup = match &self.inner.cpu {
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
                    &self.inner.endpoint_url,
                    &self.inner.processes,
                    cgroup,
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

    /// Runs one invocation on `env`; returns the answer and whether the
    /// environment goes back to the pool.
    async fn run(&self, env: &mut Environment, req: &InvokeRequest) -> (InvokeOutcome, bool) {
        let timeout = Duration::from_secs(u64::from(env.config.spec.timeout_s));
        let mut init_duration = None;
        // Set when init runs inside this invoke: Duration and the timeout
        // then count from here ("suppressed init").
        let mut invoke_start = None;
        if env.sandbox.as_ref().is_some_and(Sandbox::has_exited) {
            // The runtime ended between invokes: AWS resets the sandbox and
            // this invoke re-runs init.
            if let Some(sandbox) = env.sandbox.take() {
                sandbox.kill().await;
            }
        }
        if env.sandbox.is_none() {
            if !env.initialized_once {
                env.initialized_once = true;
                self.log_init_start(env, InitPhase::Init);
                match self.init(env, INIT_TIMEOUT).await {
                    Ok(init_ms) => init_duration = Some(init_ms),
                    Err(failure) => {
                        self.log_init_report(env, &failure, InitPhase::Init);
                        self.log_init_start(env, InitPhase::Invoke);
                        let start = Instant::now();
                        invoke_start = Some(start);
                        if let Err(failure) = self.init(env, timeout).await {
                            return (self.fail_init(env, req, failure, timeout), false);
                        }
                    }
                }
            } else {
                let start = Instant::now();
                invoke_start = Some(start);
                if let Err(failure) = self.init(env, timeout).await {
                    return (self.fail_init(env, req, failure, timeout), false);
                }
            }
        }

        let config = env.config.clone();
        let request_id = &req.request_id;
        if req.tail {
            env.sink.begin_tail();
        }
        self.log(
            env,
            || platform_log::start_text(request_id),
            || platform_log::start_json(request_id, &config.arn),
        );
        let sandbox = env.sandbox.as_mut().expect("initialised above");
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
        let now = Instant::now();
        let start = invoke_start.or(delivered).unwrap_or(now);
        let since = |at: Instant| ms(at.saturating_duration_since(start));
        let memory_mb = config.spec.memory_mb;
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
        let timeout_text = format!("{:.2}", timeout.as_secs_f64());
        let (payload, status, duration_ms, function_error, keep_sandbox) = match ending {
            Ending::Response(body, at) => (body, ReportStatus::Success, since(at), false, true),
            Ending::FunctionError(body, error_type, at) => (
                body,
                ReportStatus::FunctionError(error_type),
                since(at),
                true,
                true,
            ),
            Ending::TooLarge(at) => (
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
                let message = format!(
                    "RequestId: {request_id} Error: Runtime exited with error: {description}"
                );
                if !config.is_json() {
                    sandbox.drain_output();
                    env.sink.system(format!("{message}\nRuntime.ExitError\n"));
                }
                (
                    error_payload("Runtime.ExitError", message),
                    ReportStatus::Error("Runtime.ExitError".into()),
                    since(now),
                    true,
                    false,
                )
            }
            Ending::OutOfMemory => {
                let message = format!(
                    "RequestId: {request_id} Error: Runtime exited with error: signal: killed"
                );
                if !config.is_json() {
                    sandbox.drain_output();
                    env.sink.system(format!("{message}\nRuntime.OutOfMemory\n"));
                }
                peak_kb = u64::from(memory_mb) * 1024;
                (
                    error_payload("Runtime.OutOfMemory", message),
                    ReportStatus::Error("Runtime.OutOfMemory".into()),
                    since(now),
                    true,
                    false,
                )
            }
            Ending::Timeout => {
                if !config.is_json() {
                    sandbox.drain_output();
                    env.sink.system(format!(
                        "{} {request_id} Task timed out after {timeout_text} seconds\n",
                        platform_log::rfc3339_ms_now()
                    ));
                }
                (
                    error_payload(
                        "Sandbox.Timedout",
                        format!("RequestId: {request_id} Error: Task timed out after {timeout_text} seconds"),
                    ),
                    ReportStatus::Timeout,
                    ms(timeout),
                    true,
                    false,
                )
            }
        };
        if keep_sandbox {
            sandbox.drain_output();
        } else if let Some(sandbox) = env.sandbox.take() {
            sandbox.kill().await;
        }
        let report = Report {
            request_id,
            duration_ms,
            init_duration_ms: init_duration,
            memory_size_mb: memory_mb,
            max_memory_used_mb: kb_to_mb(peak_kb).min(u64::from(memory_mb)),
            status,
        };
        if config.is_json() {
            env.sink.system(report.json());
        } else {
            env.sink.system(platform_log::end_text(request_id));
            env.sink.system(report.text());
        }
        let log_tail = req.tail.then(|| {
            let all = env.sink.take_tail();
            platform_log::tail(&all, TAIL_BYTES).to_string()
        });
        (
            InvokeOutcome {
                payload,
                function_error,
                log_tail,
            },
            true,
        )
    }

    /// The invoke-phase end of an init that failed twice: INIT_REPORT for
    /// the invoke phase, START/END/REPORT with the error, the error payload.
    fn fail_init(
        &self,
        env: &mut Environment,
        req: &InvokeRequest,
        failure: InitFailure,
        timeout: Duration,
    ) -> InvokeOutcome {
        self.log_init_report(env, &failure, InitPhase::Invoke);
        let request_id = &req.request_id;
        let config = env.config.clone();
        if req.tail {
            env.sink.begin_tail();
        }
        self.log(
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
                let message = format!("RequestId: {request_id} Error: Runtime exited with error: {description}");
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
                    format!("RequestId: {request_id} Error: Task timed out after {timeout_text} seconds"),
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
        if config.is_json() {
            env.sink.system(report.json());
        } else {
            env.sink.system(platform_log::end_text(request_id));
            env.sink.system(report.text());
        }
        let log_tail = req.tail.then(|| {
            let all = env.sink.take_tail();
            platform_log::tail(&all, TAIL_BYTES).to_string()
        });
        InvokeOutcome {
            payload,
            function_error: true,
            log_tail,
        }
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

/// Reclaims environments idle for longer than the configured time.
async fn reap_idle(inner: Weak<Inner>) {
    loop {
        let period = match inner.upgrade() {
            Some(inner) => (inner.settings.idle_timeout / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(5)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.closing.load(Ordering::Acquire) {
            return;
        }
        let limit = inner.settings.idle_timeout;
        for function in inner.functions.values() {
            let expired: Vec<Environment> = {
                let mut state = function.lock();
                let (old, fresh): (Vec<_>, Vec<_>) = std::mem::take(&mut state.idle)
                    .into_iter()
                    .partition(|env| env.last_used.elapsed() >= limit);
                state.idle = fresh;
                old
            };
            for env in expired {
                if let Some(sandbox) = env.sandbox {
                    sandbox.kill().await;
                }
            }
        }
    }
}

impl LambdaService {
    /// This emulator's cgroup directory when CPU scaling is on; for tests
    /// (it must be gone after shutdown).
    #[doc(hidden)]
    pub fn cpu_cgroup_dir(&self) -> Option<std::path::PathBuf> {
        match &self.inner.cpu {
            Ok(Some(cpu)) => Some(cpu.dir().to_path_buf()),
            _ => None,
        }
    }

    /// Environments currently alive for `name` (idle + busy); for tests.
    #[doc(hidden)]
    pub fn environment_count(&self, name: &str) -> usize {
        self.inner.functions.get(name).map_or(0, |f| {
            let state = f.lock();
            state.idle.len() + state.busy as usize
        })
    }
}
