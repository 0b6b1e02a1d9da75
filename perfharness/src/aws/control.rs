//! The drivers: reading and waiting on the function's configuration,
//! forcing cold starts ([`cold`]), timed invokes ([`warm`]) and REPORT
//! retrieval from CloudWatch Logs ([`logs`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// The configuration as GetFunctionConfiguration returns it.
pub use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput as FunctionConfiguration;
use serde::{Deserialize, Serialize};

use crate::aws::session::Session;
use crate::error::{from_sdk, HarnessError};

/// How long a configuration update may take to settle before the harness
/// gives up (AWS usually needs 1–10 s; VPC functions longer).
pub const UPDATE_SETTLE_BOUND: Duration = Duration::from_secs(300);

/// How long control-plane calls are retried on ResourceConflictException
/// and throttles before the error is reported.
pub const CONTROL_RETRY_BOUND: Duration = Duration::from_secs(120);

/// What the harness knows about the function under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// FunctionName.
    pub name: String,
    /// FunctionArn.
    pub arn: String,
    /// MemorySize, MB.
    pub memory_mb: u64,
    /// Timeout, s.
    pub timeout_s: u64,
    /// First of Architectures (`x86_64` when absent).
    pub architecture: String,
    /// Runtime (`provided.al2023`, ...), if any.
    pub runtime: Option<String>,
    /// LoggingConfig.LogFormat (`Text` or `JSON`).
    pub log_format: String,
    /// LoggingConfig.LogGroup, or `/aws/lambda/NAME`.
    pub log_group: String,
    /// RevisionId when read.
    pub revision_id: Option<String>,
    /// Environment.Variables. Never written to reports: values can be secrets.
    #[serde(skip, default)]
    pub environment: BTreeMap<String, String>,
}

impl FunctionInfo {
    /// Extracts the fields from a configuration.
    pub fn from_config(c: &FunctionConfiguration) -> Self {
        let name = c.function_name().unwrap_or_default().to_string();
        let logging = c.logging_config();
        FunctionInfo {
            arn: c.function_arn().unwrap_or_default().to_string(),
            memory_mb: c.memory_size().unwrap_or(128).max(0) as u64,
            timeout_s: c.timeout().unwrap_or(3).max(0) as u64,
            architecture: c
                .architectures()
                .first()
                .map(|a| a.as_str().to_string())
                .unwrap_or_else(|| "x86_64".into()),
            runtime: c.runtime().map(|r| r.as_str().to_string()),
            log_format: logging
                .and_then(|l| l.log_format())
                .map(|f| f.as_str().to_string())
                .unwrap_or_else(|| "Text".into()),
            log_group: logging
                .and_then(|l| l.log_group())
                .map(str::to_string)
                .unwrap_or_else(|| format!("/aws/lambda/{name}")),
            revision_id: c.revision_id().map(str::to_string),
            environment: environment_of(c),
            name,
        }
    }
}

/// The configuration's environment variables (empty map when none).
pub fn environment_of(c: &FunctionConfiguration) -> BTreeMap<String, String> {
    c.environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Error codes worth retrying on the control plane.
fn retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ResourceConflictException"
                | "TooManyRequestsException"
                | "ThrottlingException"
                | "ServiceException"
                | "ServiceUnavailableException"
        )
    )
}

