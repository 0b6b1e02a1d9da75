//! The Lambda service: control plane (restJson1), execution environments as
//! real child processes, and a Runtime API listener per environment.
//!
//! Bottom-up: each module uses only those listed before it.
//! - `config`: `FunctionConfiguration` and revisions.
//! - `memory`: peak RSS of the process tree from `/proc`.
//! - `cpu`: CPU proportional to memory through a cgroup per environment
//!   (opt-in, [`LambdaSettings::cpu_scaling`]).
//! - `platform_log`: INIT_START/START/END/REPORT lines, `platform.*`
//!   records, the billing rule.
//! - `runtime_api`: the per-environment Runtime API (2018-06-01).
//! - `environment`: a function process in its own process group, its
//!   output captured line by line into the log stream.
//! - `faults`: injected duplicate deliveries and environment kills
//!   ([`FaultSettings`]).
//! - `invocation`: one invocation on one environment, init to REPORT.
//! - `service`: functions, environment pools and leases, updates, shutdown.
//! - `async_invoke`: Event invocations: the queue, retries, event age,
//!   dead-letter queue and `OnFailure` destination.
//! - `control`: the control plane's routes, validation and AWS errors
//!   ([`LambdaService::handle`]).
//! - `url`: Function URLs ([`LambdaService::handle_url`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

mod async_invoke;
mod config;
mod control;
pub(crate) mod cpu;
mod environment;
mod faults;
mod invocation;
mod memory;
mod platform_log;
mod runtime_api;
mod service;
mod url;

pub use cpu::MB_PER_VCPU;
pub use faults::FaultSettings;
pub use platform_log::billed_duration_ms;
pub use service::{EventStats, LambdaService, LambdaSettings};

/// Log format of a function (`LoggingConfig.LogFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// AWS's default text lines (`START RequestId: ...`, `REPORT ...`).
    #[default]
    Text,
    /// `platform.*` JSON records.
    Json,
}

/// A function definition: everything needed to start and describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Function name, e.g. `vanta-vuln-sync`.
    pub name: String,
    /// Path of the executable that plays the role of `bootstrap`.
    pub executable: PathBuf,
    /// `MemorySize` in MB.
    pub memory_mb: u32,
    /// `Timeout` in seconds.
    pub timeout_s: u32,
    /// `Environment.Variables`.
    pub environment: BTreeMap<String, String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// `LoggingConfig.LogFormat`.
    pub log_format: LogFormat,
    /// `Description`.
    pub description: String,
    /// How asynchronous (Event) invocations are retried and where they go
    /// when they fail for good (`EventInvokeConfig`); `None` is Lambda's
    /// default (2 retries, 6 hours, no destination).
    pub event_invoke: Option<EventInvokeConfig>,
    /// `DeadLetterConfig.TargetArn`: the SQS queue an Event invocation goes
    /// to after its last failed attempt.
    pub dead_letter_arn: Option<String>,
}

/// A function's `EventInvokeConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeConfig {
    /// `MaximumRetryAttempts`, 0-2.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`, 60-21600.
    pub maximum_event_age_s: u32,
    /// `DestinationConfig.OnFailure.Destination` (an SQS queue ARN).
    pub on_failure: Option<String>,
}

impl Default for EventInvokeConfig {
    /// Lambda's behaviour without a configuration.
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 2,
            maximum_event_age_s: 21_600,
            on_failure: None,
        }
    }
}

impl FunctionSpec {
    /// A definition with AWS's defaults (128 MB, 3 s, x86_64, Text).
    pub fn new(name: impl Into<String>, executable: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            executable: executable.into(),
            memory_mb: 128,
            timeout_s: 3,
            environment: BTreeMap::new(),
            architecture: "x86_64".to_string(),
            log_format: LogFormat::Text,
            description: String::new(),
            event_invoke: None,
            dead_letter_arn: None,
        }
    }
}
