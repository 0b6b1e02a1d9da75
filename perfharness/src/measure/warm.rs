//! Timed invokes: one sample ([`invoke_sample`]), sequential and parallel
//! warm phases.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine;

use crate::aws::session::Session;
use crate::error::{from_sdk, HarnessError};
use crate::measure::recorder::Recorder;
use crate::options::LogSource;
use crate::platform::{self, MalformedLine, PlatformRecord, RecordKind};
use crate::sample::{Phase, ReportSource, Sample};

/// What every timed invoke needs.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Invoke payload.
    pub payload: Vec<u8>,
    /// Where REPORT lines are read from.
    pub log_source: LogSource,
    /// Bound for CloudWatch Logs polling.
    pub logs_timeout: Duration,
    /// The function's log group.
    pub log_group: String,
}

/// A sample plus the lines of its tail that could not be parsed.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The sample.
    pub sample: Sample,
    /// Unparsable platform lines in the tail.
    pub malformed: Vec<MalformedLine>,
}

/// Invoke errors that mean the run cannot go on (wrong function, no
/// permission, unreachable endpoint), as opposed to a throttle or a
/// service hiccup, which is a sample like any other.
fn fatal_invoke_error(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ResourceNotFoundException"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "InvalidParameterValueException"
                | "InvalidRequestContentException"
                | "RequestTooLargeException"
                | "KMSAccessDeniedException"
        )
    )
}

/// Finds this request's REPORT in a tail (the last REPORT whose request id
/// matches; an INIT_REPORT in the same tail is kept for its status).
pub fn report_from_tail(
    text: &str,
    request_id: Option<&str>,
) -> (Option<PlatformRecord>, Vec<MalformedLine>) {
    let parsed = platform::parse_text(text);
    let mut report = None;
    let mut init = None;
    for r in parsed.records {
        match r.kind {
            RecordKind::Report if request_id.is_none() || r.request_id.as_deref() == request_id => {
                report = Some(r)
            }
            RecordKind::InitReport => init = Some(r),
            _ => {}
        }
    }
    if let (Some(rep), Some(init)) = (&mut report, init) {
        // An init that failed inside the invoke: keep its error type.
        if rep.error_type.is_none() {
            rep.error_type = init.error_type;
        }
    }
    (report, parsed.malformed)
}

/// Sends one timed invoke (SDK retries off) and returns the sample, with
/// the REPORT from `LogType=Tail` unless the log source is `logs` only.
pub async fn invoke_sample(
    session: &Session,
    opts: &SampleOptions,
    phase: Phase,
    index: usize,
) -> Result<Invoked, HarnessError> {
    let tail = opts.log_source != LogSource::Logs;
    let started_at = chrono::Utc::now();
    let t0 = Instant::now();
    let res = session
        .lambda_timed
        .invoke()
        .function_name(&session.function)
        .payload(Blob::new(opts.payload.clone()))
        .log_type(if tail { LogType::Tail } else { LogType::None })
        .send()
        .await;
    let client_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut sample = Sample::new(phase, index, started_at, client_ms);
    let mut malformed = Vec::new();
    match res {
        Ok(out) => {
            sample.request_id = out.request_id().map(str::to_string);
            sample.function_error = out.function_error().map(str::to_string);
            if sample.function_error.is_some() {
                sample.status = "error".into();
                sample.error_type = error_type_of_payload(out.payload().map(|b| b.as_ref()));
            }
            if let Some(b64) = out.log_result() {
                let text = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let (rep, bad) = report_from_tail(&text, sample.request_id.as_deref());
                malformed = bad;
                if let Some(rep) = rep {
                    sample.apply_report(&rep, ReportSource::Tail);
                }
            }
        }
        Err(e) => {
            let request_id = e.request_id().map(str::to_string);
            let err = from_sdk("Invoke", e);
            let code = err.aws_code().map(str::to_string);
            // No service answer at all (connection refused, DNS, timeout)
            // or a mistake of the caller: the run cannot go on.
            if code.is_none() || fatal_invoke_error(code.as_deref()) {
                return Err(err);
            }
            sample.request_id = request_id;
            sample.status = if code.as_deref() == Some("TooManyRequestsException") {
                "throttled".into()
            } else {
                "invoke_error".into()
            };
            sample.error_type = code.or_else(|| Some(err.to_string()));
        }
    }
    Ok(Invoked { sample, malformed })
}

fn error_type_of_payload(payload: Option<&[u8]>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload?).ok()?;
    v.get("errorType")
        .and_then(|t| t.as_str())
        .map(str::to_string)
}

/// Invokes `count` times back to back, recording each sample.
pub async fn run_sequential(
    session: &Session,
    opts: &SampleOptions,
    phase: Phase,
    count: usize,
    rec: &Recorder,
    malformed: &std::sync::Mutex<Vec<MalformedLine>>,
) -> Result<(), HarnessError> {
    rec.phase(phase.as_str(), count);
    for i in 0..count {
        let inv = invoke_sample(session, opts, phase, i).await?;
        malformed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(inv.malformed);
        rec.push(inv.sample);
    }
    Ok(())
}

/// Invokes `count` times with `concurrency` workers, each invoking back to
/// back, recording each sample.
pub async fn run_concurrent(
    session: &Session,
    opts: &SampleOptions,
    phase: Phase,
    count: usize,
    concurrency: usize,
    rec: &Recorder,
    malformed: &std::sync::Mutex<Vec<MalformedLine>>,
) -> Result<(), HarnessError> {
    rec.phase(phase.as_str(), count);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..concurrency.max(1)).map(|_| {
        let next = next.clone();
        async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), HarnessError>(());
                }
                let inv = invoke_sample(session, opts, phase, i).await?;
                malformed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(inv.malformed);
                rec.push(inv.sample);
            }
        }
    });
    futures_util::future::try_join_all(workers).await?;
    Ok(())
}