/// Runs a control-plane call, retrying ResourceConflictException (an
/// update in progress, which the SDK does not retry) and the throttles and
/// 5xx that outlast the control client's own adaptive SDK retries, with
/// exponential backoff and full jitter: each wait is drawn uniformly from
/// [0, cap], cap = 100 ms × 2^attempt up to 5 s, until
/// [`CONTROL_RETRY_BOUND`].
pub async fn retry_control<T, F, Fut>(session: &Session, mut call: F) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HarnessError>>,
{
    let start = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if retryable(e.aws_code()) && start.elapsed() < CONTROL_RETRY_BOUND => {
                session.counters.record_retry(e.aws_code());
                let cap = (100u64 << attempt.min(6)).min(5_000);
                let delay = fastrand::u64(0..=cap);
                tracing::info!(error = %e, delay_ms = delay, "retrying control-plane call");
                tokio::time::sleep(Duration::from_millis(delay)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Records the RevisionId the function should have now.
pub fn expect_revision(session: &Session, revision: Option<&str>) {
    *session
        .expected_revision
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = revision.map(str::to_string);
}

/// Marks an update of the harness's own as under way: until it has settled
/// (and [`wait_until_updated`] records its revision) the revision is not
/// known, so an interrupt in between is not taken for someone else's change.
pub fn begin_own_update(session: &Session) {
    expect_revision(session, None);
}

/// The RevisionId the function should have (`None` before a snapshot).
pub fn expected_revision(session: &Session) -> Option<String> {
    session
        .expected_revision
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// [`HarnessError::ConcurrentChange`] when `current` is not the revision
/// the harness left (someone else updated the function during the run).
pub fn check_unchanged(
    session: &Session,
    current: &FunctionConfiguration,
) -> Result<(), HarnessError> {
    match expected_revision(session) {
        Some(expected) if current.revision_id() != Some(expected.as_str()) => {
            Err(concurrent_change(session, current.revision_id()))
        }
        _ => Ok(()),
    }
}

/// The error of a configuration changed by someone else.
pub fn concurrent_change(session: &Session, now: Option<&str>) -> HarnessError {
    HarnessError::ConcurrentChange(format!(
        "the configuration of {} was changed by someone else during the run (RevisionId {} instead of {})",
        session.function,
        now.unwrap_or("unknown"),
        expected_revision(session).as_deref().unwrap_or("unknown"),
    ))
}

/// GetFunctionConfiguration with retries.
pub async fn get_configuration(session: &Session) -> Result<FunctionConfiguration, HarnessError> {
    retry_control(session, || async {
        session
            .lambda
            .get_function_configuration()
            .function_name(&session.function)
            .send()
            .await
            .map_err(|e| describe_error(session, e))
    })
    .await
}

fn describe_error<E, R>(session: &Session, e: aws_sdk_lambda::error::SdkError<E, R>) -> HarnessError
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let err = from_sdk("GetFunctionConfiguration", e);
    match err.aws_code() {
        Some("ResourceNotFoundException") => HarnessError::Usage(format!(
            "function {:?} not found in {}; check --function and --region",
            session.function, session.region
        )),
        Some("AccessDeniedException") | Some("UnrecognizedClientException") => {
            HarnessError::Usage(format!(
                "{err}; the credentials cannot read {:?} (see perfharness/iam-policy.json)",
                session.function
            ))
        }
        _ => err,
    }
}

/// Reads the function's configuration as a [`FunctionInfo`].
pub async fn describe(session: &Session) -> Result<FunctionInfo, HarnessError> {
    Ok(FunctionInfo::from_config(
        &get_configuration(session).await?,
    ))
}

/// Polls GetFunctionConfiguration until State=Active and
/// LastUpdateStatus=Successful and, when `previous_revision` is given, the
/// RevisionId differs from it. No fixed sleeps: the poll interval starts at
/// 50 ms and grows to 1 s.
pub async fn wait_until_updated(
    session: &Session,
    previous_revision: Option<&str>,
) -> Result<FunctionConfiguration, HarnessError> {
    let start = Instant::now();
    let mut interval = Duration::from_millis(50);
    loop {
        let c = get_configuration(session).await?;
        let state = c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let status = c
            .last_update_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if state == "Failed" || status == "Failed" {
            return Err(HarnessError::Infrastructure(format!(
                "function {} update failed: {}",
                session.function,
                c.last_update_status_reason()
                    .or(c.state_reason())
                    .unwrap_or("no reason given")
            )));
        }
        let changed = match previous_revision {
            Some(prev) => c.revision_id() != Some(prev),
            None => true,
        };
        if state == "Active" && status == "Successful" && changed {
            if previous_revision.is_some() {
                // The harness's own update has settled: this is the
                // revision it left.
                expect_revision(session, c.revision_id());
            }
            return Ok(c);
        }
        if start.elapsed() > UPDATE_SETTLE_BOUND {
            return Err(HarnessError::Timeout(format!(
                "function {} did not become Active/Successful within {} s (State={state}, LastUpdateStatus={status})",
                session.function,
                UPDATE_SETTLE_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 3 / 2).min(Duration::from_secs(1));
    }
}

/// Replaces the environment variables with `vars`, guarded by `revision`
/// (a concurrent change by someone else gives PreconditionFailedException
/// instead of being overwritten). Returns the RevisionId before the update.
pub async fn update_environment(
    session: &Session,
    vars: &BTreeMap<String, String>,
    revision: Option<&str>,
) -> Result<(), HarnessError> {
    let env = aws_sdk_lambda::types::Environment::builder()
        .set_variables(Some(
            vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
        .build();
    begin_own_update(session);
    retry_control(session, || async {
        session
            .lambda
            .update_function_configuration()
            .function_name(&session.function)
            .environment(env.clone())
            .set_revision_id(revision.map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("UpdateFunctionConfiguration", e))
    })
    .await
    .map_err(|e| precondition_to_concurrent(session, e))
}

/// PreconditionFailedException (a RevisionId that is no longer current)
/// as the concurrent change it means.
pub fn precondition_to_concurrent(session: &Session, e: HarnessError) -> HarnessError {
    if e.aws_code() == Some("PreconditionFailedException") {
        concurrent_change(session, None)
    } else {
        e
    }
}
