//! Functions and their pools of execution environments: leasing an
//! environment for an invocation (or throttling), configuration updates,
//! reclaiming idle environments, shutdown. One invocation itself runs in
//! `invocation`; the control plane and Function URLs sit above this module.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::{code_digest, last_modified_now, Description, EnvConfig, UpdateStatus};
use super::cpu::CpuCgroups;
use super::environment::{hex32, FunctionCredentials, LogSink};
use super::faults::{FaultSettings, Faults};
use super::invocation::{self, Environment, Host, InvokeOutcome, InvokeRequest};
use super::{EventInvokeConfig, FunctionSpec};
use crate::awsjson::new_request_id;
use crate::logs::LogStore;
use crate::sqs::Queues;

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
    /// The CPUs execution environments may run on (`None`: any).
    pub function_cpus: Option<crate::affinity::CpuSet>,
}

impl Default for LambdaSettings {
    fn default() -> Self {
        Self {
            update_delay_ms: 100,
            idle_timeout: Duration::from_secs(600),
            default_concurrency_cap: 10,
            cpu_scaling: false,
            function_cpus: None,
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
    pub endpoint_url: String,
    pub host: Host,
    /// Where dead-letter queues and `OnFailure` destinations live.
    pub queues: Queues,
    /// Multiplies the asynchronous retry delays and event ages (1 = AWS's).
    pub async_time_scale: Mutex<f64>,
    pub closing: AtomicBool,
}

/// One function: its configuration and its environments.
pub(crate) struct Function {
    pub name: String,
    state: Mutex<FunctionState>,
    /// What happened to its asynchronous events.
    pub events: EventCounters,
}

pub(crate) struct FunctionState {
    pub desc: Description,
    pub reserved: Option<u32>,
    /// The Function URL configuration (what GetFunctionUrlConfig answers).
    pub url: Option<Value>,
    /// The `EventInvokeConfig` and when it was last written (epoch seconds).
    pub event_invoke: Option<(EventInvokeConfig, f64)>,
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

/// Counters of a function's asynchronous events.
#[derive(Default)]
pub(crate) struct EventCounters {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub attempts: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub succeeded: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub expired: AtomicU64,
}

/// What happened to a function's asynchronous (Event) invocations so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Events accepted with 202.
    pub accepted: u64,
    /// Events delivered a second time by the duplicate fault.
    pub duplicates: u64,
    /// Invocations run for events, retries and duplicates included.
    pub attempts: u64,
    /// Of those, the ones that failed.
    pub failed_attempts: u64,
    /// Deliveries (copies) that ended in a successful invocation.
    pub succeeded: u64,
    /// Deliveries sent to the dead-letter queue or `OnFailure` destination
    /// after their last failed attempt.
    pub dead_lettered: u64,
    /// Deliveries dropped (and dead-lettered) because they grew older than
    /// `MaximumEventAgeInSeconds`.
    pub expired: u64,
}

impl EventCounters {
    fn snapshot(&self) -> EventStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EventStats {
            accepted: get(&self.accepted),
            duplicates: get(&self.duplicates),
            attempts: get(&self.attempts),
            failed_attempts: get(&self.failed_attempts),
            succeeded: get(&self.succeeded),
            dead_lettered: get(&self.dead_lettered),
            expired: get(&self.expired),
        }
    }
}

/// Why an invoke was throttled (`TooManyRequestsException.Reason`).
pub(crate) struct Throttled(pub &'static str);

/// An environment checked out of its function's pool. Dropping it returns
/// the environment (or disposes of it when retired or broken).
pub(crate) struct Lease {
    service: Arc<Inner>,
    function: Arc<Function>,
    env: Option<Environment>,
    keep: bool,
}

impl Lease {
    /// Runs one invocation on the leased environment.
    pub async fn run(&mut self, req: &InvokeRequest) -> InvokeOutcome {
        let env = self.env.as_mut().expect("a lease holds its environment");
        let (outcome, keep) = invocation::run(&self.service.host, env, req).await;
        self.keep = keep;
        outcome
    }
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

impl LambdaService {
    /// A service for `functions`. Processes get `endpoint_url` as
    /// `AWS_ENDPOINT_URL` and `credentials` (those of `--credentials`, else
    /// `test`/`test`) as their AWS credentials; logs go to `logs`; dead-letter queues and
    /// `OnFailure` destinations the functions name are created in `queues`
    /// (as deploying their template would). `cpu` holds the cgroups when
    /// CPU scaling is on (`Emulator::start` creates them, or refuses to
    /// start).
    pub(crate) fn start(
        functions: Vec<FunctionSpec>,
        settings: LambdaSettings,
        logs: LogStore,
        endpoint_url: String,
        credentials: Option<&crate::Credentials>,
        cpu: Result<Option<Arc<CpuCgroups>>, String>,
        queues: Queues,
    ) -> LambdaService {
        let functions = functions
            .into_iter()
            .map(|spec| {
                for arn in spec.dead_letter_arn.iter().chain(
                    spec.event_invoke
                        .iter()
                        .filter_map(|c| c.on_failure.as_ref()),
                ) {
                    if let Some(queue) = Queues::name_of_arn(arn) {
                        queues.create(queue);
                    }
                }
                let (code_size, code_sha256) = code_digest(&spec);
                let name = spec.name.clone();
                let event_invoke = spec.event_invoke.clone().map(|c| (c, epoch_s()));
                let desc = Description {
                    config: Arc::new(EnvConfig::from_spec(spec)),
                    revision_id: new_request_id(),
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
                        url: None,
                        event_invoke,
                        generation: 0,
                        update_seq: 0,
                        idle: Vec::new(),
                        busy: 0,
                    }),
                    events: EventCounters::default(),
                };
                (name, Arc::new(function))
            })
            .collect();
        // Read before `settings` moves into the service.
        let function_cpus = settings.function_cpus;
        let inner = Arc::new(Inner {
            functions,
            settings,
            logs,
            host: Host::new(
                endpoint_url.clone(),
                FunctionCredentials::new(credentials),
                cpu,
                function_cpus,
                Faults::default(),
            ),
            endpoint_url,
            queues,
            async_time_scale: Mutex::new(1.0),
            closing: AtomicBool::new(false),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap_idle(Arc::downgrade(&inner)));
        }
        LambdaService { inner }
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
        let processes = &self.inner.host.processes;
        loop {
            let live: Vec<_> = processes
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
                processes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&pid);
            }
        }
        if let Ok(Some(cpu)) = &self.inner.host.cpu {
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
        state.desc.revision_id = new_request_id();
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
                state.desc.revision_id = new_request_id();
            }
        });
    }

    /// Checks an environment out of `function`'s pool (a new one when none
    /// is idle), or says why the invocation is throttled.
    pub(crate) fn acquire(&self, function: &Arc<Function>) -> Result<Lease, Throttled> {
        let mut state = function.lock();
        let (cap, reason) = match state.reserved {
            Some(n) => (n, "ReservedFunctionConcurrentInvocationLimitExceeded"),
            None => (
                self.inner.settings.default_concurrency_cap,
                "ConcurrentInvocationLimitExceeded",
            ),
        };
        if state.busy >= cap || self.is_closing() {
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

    pub(crate) fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
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
        let task = tokio::spawn(async move { lease.run(&req).await });
        Ok(task.await.unwrap_or_else(|_| InvokeOutcome::aborted()))
    }

    /// Replaces the fault settings (duplicate deliveries, environment
    /// kills) and reseeds their generator.
    ///
    /// # Errors
    /// A rate outside 0..=1, in one line.
    pub fn set_faults(&self, settings: FaultSettings) -> Result<(), String> {
        settings.validate()?;
        self.inner.host.faults.set(settings);
        Ok(())
    }

    /// Scales the asynchronous retry delays (AWS's 1 and 2 minutes) and
    /// event ages (`MaximumEventAgeInSeconds`) by `scale`, so a test of
    /// retries takes seconds: 0.01 makes the delays 0.6 s and 1.2 s.
    ///
    /// # Errors
    /// A scale that is not a positive number, in one line.
    pub fn set_async_time_scale(&self, scale: f64) -> Result<(), String> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(format!(
                "the asynchronous time scale must be a positive number, got {scale}"
            ));
        }
        *self
            .inner
            .async_time_scale
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = scale;
        Ok(())
    }

    /// Kills the execution environment of every invocation of `function`
    /// running now, as a timeout or an out-of-memory kill does: each ends
    /// with `Runtime.ExitError` (an Event invocation is then retried) and
    /// the environment is replaced. Returns how many were killed.
    pub fn kill_running(&self, function: &str) -> usize {
        self.inner.host.kill_running(function)
    }

    /// Execution environments killed so far, on request or by the fault
    /// setting.
    pub fn kills(&self) -> u64 {
        self.inner.host.kills()
    }

    /// What happened to `function`'s asynchronous events so far.
    pub fn event_stats(&self, function: &str) -> Option<EventStats> {
        self.function(function).map(|f| f.events.snapshot())
    }

    /// This emulator's cgroup directory when CPU scaling is on; for tests
    /// (it must be gone after shutdown).
    #[doc(hidden)]
    pub fn cpu_cgroup_dir(&self) -> Option<std::path::PathBuf> {
        match &self.inner.host.cpu {
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

/// Now in seconds since the epoch, with milliseconds.
pub(crate) fn epoch_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
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
